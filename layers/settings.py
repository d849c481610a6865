"""Settings of the platform, in one place.

Values come from environment variables (``QPV_*``) with sensible defaults; the web
app adds its own instance file on top (see :mod:`webmap.app`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Settings:
    """Platform settings.

    Attributes
    ----------
    store_url : str
        GeoPackage path or database URL of the store (``QPV_STORE``).
    crs : str
        Projected CRS of the territory (``QPV_CRS``, EPSG:2154 in mainland France).
    territory_margin_m : float
        Points farther than this from every stored perimeter are rejected at import
        (``QPV_TERRITORY_MARGIN_M``).
    reports_dir : Path
        Where import reject reports are written (``QPV_REPORTS_DIR``).
    max_import_mb : float
        Largest source file an import reads, in MB, once decompressed (``QPV_MAX_IMPORT_MB``,
        500 by default): bigger files, and archives that would unpack to more, are refused.
    """

    store_url: str = field(default_factory=lambda: os.environ.get(
        "QPV_STORE", str(REPO_ROOT / "var" / "territoire.gpkg")))
    crs: str = field(default_factory=lambda: os.environ.get("QPV_CRS", "EPSG:2154"))
    territory_margin_m: float = field(default_factory=lambda: float(
        os.environ.get("QPV_TERRITORY_MARGIN_M", "20000")))
    reports_dir: Path = field(default_factory=lambda: Path(os.environ.get(
        "QPV_REPORTS_DIR", str(REPO_ROOT / "var" / "rapports"))))
    max_import_mb: float = field(default_factory=lambda: _positive_float(
        "QPV_MAX_IMPORT_MB", "500"))
    demo_dir: Path = REPO_ROOT / "data" / "demo"


def _positive_float(name: str, default: str) -> float:
    """A positive number from the environment variable ``name``; the default when it is not one."""
    raw = os.environ.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        logger.warning("%s=%r n'est pas un nombre positif : %s retenu", name, raw, default)
        value = float(default)
    return value


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
