"""The demo store of the diagnostic-walk tests, built once per test session and copied.

Building the demo territory takes ~25 s; the walk tests of ``tests/layers`` and
``tests/webmap`` each get their own copy of one build.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from geo.walks.model import WalkOptions
from layers.demo import build_demo
from layers.settings import REPO_ROOT
from layers.store import open_store
from layers.walks import WalkPlan, WalkRequest, plan_walk

MOSSON = "QP034005"
#: A meeting point inside Mosson (WGS84 lon, lat), on Avenue du Puech de Massane's side.
MOSSON_START = (3.82, 43.6321)


def demo_store_copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """Return the path of a fresh copy of the demo store (built on first use in the session)."""
    base = tmp_path_factory.getbasetemp() / "walkdemo-template"
    template = base / "demo.gpkg"
    if not template.exists():
        base.mkdir(parents=True, exist_ok=True)
        partial = base / "demo-partial.gpkg"
        store = open_store(partial)
        try:
            build_demo(store, REPO_ROOT / "data" / "demo", report_dir=base / "rapports")
        finally:
            store.close()
        partial.replace(template)
    target = tmp_path_factory.mktemp(name) / "demo.gpkg"
    shutil.copyfile(template, target)
    return target


def plan_mosson_walk(path: Path, walk_date: str, *, cache_dir: Path, organisation: str | None = None,
                     actor: str | None = None, start: tuple[float, float] = MOSSON_START) -> WalkPlan:
    """Plan (and save) a 45-minute walk in Mosson from ``start`` (WGS84) in the store at ``path``."""
    store = open_store(path)
    try:
        request = WalkRequest(quartier=MOSSON, start=f"{start[0]},{start[1]}",
                              walk_date=walk_date, organisation=organisation,
                              options=WalkOptions(budget_min=45, time_limit_s=1.0))
        return plan_walk(store, request, cache_dir=cache_dir, actor=actor)[0]
    finally:
        store.close()
