"""Settings of the platform, in one place.

Values come from environment variables (``QPV_*``) with sensible defaults; the web
app adds its own instance file on top (see :mod:`webmap.app`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from layers.schema import ACTION_ORIGINS

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
    cache_dir : Path
        Disk cache of street graphs (``QPV_CACHE_DIR``, ``var/cache`` by default).
    pg_pool_size : int
        Largest number of connections of a process's pool per PostGIS database
        (``QPV_PG_POOL_SIZE``, 20 by default).
    pg_options : str
        Session options of PostGIS connections (``QPV_PG_OPTIONS``; by default no JIT and no
        parallel workers, which cost more to start than the short queries of the map take).
    instance_path : Path or None
        Instance folder of the web app (``QPV_INSTANCE_PATH``; Flask's default when unset).
    demo_dir : Path
        Folder of the demo territory's recipe.
    host : str
        Address ``qpv servir`` listens on (``QPV_HOST``, 127.0.0.1 by default).
    port : int
        Port of ``qpv servir`` (``QPV_PORT``, 5000 by default; ``make demo PORT=…`` sets it).
    files_dir : Path or None
        Files area of the store, where the reports are filed (``QPV_FILES_DIR``; unset: see
        :func:`store_files_dir`).
    planner_job_candidates : int
        The web planner computes a walk as a background job when the quartier has more candidate
        stops than this (``QPV_PLANNER_JOB_CANDIDATES``, 150 by default: Mosson's 196 take
        1 s on an idle machine, up to the 4 s search limit on a busy one, holding a web worker).
    planner_job_streets : int
        ... or more street segments than this around the quartier (``QPV_PLANNER_JOB_VOIES``,
        2000 by default).
    action_origins : tuple of str
        Allowed origines (causes) of an action of the plan (``QPV_ACTION_ORIGINES``, values
        separated by « ; »; :data:`layers.schema.ACTION_ORIGINS` by default).
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
    cache_dir: Path = field(default_factory=lambda: Path(os.environ.get("QPV_CACHE_DIR")
                                                         or REPO_ROOT / "var" / "cache"))
    pg_pool_size: int = field(default_factory=lambda: max(int(_positive_float("QPV_PG_POOL_SIZE", "20")), 2))
    pg_options: str = field(default_factory=lambda: os.environ.get(
        "QPV_PG_OPTIONS", "-c jit=off -c max_parallel_workers_per_gather=0"))
    instance_path: Path | None = field(default_factory=lambda: Path(os.environ["QPV_INSTANCE_PATH"])
                                       if os.environ.get("QPV_INSTANCE_PATH") else None)
    demo_dir: Path = REPO_ROOT / "data" / "demo"
    host: str = field(default_factory=lambda: os.environ.get("QPV_HOST") or "127.0.0.1")
    port: int = field(default_factory=lambda: _port("QPV_PORT", 5000))
    files_dir: Path | None = field(default_factory=lambda: Path(os.environ["QPV_FILES_DIR"])
                                   if os.environ.get("QPV_FILES_DIR") else None)
    planner_job_candidates: int = field(default_factory=lambda: int(_positive_float(
        "QPV_PLANNER_JOB_CANDIDATES", "150")))
    planner_job_streets: int = field(default_factory=lambda: int(_positive_float(
        "QPV_PLANNER_JOB_VOIES", "2000")))
    action_origins: tuple[str, ...] = field(default_factory=lambda: _action_origins())


def _positive_float(name: str, default: str) -> float:
    """Return a positive number from the environment variable ``name``; the default when it is not one."""
    raw = os.environ.get(name, default)
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        logger.warning("%s=%r is not a positive number: using %s", name, raw, default)
        value = float(default)
    return value


def _action_origins() -> tuple[str, ...]:
    """Return the origines of ``QPV_ACTION_ORIGINES`` (« ; »-separated), the default list when unset."""
    raw = os.environ.get("QPV_ACTION_ORIGINES", "")
    values = tuple(dict.fromkeys(v.strip() for v in raw.split(";") if v.strip()))
    return values or ACTION_ORIGINS


def _port(name: str, default: int) -> int:
    """Return a TCP port (1–65535) from the environment variable ``name``; the default when it is not one."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and 0 < int(raw) < 65536:
        return int(raw)
    logger.warning("%s=%r is not a TCP port (1-65535): using %s", name, raw, default)
    return default


def store_files_dir(store_url: str | Path, *, configured: str | Path | None = None,
                    instance: str | Path | None = None) -> Path:
    """Return the files area of a store: where the reports are filed with their parameters.

    ``configured`` (the web app's ``FILES_DIR``) or ``QPV_FILES_DIR`` wins; otherwise a
    GeoPackage store ``chemin/territoire.gpkg`` keeps its files beside it in
    ``chemin/territoire.fichiers/``, and a PostGIS store in ``<instance>/fichiers`` (``var/fichiers``
    without an instance folder).
    """
    chosen = configured or get_settings().files_dir
    if chosen:
        return Path(chosen)
    text = str(store_url)
    if text.startswith(("postgresql://", "postgres://")):
        return Path(instance) / "fichiers" if instance else REPO_ROOT / "var" / "fichiers"
    path = Path(text.removeprefix("gpkg://"))
    return path.with_name(path.stem + ".fichiers")


def get_settings() -> Settings:
    """Read the settings from the environment now."""
    return Settings()


def basemap_file(instance: str | Path | None = None) -> Path:
    """Return where ``qpv fond construire`` writes the territory's basemap by default.

    ``QPV_FOND_FICHIER`` wins; otherwise ``<instance>/fond/territoire.pmtiles``, the instance
    folder being ``instance`` (the web app's), ``QPV_INSTANCE_PATH`` or Flask's default
    ``instance/`` beside the ``webmap`` package.
    """
    configured = os.environ.get("QPV_FOND_FICHIER", "").strip()
    if configured:
        return Path(configured)
    folder = Path(instance) if instance else get_settings().instance_path or REPO_ROOT / "instance"
    return folder / "fond" / "territoire.pmtiles"


#: Store meta keys where ``qpv fond construire`` records the basemap it built (path, store revision).
BASEMAP_META_PATH = "fond_de_plan"
BASEMAP_META_REVISION = "fond_de_plan_revision"
