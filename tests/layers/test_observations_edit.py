"""Editing constats after their creation, merging duplicates, the nearest address (both backends).

The constats are real Dans Ma Rue reports of Paris 20e, the addresses real BAN points.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from layers.errors import NotFoundError, RecordError
from layers.importer import ImportOptions, import_file
from layers.integrity import territory
from layers.observations_edit import (
    ADDRESS_RADIUS_M,
    merge_duplicate,
    merge_plan,
    nearest_address,
    observation_changes,
    pilote_choices,
    status_changes,
)
from layers.schema import THEMES
from layers.store import LayerStore
from layers.subthemes import SUBTHEMES, subthemes_of


@pytest.fixture
def dmr(paris_store: LayerStore, shared_data: Path) -> LayerStore:
    """The Paris store with the real Dans Ma Rue sample (10,000 reports)."""
    import_file(paris_store, shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv",
                options=ImportOptions(mapping="dansmarue"))
    return paris_store


def _twentieth(store: LayerStore, n: int) -> list[dict[str, object]]:
    """Return ``n`` real reports of the 20e inside the territory (QPV + 500 m), « transmis »."""
    area = territory(store, 400)
    gdf = store.read("observations", where={"status": "transmis"}, bbox=area.bounds)
    gdf = gdf[gdf.within(area) & gdf["address"].fillna("").str.contains("75020")]
    assert len(gdf) >= n
    return [dict(r) for _, r in gdf.drop(columns="geometry").head(n).iterrows()]


def _changes(hist: pd.DataFrame) -> list[dict[str, list[object]] | None]:
    return [json.loads(c) if isinstance(c, str) else None for c in hist["changes"]]


def test_every_change_is_in_the_history_with_before_and_after(dmr: LayerStore) -> None:
    rec = _twentieth(dmr, 1)[0]
    uid = str(rec["uid"])
    data = {"pilote": "bailleur", "description": "Tags sur le hall, côté cour", "deadline": "2030-01-31",
            "partenaires": ["ville", "police", "ville"], "domanialite": "bailleur"}
    changes = observation_changes(dmr, rec, data)
    assert changes["partenaires"] == "ville, police"
    dmr.update("observations", uid, changes, actor="tech.ville", comment="reprise du constat")
    dmr.update("observations", uid, {"status": "en cours"}, actor="tech.ville")
    dmr.update("observations", uid, {"pilote": "bailleur"}, actor="tech.ville")  # no change: no entry
    hist = dmr.history("observations", uid)
    assert len(hist) == 3
    assert hist["status"].tolist() == ["transmis", "transmis", "en cours"]
    edit, status = _changes(hist)[1:]
    assert edit is not None and status is not None
    assert edit["pilote"] == [rec["pilote"], "bailleur"]
    assert edit["deadline"] == [None, "2030-01-31"]
    assert edit["domanialite"] == [rec["domanialite"], "bailleur"]
    assert "status" not in edit and status == {"status": ["transmis", "en cours"]}
    assert hist["comment"].tolist()[1] == "reprise du constat"
    # the readers of status changes see the creation and the one real change only
    assert status_changes(hist)["status"].tolist() == ["transmis", "en cours"]
    stored = dmr.get("observations", uid).iloc[0]
    assert stored["pilote"] == "bailleur" and str(stored["deadline"])[:10] == "2030-01-31"


def test_a_move_is_kept_as_coordinates_in_metres(dmr: LayerStore) -> None:
    rec = _twentieth(dmr, 1)[0]
    before = dmr.get("observations", str(rec["uid"])).geometry.iloc[0]
    lon, lat = gpd.GeoSeries([before], crs=dmr.crs).to_crs("EPSG:4326").iloc[0].coords[0]
    changes = observation_changes(dmr, rec, {"lon": lon + 0.0002, "lat": lat})
    dmr.update("observations", str(rec["uid"]), changes, actor="tech")
    diff = _changes(dmr.history("observations", str(rec["uid"])))[-1]
    assert diff is not None
    (x0, y0), (x1, y1) = diff["geometry"]  # type: ignore[misc]
    assert 10 < ((x1 - x0) ** 2 + (y1 - y0) ** 2) ** 0.5 < 20  # 0.0002° of longitude at 48.86° N


HOSTILE: list[tuple[dict[str, object], str]] = [
    ({"couleur": "rouge"}, "couleur"),
    ({"uid": "autre"}, "uid"),
    ({"organisation": "ville"}, "organisation"),
    ({"theme": "licorne"}, "theme"),
    ({"theme": None}, "theme"),
    ({"status": 3}, "status"),
    ({"pilote": ["ville"]}, "pilote"),
    ({"pilote": "Société inventée"}, "pilote"),
    ({"partenaires": [1, 2]}, "partenaires"),
    ({"description": "x" * 5001}, "description"),
    ({"address": {"rue": "x"}}, "address"),
    ({"deadline": "2001-01-01"}, "deadline"),
    ({"deadline": "demain"}, "deadline"),
    ({"deadline": 20300101}, "deadline"),
    ({"lon": 2.39}, "lat"),
    ({"lon": "nan", "lat": 48.86}, "lon"),
    ({"lon": 5.0, "lat": 45.0}, "lon"),
    ({"lon": True, "lat": 48.86}, "lon"),
    ({"comment": ["a"], "status": "en cours"}, "comment"),
    ({}, "corps"),
]


def test_hostile_edits_name_the_field(dmr: LayerStore) -> None:
    rec = _twentieth(dmr, 1)[0]
    for data, field in HOSTILE:
        with pytest.raises(RecordError) as err:
            observation_changes(dmr, rec, data)
        assert err.value.field == field, data
    assert dmr.history("observations", str(rec["uid"])).shape[0] == 1  # nothing written


def test_merging_a_duplicate(dmr: LayerStore) -> None:
    kept, dup, third = _twentieth(dmr, 3)
    dmr.update("observations", str(dup["uid"]), {"photos": json.dumps(["a.jpg", "b.jpg"])})
    dmr.update("observations", str(kept["uid"]), {"photos": json.dumps(["b.jpg"])})
    plan = merge_plan(dmr, str(dup["uid"]), str(kept["uid"]))
    result = merge_duplicate(dmr, *plan, actor="tech.ville")
    assert (result.kept, result.photos_added) == (kept["uid"], 1)
    closed = dmr.get("observations", str(dup["uid"])).iloc[0]
    assert closed["status"] == "clos non traité" and closed["duplicate_of"] == kept["uid"]
    assert pd.notna(closed["resolved_at"])
    assert json.loads(dmr.get("observations", str(kept["uid"])).iloc[0]["photos"]) == ["b.jpg", "a.jpg"]
    dup_hist, kept_hist = dmr.history("observations", str(dup["uid"])), dmr.history("observations",
                                                                                       str(kept["uid"]))
    assert dup_hist["comment"].iloc[-1].startswith("doublon de « ")
    assert str(kept["uid"]) not in dup_hist["comment"].iloc[-1]  # in words, not a uid
    assert _changes(dup_hist)[-1]["duplicate_of"] == [None, kept["uid"]]  # type: ignore[index]
    assert kept_hist["comment"].iloc[-1].startswith("doublon fusionné : « ")
    # merging into the closed duplicate goes to the constat it stands for
    plan = merge_plan(dmr, str(third["uid"]), str(dup["uid"]))
    assert plan[1]["uid"] == kept["uid"]
    merge_duplicate(dmr, *plan)
    assert dmr.get("observations", str(third["uid"])).iloc[0]["duplicate_of"] == kept["uid"]
    # with nothing to receive, the kept constat's history still names the merged one
    assert kept_hist["comment"].iloc[-1] != dmr.history("observations", str(kept["uid"]))["comment"].iloc[-1]
    # refused: itself, an already merged duplicate, a loop back, unknown, not a text
    for uid, into, field in [(kept["uid"], kept["uid"], "de"), (dup["uid"], third["uid"], "de"),
                             (kept["uid"], dup["uid"], "de"), (kept["uid"], 12, "de")]:
        with pytest.raises(RecordError) as err:
            merge_plan(dmr, str(uid), into)
        assert err.value.field == field
    with pytest.raises(NotFoundError):
        merge_plan(dmr, str(kept["uid"]), "inconnu-1234")


def test_history_of_a_merge_is_atomic(dmr: LayerStore) -> None:
    kept, dup = _twentieth(dmr, 2)
    plan = merge_plan(dmr, str(dup["uid"]), str(kept["uid"]))
    dmr.delete("observations", [str(kept["uid"])])  # gone between the check and the write
    with pytest.raises(NotFoundError):
        merge_duplicate(dmr, *plan)
    assert pd.isna(dmr.get("observations", str(dup["uid"])).iloc[0]["duplicate_of"])
    assert dmr.get("observations", str(dup["uid"])).iloc[0]["status"] == "transmis"


def test_nearest_address_within_50_m_only(store: LayerStore, shared_data: Path) -> None:
    ban = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", dtype=str,
                      usecols=["id", "numero", "rep", "nom_voie", "code_postal", "nom_commune", "x", "y"])
    ban = ban[ban["code_postal"] == "75020"].head(3000)
    gdf = gpd.GeoDataFrame({
        "source_id": ban["id"], "number": ban["numero"].astype(int), "suffix": ban["rep"],
        "street": ban["nom_voie"], "postcode": ban["code_postal"], "commune": ban["nom_commune"],
    }, geometry=gpd.points_from_xy(ban["x"].astype(float), ban["y"].astype(float)), crs="EPSG:2154")
    store.write("adresses", gdf)
    one = gdf.iloc[100]
    lon, lat = gpd.GeoSeries([one.geometry], crs="EPSG:2154").to_crs("EPSG:4326").iloc[0].coords[0]
    got = nearest_address(store, lon, lat)
    assert got is not None and got.distance_m < 0.5
    assert got.address.startswith(f"{one['number']}") and one["street"] in got.address
    # 80 m east of the last address point of the east edge: none within 50 m
    east = gdf.loc[gdf.geometry.x.idxmax()].geometry
    far = gpd.GeoSeries([east], crs="EPSG:2154").translate(80, 0)
    lon, lat = far.to_crs("EPSG:4326").iloc[0].coords[0]
    assert nearest_address(store, lon, lat) is None
    assert nearest_address(store, lon, lat, radius_m=500) is not None
    assert ADDRESS_RADIUS_M == 50


def test_pilote_choices_list_organisations_and_stored_pilotes(dmr: LayerStore) -> None:
    choices = pilote_choices(dmr, organisations=["ville", "Bailleur Paris Habitat"])
    assert choices[:3] == ["ville", "EPCI", "bailleur"]
    assert "Bailleur Paris Habitat" in choices and "DPE-STPP-DT" in choices
    assert len(choices) == len(set(choices))


def test_every_theme_has_its_sub_themes() -> None:
    assert set(SUBTHEMES) == set(THEMES)
    assert all(len(SUBTHEMES[t]) >= 5 for t in THEMES if t != "autre")
    assert subthemes_of("licorne") == ()


def test_edits_keep_the_resolution_date_and_the_delays(dmr: LayerStore) -> None:
    from geo.stats.indicators import treatment_delays

    rec = _twentieth(dmr, 1)[0]
    uid = str(rec["uid"])
    dmr.update("observations", uid, {"status": "traité"}, actor="tech")
    closed = dmr.get("observations", uid)
    before = treatment_delays(closed, as_of="2030-01-01")
    edit = observation_changes(dmr, rec, {"description": "Repris", "pilote": "ville"})
    dmr.update("observations", uid, edit)
    after = dmr.get("observations", uid)
    assert after["resolved_at"].iloc[0] == closed["resolved_at"].iloc[0]  # an edit is not a resolution
    pd.testing.assert_frame_equal(treatment_delays(after, as_of="2030-01-01"), before)
    hist = dmr.history("observations", uid)
    assert hist["status"].tolist() == ["transmis", "traité", "traité"]
    assert status_changes(hist)["status"].tolist() == ["transmis", "traité"]
