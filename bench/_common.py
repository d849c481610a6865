"""Set-up shared by the benchmark scripts (private): the demo store they measure on.

Run the scripts from the repository root with ``PYTHONPATH=.`` (see each script's docstring).
"""

from __future__ import annotations

import time
from pathlib import Path

from layers.demo import build_demo
from layers.settings import REPO_ROOT
from layers.store import open_store


def build_demo_store(folder: Path, *, name: str = "demo.gpkg") -> tuple[Path, float]:
    """Build the demo store (``data/demo``) as ``folder/name``; return its path and the seconds it took."""
    path = folder / name
    t0 = time.perf_counter()
    store = open_store(path)
    try:
        build_demo(store, REPO_ROOT / "data" / "demo", report_dir=folder / "rapports")
    finally:
        store.close()
    return path, time.perf_counter() - t0
