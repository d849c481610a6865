"""Hot spot analyses stored as a derived layer, on the real Paris reports and simulated
Montpellier dumping events; checked against esda and plain geopandas joins."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest

from geo.geometry import repair_polygons
from layers.analyses import HotspotRequest, analysis_events, parse_period, run_key, store_hotspots
from layers.errors import StoreAnalysisError
from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.simulate import simulate_territory
from layers.store import LayerStore, open_store

DEMO = REPO_ROOT / "data" / "demo"
PERIOD = (date(2023, 9, 1), date(2024, 8, 31))
THEME = "dépôts sauvages"


@pytest.fixture(scope="module")
def base_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real Paris perimeters and Dans Ma Rue reports, Montpellier perimeters and a small
    simulation (flagged simulated), built once."""
    folder = tmp_path_factory.mktemp("analyses")
    path = folder / "base.gpkg"
    store = open_store(path)
    try:
        for name, mapping in (("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
                              ("montpellier/qp-montpellier-2015.geojson", "qpv-occitanie"),
                              ("paris/dansmarue-2023-2024-echantillon.csv.gz", "dansmarue"),
                              ("montpellier/VilleMTP_MTP_PointAdresse.zip", "montpellier-adresses")):
            import_file(store, DEMO / name,
                        options=ImportOptions(mapping=mapping, actor="tests", report_dir=folder / "rejets"))
        per = store.read("perimetres")
        simulate_territory(store, per[per["code"].isin(["QP034005", "QP034008"])], seed=11,
                           start="2023-09-01", months=12, n_observations=200, n_points_noirs=6, n_bacs=2)
    finally:
        store.close()
    return path


@pytest.fixture
def store(base_path: Path, tmp_path: Path) -> Iterator[LayerStore]:
    path = tmp_path / "copie.gpkg"
    shutil.copy(base_path, path)
    s = open_store(path, create=False)
    yield s
    s.close()


def test_parse_period() -> None:
    assert parse_period("2023-09:2024-08") == PERIOD
    assert parse_period("2024-02:2024-02") == (date(2024, 2, 1), date(2024, 2, 29))
    assert parse_period("2024-01-15:2024-03-10") == (date(2024, 1, 15), date(2024, 3, 10))
    for bad in ("2023-09", "2024-13:2024-14", "2024-08:2023-09", "hier:demain"):
        with pytest.raises(StoreAnalysisError, match="Période"):
            parse_period(bad)


def test_stored_gi_star_matches_esda(store: LayerStore) -> None:
    run = store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME, quartier="QP075019"))
    stored = store.read("analyses", where={"run_id": run.run_id})
    gi = stored[stored["analysis"] == "points chauds"].reset_index(drop=True)
    assert len(gi) == run.n_bins > 10
    assert set(gi.geom_type) <= {"Polygon", "MultiPolygon"}
    assert set(gi["quartier"]) == {"QP075019"}
    assert set(gi["category"]) <= {"point chaud", "point froid", "non significatif"}
    assert (gi["period_start"].dt.date == PERIOD[0]).all() and (gi["period_end"].dt.date == PERIOD[1]).all()
    params = gi["params"].iat[0]
    params = json.loads(params) if isinstance(params, str) else params
    assert params["theme"] == THEME and params["fdr"] is True
    # Gi* z-scores of the stored bins, recomputed by esda on the stored counts (hexagon queen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.Queen.from_dataframe(gi, use_index=False)
        zs = esda.G_Local(gi["value"].to_numpy(float), w, transform="B", star=True, permutations=0).Zs
    np.testing.assert_allclose(gi["z_score"].to_numpy(), zs, atol=1e-6)
    # period of 12 months: the emerging analysis is stored too, one record per bin with events
    ehsa = stored[stored["analysis"] == "points chauds émergents"]
    assert len(ehsa) == run.n_emerging > 0
    assert (ehsa["value"] > 0).all()
    assert sum(run.patterns.values()) == len(ehsa)


def test_rerun_replaces_previous_results(store: LayerStore) -> None:
    first = store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME, quartier="QP075019"))
    n_first = store.count("analyses")
    again = store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME, quartier="QP075019"))
    assert again.run_id == first.run_id == run_key("observations", THEME, "QP075019", *PERIOD)
    assert again.replaced == n_first
    assert store.count("analyses") == n_first
    # a three-month run is another run, without emerging analysis
    short = store_hotspots(store, HotspotRequest(date(2024, 1, 1), date(2024, 3, 31), theme=THEME,
                                                 quartier="QP075019"))
    assert short.run_id != first.run_id and short.n_emerging == 0 and short.replaced == 0
    assert store.count("analyses") == n_first + short.n_bins


def test_counts_per_quartier_equal_a_plain_sjoin(store: LayerStore, base_path: Path) -> None:
    run = store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME))
    per, _ = repair_polygons(store.read("perimetres"))
    obs = store.read("observations", where={"theme": THEME})
    when = pd.to_datetime(obs["observed_at"])
    obs = obs[(when >= pd.Timestamp(PERIOD[0])) & (when < pd.Timestamp(PERIOD[1]) + pd.Timedelta(days=1))]
    joined = gpd.sjoin(obs, per[["code", "geometry"]], predicate="within")
    expected = joined["code"].value_counts()
    assert expected.sum() > 0
    got = {str(k): int(v) for k, v in run.counts.items()}
    assert got == {str(k): int(v) for k, v in expected.items()}
    stored = store.read("analyses", where={"run_id": run.run_id})
    # one grid per quartier with enough events
    assert set(stored["quartier"]) <= set(per["code"])
    assert "QP075019" in set(stored["quartier"])


