"""The TFPB programme service on real reports (GeoPackage and PostGIS)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from layers.errors import RecordError
from layers.store import LayerStore, open_store
from layers.tfpb import NO_AXIS, TfpbQuery, tfpb_choices, tfpb_report
from layers.validate import fold
from tests.layers._tfpb_data import BAILLEUR, QUARTIER, YEAR, build_tfpb_store, quartier_reports


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[LayerStore]:
    s = open_store(store_url)
    build_tfpb_store(s, tmp_path)
    yield s
    s.close()


def _mine(store: LayerStore) -> gpd.GeoDataFrame:
    actions = store.read("actions").to_crs(2154)
    keep = actions["tfpb"].fillna(False).astype(bool) & (actions["tfpb_year"] == YEAR)
    keep &= actions["bailleur"].map(lambda v: fold(str(v)) == fold(BAILLEUR))
    return actions[keep]


def _expected_near(constats: gpd.GeoDataFrame, actions: gpd.GeoDataFrame) -> pd.Series:
    located = actions[actions.geometry.notna()]
    joined = gpd.sjoin_nearest(constats, located[["geometry"]], how="left", max_distance=100)
    return joined["index_right"].notna().groupby(level=0).any().reindex(constats.index)


def test_programme_by_axe(store: LayerStore) -> None:
    report = tfpb_report(store, TfpbQuery(BAILLEUR, YEAR))
    mine = _mine(store)
    assert len(mine) == 8 and report.total.n_actions == 8
    assert report.bailleur == BAILLEUR and report.convention == "lillers-2023"
    assert [a.code for a in report.axes] == ["1", "2", "3", "4", "5", "6", "7", "8", NO_AXIS]
    by_code = {a.code: a for a in report.axes}
    assert by_code["3"].titre == "Sur-entretien" and by_code["3"].n_actions == 2
    assert by_code["3"].amounts["amount_planned"] == 20000.0
    assert by_code["3"].amounts["amount_committed"] == 11000.0
    assert by_code["3"].amounts_missing["amount_committed"] == 1
    assert by_code["4"].amounts == dict.fromkeys(by_code["4"].amounts)  # all missing: n.d., not 0
    assert by_code["2"].n_actions == 0 and by_code["2"].done_share is None
    assert by_code["5"].simulated and not by_code["3"].simulated and report.total.simulated
    assert by_code[NO_AXIS].n_actions == 1
    assert [s.titre for s in by_code[NO_AXIS].sous_actions] == ["Sous-action libre"]
    assert report.total.sous_actions == ()
    subs = {s.titre: s for s in by_code["3"].sous_actions}
    assert subs["Renforcement nettoyage"].n_actions == 1
    assert subs["Enlèvement de tags et graffitis"].n_actions == 1
    for field in ("amount_planned", "amount_committed", "amount_deferred", "amount_valued"):
        known = mine[field].dropna()
        assert report.total.amounts[field] == (float(known.sum()) if len(known) else None), field
    assert report.total.amounts["amount_deferred"] == 30000.0
    counts = mine["etat"].value_counts().reindex(list(report.total.etats), fill_value=0)
    assert report.total.etats == counts.to_dict()
    assert report.total.done_share == pytest.approx(2 / 8)


def test_proximity_equals_sjoin_nearest(store: LayerStore) -> None:
    report = tfpb_report(store, TfpbQuery(BAILLEUR, YEAR))
    reports = quartier_reports(store)
    constats = reports[pd.to_datetime(reports["observed_at"]).dt.year == YEAR]
    assert report.quartiers == (QUARTIER,)
    assert sorted(report.constats["uid"]) == sorted(constats["uid"])
    assert 20 < len(constats) < 70
    near = _expected_near(constats.set_index("uid"), _mine(store))
    got = report.constats.set_index("uid")["near"].astype(bool)
    assert got.sort_index().equals(near.sort_index().astype(bool))
    assert report.proximity is not None and report.proximity.total.near == int(near.sum())
    assert 0 < report.proximity.total.near < len(constats)
    assert report.proximity.total.share == pytest.approx(near.mean())
    assert report.proximity.actions_unlocated == 1
    for theme, row in report.proximity.by_theme.iterrows():
        sub = near[constats.set_index("uid")["theme"] == theme]
        assert (row["n"], row["near"]) == (len(sub), int(sub.sum())), theme


def test_constats_on_bailleur_land_without_action(store: LayerStore) -> None:
    report = tfpb_report(store, TfpbQuery(BAILLEUR, YEAR))
    constats = report.constats.set_index("uid")
    buildings = store.read("batiments").to_crs(2154)
    own = buildings[buildings["name"].map(fold) == fold(BAILLEUR)]
    in_own = gpd.sjoin(constats, own[["geometry"]], predicate="intersects").index
    in_other = gpd.sjoin(constats, buildings[buildings["name"] == "Elogie-Siemp"][["geometry"]],
                         predicate="intersects").index
    expected_land = (constats["domanialite"] == "bailleur") | constats.index.isin(in_own)
    assert (constats.loc[in_own, "domanialite"] != "bailleur").any()  # the building adds constats
    assert constats["on_land"].astype(bool).equals(expected_land)
    assert not constats.loc[constats["domanialite"] != "bailleur"].loc[
        lambda f: f.index.isin(in_other) & ~f.index.isin(in_own), "on_land"].any()
    near = _expected_near(constats, _mine(store))
    want = sorted(constats.index[expected_land & ~near.astype(bool)])
    assert sorted(report.unserved["uid"]) == want and len(want) > 0
    land = report.proximity_on_land
    assert land is not None and land.total.n == int(expected_land.sum())
    assert land.total.near == int((expected_land & near.astype(bool)).sum())


def test_unknown_bailleur_says_so(store: LayerStore) -> None:
    report = tfpb_report(store, TfpbQuery("Bailleur inconnu", YEAR))
    assert report.total.n_actions == 0 and report.proximity is None
    assert all(v is None for v in report.total.amounts.values())
    assert any("Aucune action TFPB" in n for n in report.notes)
    other_year = tfpb_report(store, TfpbQuery(BAILLEUR, YEAR - 1))
    assert other_year.total.n_actions == 1 and other_year.proximity is not None
    # the 2023 reports of the quartier; the share is a measure (actions located), not n.d.
    assert not math.isnan(other_year.proximity.total.share)


def test_choices_and_conventions(store: LayerStore) -> None:
    bailleurs, years = tfpb_choices(store)
    assert bailleurs == ["Elogie-Siemp", BAILLEUR]  # « paris  HABITAT », « Paris Hábitat »: the same
    assert years == [YEAR + 2, YEAR, YEAR - 1]
    # the years of one bailleur (spelled another way): its latest programme is not Elogie's
    assert tfpb_choices(store, bailleur="PARIS habitat")[1] == [YEAR, YEAR - 1]
    unknown = tfpb_report(store, TfpbQuery(BAILLEUR, YEAR, convention="inconnue"))
    assert any("inconnue" in n for n in unknown.notes)
    assert unknown.axes[2].titre == "Sur-entretien"  # national framework titles kept
    with pytest.raises(RecordError, match="Année"):
        tfpb_report(store, TfpbQuery(BAILLEUR, 1900))
    with pytest.raises(RecordError, match="Bailleur"):
        tfpb_report(store, TfpbQuery("  ", YEAR))


def test_year_without_constats_uses_the_last_twelve_months(store: LayerStore) -> None:
    report = tfpb_report(store, TfpbQuery("elogie-siemp", YEAR + 2))
    reports = quartier_reports(store)
    last = pd.to_datetime(reports["observed_at"]).max()
    assert report.total.n_actions == 1 and report.end == (last + pd.Timedelta(days=1)).date()
    assert any(f"Aucun constat en {YEAR + 2}" in n for n in report.notes)
    when = pd.to_datetime(reports["observed_at"])
    window = reports[(when >= pd.Timestamp(report.start)) & (when < pd.Timestamp(report.end))]
    assert sorted(report.constats["uid"]) == sorted(window["uid"]) and len(window) > 0
    actions = store.read("actions").to_crs(2154)
    mine = actions[(actions["tfpb_year"] == YEAR + 2) & actions["tfpb"].astype(bool)]
    near = _expected_near(window.set_index("uid"), mine)
    assert report.proximity is not None and report.proximity.total.near == int(near.sum()) > 0
    explicit = tfpb_report(store, TfpbQuery("Elogie-Siemp", YEAR + 2, start=date(YEAR + 2, 1, 1)))
    assert explicit.constats.empty and not any("Aucun constat" in n for n in explicit.notes)
    assert explicit.proximity is not None and math.isnan(explicit.proximity.total.share)


def test_actions_without_geometry_give_nd_not_zero(store: LayerStore) -> None:
    action = gpd.GeoDataFrame({"title": ["Médiation sans lieu"], "decided_at": [date(YEAR, 4, 1)],
                               "tfpb": [True], "bailleur": ["Bailleur sans carte"], "tfpb_year": [YEAR],
                               "tfpb_axe": ["1"], "quartier": [QUARTIER]}, geometry=[None], crs=2154)
    store.write("actions", action, actor="tests")
    report = tfpb_report(store, TfpbQuery("Bailleur sans carte", YEAR))
    assert report.total.n_actions == 1 and report.proximity is not None
    assert report.proximity.total.n > 0 and math.isnan(report.proximity.total.share)
    assert report.proximity.by_theme["share"].isna().all()
    assert report.unserved.empty and report.proximity.actions_unlocated == 1
    assert report.quartiers == (QUARTIER,)
