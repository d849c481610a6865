"""Settings of the platform, in one place.

Values come from environment variables (``QPV_*``) with sensible defaults; the web
app adds its own instance file on top (see :mod:`webmap.app`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

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
    """

    store_url: str = field(default_factory=lambda: os.environ.get(
        "QPV_STORE", str(REPO_ROOT / "var" / "territoire.gpkg")))
    crs: str = field(default_factory=lambda: os.environ.get("QPV_CRS", "EPSG:2154"))
    territory_margin_m: float = field(default_factory=lambda: float(
        os.environ.get("QPV_TERRITORY_MARGIN_M", "20000")))
    reports_dir: Path = field(default_factory=lambda: Path(os.environ.get(
        "QPV_REPORTS_DIR", str(REPO_ROOT / "var" / "rapports"))))
    demo_dir: Path = REPO_ROOT / "data" / "demo"


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()
