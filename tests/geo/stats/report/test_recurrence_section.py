"""Recurrent sites in the reports: named by their point noir, located by the nearest address.

Real Paris data: the Dans Ma Rue dumping reports, the QPV perimeters and the Base Adresse
Nationale; a point noir is declared where two real reports are less than 25 m apart, and
the later report is moved to 23:30 on the last day of the period (it must count).
"""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from geo.geometry import repair_polygons
from geo.stats.recurrence import RecurrenceOptions, address_text, locate_sites, recurrence
from geo.stats.report import ReportOptions, build_quartier_report, build_territory_report, site_table

PN_NAME = "Point noir d'essai"


@pytest.fixture(scope="module")
def paris(shared_data: Path) -> dict[str, object]:
    """Real dumping reports, QPV, BAN addresses around them, and a point noir on a real pair."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    df = df[df["type"] == "Objets abandonnés"]
    ll = df["geo_point_2d"].map(ast.literal_eval)
    dumping = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    ).to_crs(2154)
    dumping["datedecl"] = pd.to_datetime(dumping["datedecl"])
    qpv, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    qpv = qpv.to_crs(2154)
    ban = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";",
                      usecols=["numero", "rep", "nom_voie", "x", "y"])
    x0, y0, x1, y1 = qpv.total_bounds
    ban = ban[ban["x"].between(x0 - 500, x1 + 500) & ban["y"].between(y0 - 500, y1 + 500)]
    addresses = gpd.GeoDataFrame(
        ban.rename(columns={"numero": "number", "rep": "suffix", "nom_voie": "street"}),
        geometry=gpd.points_from_xy(ban["x"], ban["y"]), crs=2154,
    )
    inside = dumping[dumping.within(qpv.loc[qpv["code"] == "QP075019", "geometry"].iloc[0])]
    xy = np.column_stack([inside.geometry.x, inside.geometry.y])
    pairs = sorted(cKDTree(xy).query_pairs(25.0))
    assert pairs, "deux signalements réels à moins de 25 m dans QP075019"
    # the pair whose later report is the latest: the period ends on that report's day
    later = max(pairs, key=lambda p: inside["datedecl"].iloc[list(p)].max())
    first, last = sorted(later, key=lambda k: inside["datedecl"].iloc[k])
    end = inside["datedecl"].iloc[last].normalize()
    dumping.loc[inside.index[last], "datedecl"] = end + pd.Timedelta(hours=23, minutes=30)
    where = inside.geometry.iloc[first]
    nearest = addresses.iloc[int(cKDTree(addresses[["x", "y"]].to_numpy()).query([where.x, where.y])[1])]
    point_noir = gpd.GeoDataFrame(
        {"name": [PN_NAME], "address": [address_text(nearest.to_frame().T).iloc[0]]},
        geometry=[where], index=["pn-essai"], crs=2154,
    )
    return {"dumping": dumping, "qpv": qpv, "addresses": addresses, "point_noir": point_noir,
            "start": pd.Timestamp("2023-09-01"), "end": end}


def _options(paris: dict[str, object], **more: object) -> ReportOptions:
    return ReportOptions(start=paris["start"], end=paris["end"], time_field="datedecl",
                         points_noirs=paris["point_noir"], addresses=paris["addresses"], **more)


def _expected_locations(sites: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame) -> list[str | None]:
    """Nearest BAN address of each site centre within 50 m, computed apart (cKDTree)."""
    dist, idx = cKDTree(addresses[["x", "y"]].to_numpy()).query(
        np.column_stack([sites.geometry.x, sites.geometry.y]))
    text = address_text(addresses).to_numpy(dtype=object)
    return [text[i] if d <= 50.0 else None for d, i in zip(dist, idx, strict=True)]


def test_territory_report_names_sites_by_their_point_noir(paris: dict[str, object]) -> None:
    dumping, pn = paris["dumping"], paris["point_noir"]
    rep = build_territory_report(dumping, paris["qpv"], options=_options(paris))
    table = rep.tables["Sites les plus récurrents des quartiers"]
    assert not table.astype(str).apply(lambda c: c.str.contains("site-")).any().any()
    row = table[table["Site"] == PN_NAME]
    assert len(row) == 1
    # every real report within 25 m of the point noir in the period, the last day until 23:59
    d = dumping.geometry.distance(pn.geometry.iloc[0])
    when = dumping["datedecl"]
    near = (d <= 25.0) & (when >= paris["start"]) & (when < paris["end"] + pd.Timedelta(days=1))
    assert row["Événements"].iloc[0] == int(near.sum()) >= 2
    assert row["Dernier"].iloc[0] == when[near].max() and row["Dernier"].iloc[0].hour == 23
    assert row["Localisation"].iloc[0] == pn["address"].iloc[0]
    assert row["Localisation d'après"].iloc[0] == "adresse du point noir"
    assert row["Quartier"].iloc[0] == "QP075019"
    # the others: « regroupement sans point noir » at the nearest address, and which one it is
    others = table[table["Site"] != PN_NAME]
    assert set(others["Site"]) == {"regroupement sans point noir"}
    rec = rep.results["recurrence"].sites
    free = rec[(rec["label"] == "regroupement sans point noir") & rec["quartier"].notna()]
    assert list(free["location"]) == _expected_locations(free, paris["addresses"])
    for loc, how in zip(others["Localisation"], others["Localisation d'après"], strict=True):
        assert how.startswith("adresse la plus proche (") if loc else how.startswith("n.d.")
    # no clean-up date in Dans Ma Rue: recurrent, never « malgré les enlèvements »
    assert not any("malgré les enlèvements" in k for k in rep.key_figures)
    assert set(table["Statut"]) == {"récurrent"}
    assert rep.key_figures["Sites récurrents dans les quartiers (≥ 2 événements)"] == int(
        ((rec["n_events"] >= 2) & rec["quartier"].notna()).sum())
    assert "Noms des sites" in rep.method


def test_persistent_despite_cleanups_only_at_sites_with_cleanup_dates(paris: dict[str, object]) -> None:
    dumping = paris["dumping"].copy()
    # clean-up dates recorded at the point noir only (the day after each report)
    at_pn = dumping.geometry.distance(paris["point_noir"].geometry.iloc[0]) <= 25.0
    dumping["cleaned_at"] = (dumping["datedecl"] + pd.Timedelta(days=1)).where(at_pn)
    rep = build_territory_report(dumping, paris["qpv"], options=_options(paris, recurrence_radius=25.0))
    sites = rep.results["recurrence"].sites
    assert set(sites.loc[sites["cleanups_known"], "site"]) == {"pn-essai"}
    assert set(sites.loc[~sites["cleanups_known"], "status"]) <= {"récurrent", "ponctuel"}
    kf = rep.key_figures
    assert kf["Sites persistants malgré les enlèvements"] == int(
        (sites["status"] == "persistant malgré les enlèvements").sum())


def test_quartier_report_locates_unnamed_sites(paris: dict[str, object]) -> None:
    rep = build_quartier_report(paris["dumping"], paris["qpv"], code="QP075019", options=_options(paris))
    table = rep.tables["Sites les plus récurrents"]
    assert PN_NAME in set(table["Site"])
    assert (table["Événements"] >= 2).all() and "ponctuel" not in set(table["Statut"])
    assert "Noms des sites" in rep.method
    rec = rep.results["recurrence"].sites
    mine = rec[rec["quartier"] == "QP075019"]
    free = mine[mine["label"] == "regroupement sans point noir"]
    assert list(free["location"]) == _expected_locations(free, paris["addresses"])
    assert "Sites récurrents jusqu'à la fin de la période (aucune date d'enlèvement)" in rep.key_figures


def test_locate_sites_without_addresses_or_beyond_reach(paris: dict[str, object]) -> None:
    rec = recurrence(paris["dumping"], options=RecurrenceOptions(time_field="datedecl", cleaned_field=None),
                     sites=paris["point_noir"])
    alone = locate_sites(rec.sites)
    named = alone["site"] == "pn-essai"
    assert (alone.loc[named, "location_source"] == "adresse du point noir").all()
    assert alone.loc[~named, "location"].isna().all()
    assert set(alone.loc[~named, "location_source"]) == {"aucune adresse"}
    # an address 60 m away does not locate a site: n.d., never a far address
    site = rec.sites.iloc[[int(np.flatnonzero(~named)[0])]]
    far = gpd.GeoDataFrame({"number": [3], "suffix": ["bis"], "street": ["Rue Loin"]},
                           geometry=[shapely.Point(site.geometry.x.iloc[0] + 60, site.geometry.y.iloc[0])],
                           crs=2154)
    assert locate_sites(site, far)["location"].isna().all()
    close = far.set_geometry([shapely.Point(site.geometry.x.iloc[0] + 30, site.geometry.y.iloc[0])])
    located = locate_sites(site, close.to_crs(4326))
    assert located["location"].iloc[0] == "3bis Rue Loin"
    assert located["location_m"].iloc[0] == pytest.approx(30.0, abs=0.01)
    shown = site_table(located)
    assert shown["Localisation d'après"].iloc[0] == "adresse la plus proche (30 m)"


def test_territory_sites_unknown_where_no_source_covers_any_quartier(paris: dict[str, object]) -> None:
    qpv = paris["qpv"]
    codes = tuple(qpv["code"].astype(str))
    rep = build_territory_report(paris["dumping"], qpv, options=_options(paris, uncovered_codes=codes))
    assert rep.key_figures["Sites récurrents dans les quartiers (≥ 2 événements)"] is None
    assert rep.key_figures["Sites récurrents jusqu'à la fin de la période (aucune date d'enlèvement)"] is None
    assert "Sites les plus récurrents des quartiers" not in rep.tables
    # one quartier left covered: its sites are counted, the others' left out
    rep = build_territory_report(paris["dumping"], qpv, options=_options(paris, uncovered_codes=codes[1:]))
    sites = rep.results["recurrence"].sites
    mine = sites[(sites["quartier"] == codes[0]) & (sites["n_events"] >= 2)]
    assert rep.key_figures["Sites récurrents dans les quartiers (≥ 2 événements)"] == len(mine)
