"""The simulation on a territory it was not written for: no NPNRU quartier among the perimeters."""

from __future__ import annotations

from pathlib import Path

from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.simulate import simulate_territory
from layers.store import open_store

DEMO = REPO_ROOT / "data" / "demo"


def test_a_territory_without_renewed_quartiers_gets_no_works(tmp_path: Path) -> None:
    store = open_store(tmp_path / "paris.gpkg")
    try:
        for name, mapping in (("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
                              ("paris/adresses-75020.csv.gz", "ban")):
            import_file(store, DEMO / name, options=ImportOptions(mapping=mapping, report_dir=tmp_path / "r"))
        per = store.read("perimetres")
        summary = simulate_territory(store, per[per["code"] == "QP075019"], seed=3, n_observations=50,
                                     n_points_noirs=3, n_bacs=2)
        assert summary.travaux == 0 and store.count("travaux_npnru") == 0
        assert summary.observations == 50 and store.count("observations") == 50
        assert store.read("observations")["simulated"].all()
    finally:
        store.close()