def test_points_noirs_events_are_analysed_and_flagged_simulated(store: LayerStore) -> None:
    events = analysis_events(store, "points_noirs", start=PERIOD[0], end=PERIOD[1])
    n_children = len(store.read_children("points_noirs", "evenements", start="2023-09-01", end="2024-09-01"))
    assert len(events) == n_children > 0
    assert events.geometry.notna().all()
    run = store_hotspots(store, HotspotRequest(*PERIOD, layer="points_noirs", quartier="QP034005"))
    stored = store.read("analyses", where={"run_id": run.run_id})
    assert len(stored) and stored["simulated"].all()
    assert set(stored["source_layer"]) == {"points_noirs"}


def test_bad_requests_are_reported_in_french(store: LayerStore) -> None:
    with pytest.raises(StoreAnalysisError, match="Thème inconnu"):
        store_hotspots(store, HotspotRequest(*PERIOD, theme="graffitis"))
    with pytest.raises(StoreAnalysisError, match="absent de l'entrepôt"):
        store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME, quartier="QP999999"))
    with pytest.raises(StoreAnalysisError, match="non analysable"):
        analysis_events(store, "bacs", start=PERIOD[0], end=PERIOD[1])
    with pytest.raises(StoreAnalysisError, match="Pas assez"):
        store_hotspots(store, HotspotRequest(*PERIOD, theme="aires de jeux",
                                             quartier="QP094025"))


def _zone_share(store: LayerStore, code: str, margin: float = 200.0) -> tuple[int, float]:
    """Events of THEME in PERIOD within ``margin`` of perimeter ``code``, and the share simulated
    (plain geopandas, independent of layers.analyses)."""
    per, _ = repair_polygons(store.read("perimetres", where={"code": code}))
    zone = per.geometry.iat[0].buffer(margin)
    obs = store.read("observations", where={"theme": THEME})
    when = pd.to_datetime(obs["observed_at"])
    obs = obs[(when >= pd.Timestamp(PERIOD[0])) & (when < pd.Timestamp(PERIOD[1]) + pd.Timedelta(days=1))]
    inside = obs[obs.within(zone)]
    return len(inside), float(inside["simulated"].fillna(False).astype(bool).mean()) if len(inside) else 0.0


def test_simulated_flag_is_decided_per_quartier_from_its_events(store: LayerStore) -> None:
    # one run over the whole territory: real Dans Ma Rue reports in Paris, simulated ones in Montpellier
    run = store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME))
    stored = store.read("analyses", where={"run_id": run.run_id})
    flags = stored.groupby("quartier")["simulated"].agg(["min", "max"])
    assert (flags["min"] == flags["max"]).all()  # one flag per quartier
    paris = [c for c in flags.index if str(c).startswith("QP075")]
    montpellier = [c for c in flags.index if str(c).startswith("QP034")]
    assert paris and montpellier, flags
    for code in paris + montpellier:
        n, share = _zone_share(store, code)
        assert n >= 3
        params = stored.loc[stored["quartier"] == code, "params"].iat[0]
        params = json.loads(params) if isinstance(params, str) else params
        assert params["part_simulee"] == pytest.approx(share, abs=1e-4)
        assert bool(flags.loc[code, "max"]) is (share > 0)
    # the real Paris data are not labelled simulated, the invented Montpellier data are
    assert not stored[stored["quartier"].isin(paris)]["simulated"].any()
    assert stored[stored["quartier"].isin(montpellier)]["simulated"].all()


def test_mixed_inputs_are_flagged_partly_simulated(store: LayerStore) -> None:
    # messy on purpose: 15 real reports of QP075019 copied, moved 15 m and flagged simulated
    per, _ = repair_polygons(store.read("perimetres", where={"code": "QP075019"}))
    obs = store.read("observations", where={"theme": THEME}, start="2023-09-01", end="2024-09-01")
    real = obs[obs.within(per.geometry.iat[0])].head(15)
    assert len(real) == 15
    fake = real.copy()
    fake["uid"] = [f"faux-{u}" for u in real["uid"]]
    fake["source_id"] = fake["uid"]
    fake["simulated"] = True
    fake["geometry"] = real.geometry.translate(xoff=15, yoff=-15)
    store.write("observations", fake.drop(columns=["created_at", "updated_at"], errors="ignore"),
                actor="tests")
    n, share = _zone_share(store, "QP075019")
    assert 0 < share < 1, (n, share)
    run = store_hotspots(store, HotspotRequest(*PERIOD, theme=THEME, quartier="QP075019"))
    stored = store.read("analyses", where={"run_id": run.run_id})
    assert stored["simulated"].all()
    params = stored["params"].iat[0]
    params = json.loads(params) if isinstance(params, str) else params
    assert params["part_simulee"] == pytest.approx(share, abs=1e-4)
    assert 0 < params["part_simulee"] < 1
