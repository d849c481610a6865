"""Points-noirs recurrence: sites, re-occurrence after cleaning, rates, persistence."""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.errors import AnalysisError
from geo.geometry import repair_polygons
from geo.stats.recurrence import RecurrenceOptions, group_sites, recurrence, single_linkage


def _events(rows: list[tuple[float, float, str, str | None]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "observed_at": pd.to_datetime([r[2] for r in rows]),
            "cleaned_at": pd.to_datetime([r[3] for r in rows]),
        },
        geometry=[shapely.Point(r[0], r[1]) for r in rows],
        crs=2154,
        index=[f"e{i}" for i in range(len(rows))],
    )


def test_sites_are_single_linkage_groups() -> None:
    # two repeats 5 m apart, one far event, a street of reports every 20 m over 200 m,
    # and a street every 26 m (just over the radius)
    pts = [(0, 0), (5, 0), (1000, 0)] + [(2000 + 20 * i, 0) for i in range(11)]
    pts += [(4000 + 26 * i, 0) for i in range(5)]
    ev = gpd.GeoDataFrame(geometry=[shapely.Point(p) for p in pts], crs=2154)
    site = group_sites(ev, radius=25.0, max_extent=float("inf"))
    assert site.iloc[0] == site.iloc[1] != site.iloc[2]
    assert site.iloc[3:14].nunique() == 1  # chains of close events make one site
    assert site.iloc[14:].nunique() == 5
    assert site.nunique() == 2 + 1 + 5


def test_chains_wider_than_the_maximum_extent_are_cut() -> None:
    # a street of reports every 20 m over 1 km (one chain), and a side street crossing it:
    # single linkage makes one group; sites are at most 150 m wide and every event of a
    # piece is linked to its site
    street = [(20.0 * i, 0.0) for i in range(51)]
    side = [(500.0, 20.0 * j) for j in range(1, 11)]
    ev = gpd.GeoDataFrame(geometry=[shapely.Point(p) for p in street + side], crs=2154)
    assert group_sites(ev, radius=25.0, max_extent=float("inf")).nunique() == 1
    site = group_sites(ev, radius=25.0)
    xy = np.array(street + side)
    for label in site.unique():
        part = xy[(site == label).to_numpy()]
        assert (part.max(axis=0) - part.min(axis=0)).max() <= 150.0
        assert single_linkage(part, 25.0).max() == 0  # each site is one chain
    # 1 km cut every 150 m: 7 pieces on the street; the side street's first 140 m join the
    # street's piece of x in [450, 600), its last 40 m (y in [150, 300)) are a site of their own
    assert site.iloc[:51].nunique() == 7
    assert site.iloc[51:58].nunique() == 1 and site.iloc[51] == site.iloc[25]
    assert site.iloc[58:].nunique() == 1 and site.iloc[58] != site.iloc[25]
    assert site.nunique() == 8
    with pytest.raises(AnalysisError):
        group_sites(ev, radius=25.0, max_extent=10.0)


def test_single_linkage_equals_the_radius_graph_components(shared_data: Path) -> None:
    # real Paris positions, replicated with jitter: same partition as the components of
    # the full « at most radius » graph built by scipy
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", usecols=["geo_point_2d"])
    ll = df["geo_point_2d"].map(ast.literal_eval)
    pts = gpd.GeoSeries(gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])),
                        crs=4326).to_crs(2154)
    base = np.column_stack([pts.x, pts.y])[:3000]
    rng = np.random.default_rng(7)
    xy = np.concatenate([base, base + rng.normal(0, 15, base.shape), base + rng.normal(0, 40, base.shape)])
    for radius in (10.0, 25.0, 60.0):
        got = single_linkage(xy, radius)
        tree = cKDTree(xy)
        graph = tree.sparse_distance_matrix(tree, radius, output_type="coo_matrix")
        ref = connected_components(graph, directed=False)[1]
        assert len(set(zip(got, ref, strict=True))) == len(set(got)) == len(set(ref))
        assert 1 < len(set(got)) < len(xy)


def test_events_attach_to_known_points_noirs() -> None:
    known = gpd.GeoDataFrame({"name": ["rue A"]}, geometry=[shapely.Point(0, 0)], index=["pn-1"], crs=2154)
    ev = gpd.GeoDataFrame(geometry=[shapely.Point(10, 0), shapely.Point(200, 0)], crs=2154)
    site = group_sites(ev, radius=25.0, sites=known)
    assert site.iloc[0] == "pn-1"
    assert site.iloc[1].startswith("site-")


def test_sites_are_named_by_their_point_noir() -> None:
    known = gpd.GeoDataFrame(
        {"name": ["Angle Mosson", "Bac nord"], "address": ["12 rue de Tipasa", None]},
        geometry=[shapely.Point(0, 0), shapely.Point(300, 0)], index=["pn-1", "pn-2"], crs=2154,
    )
    ev = _events([(3, 0, "2024-01-01", None), (0, 4, "2024-02-01", None), (302, 0, "2024-01-05", None),
                  (900, 0, "2024-01-05", None)])
    res = recurrence(ev, options=RecurrenceOptions(radius=25.0), sites=known)
    sites = res.sites.set_index("site")
    assert sites.loc["pn-1", "label"] == "Angle Mosson, 12 rue de Tipasa"
    assert sites.loc["pn-1", "name"] == "Angle Mosson" and sites.loc["pn-1", "n_events"] == 2
    assert sites.loc["pn-2", "label"] == "Bac nord, adresse inconnue"
    free = sites.drop(index=["pn-1", "pn-2"])
    assert list(free["label"]) == ["regroupement sans point noir"] and free["name"].isna().all()


def test_persistent_despite_cleaning_only_where_cleanups_are_recorded() -> None:
    rows = [(0, 0, "2024-01-01", "2024-01-02"), (1, 0, "2024-03-01", "2024-03-02"),
            (2, 0, "2024-06-01", "2024-06-02"), (600, 0, "2024-02-01", None), (601, 0, "2024-06-20", None),
            (2000, 0, "2024-03-03", None)]
    ev = _events(rows)
    res = recurrence(ev, options=RecurrenceOptions(radius=25.0), end="2024-06-30")
    status = res.sites.set_index("n_events")["status"]
    by_event = res.sites.set_index("site")["status"]
    assert by_event[res.events.loc["e0", "site"]] == "persistant malgré les enlèvements"
    # the second site has no clean-up date: recurrent, never « malgré les enlèvements »
    assert by_event[res.events.loc["e3", "site"]] == "récurrent"
    assert by_event[res.events.loc["e5", "site"]] == "ponctuel"
    # no clean-up column at all: the same events are only recurrent, even when « persistent »
    res = recurrence(ev.drop(columns="cleaned_at"), options=RecurrenceOptions(radius=25.0), end="2024-06-30")
    assert bool(res.sites.set_index("site").loc[res.events.loc["e0", "site"], "persistent"])
    assert "persistant malgré les enlèvements" not in set(res.sites["status"])
    assert len(status) == 3


def test_reoccurrence_after_cleaning_and_persistence() -> None:
    ev = _events([
        (0, 0, "2024-01-01", "2024-01-03"),
        (3, 0, "2024-01-10", "2024-01-11"),
        (1, 1, "2024-02-20", None),
        (2, 2, "2024-06-25", "2024-06-26"),
        (500, 0, "2024-01-05", "2024-01-06"),  # single event, never comes back
    ])
    res = recurrence(ev, options=RecurrenceOptions(radius=25.0), end="2024-06-30")
    a = res.events.loc["e0", "site"]
    b = res.events.loc["e4", "site"]
    days = res.reoccurrences.set_index("cleaned_at")["days"]
    assert days[pd.Timestamp("2024-01-03")] == 7.0
    assert days[pd.Timestamp("2024-01-11")] == 40.0
    assert np.isnan(days[pd.Timestamp("2024-06-26")])  # censored
    assert np.isnan(days[pd.Timestamp("2024-01-06")])
    sites = res.sites.set_index("site")
    assert sites.loc[a, "n_events"] == 4 and sites.loc[b, "n_events"] == 1
    assert sites.loc[a, "median_days_to_reoccur"] == 23.5  # median of 7 and 40 (censored left out)
    assert sites.loc[a, "events_after_cleanup"] == 3
    assert bool(sites.loc[a, "persistent"]) and not bool(sites.loc[b, "persistent"])
    period_days = (pd.Timestamp("2024-07-01") - pd.Timestamp("2024-01-01")).days  # 30 June included
    assert sites.loc[a, "rate_per_30d"] == pytest.approx(4 / period_days * 30)
    assert list(res.persistent["site"]) == [a]
    assert res.parameters["cleaning_assumed"] is False
    assert res.events.index.equals(ev.index)


def test_the_last_day_of_the_period_counts_until_midnight() -> None:
    ev = _events([
        (0, 0, "2024-01-01 00:00:00", None),
        (1, 0, "2024-06-30 00:00:00", None),
        (2, 0, "2024-06-30 23:59:59", None),
        (3, 0, "2024-07-01 00:00:00", None),  # the next day: out
    ])
    res = recurrence(ev, options=RecurrenceOptions(radius=25.0), start="2024-01-01", end="2024-06-30")
    assert list(res.events.index) == ["e0", "e1", "e2"]
    assert res.sites["n_events"].sum() == 3
    # without an explicit end the period ends on the last event's day, which counts too
    res = recurrence(ev.iloc[:3], options=RecurrenceOptions(radius=25.0))
    assert len(res.events) == 3


def test_without_cleanup_dates_intervals_between_reports_are_used() -> None:
    ev = _events([(0, 0, "2024-01-01", None), (1, 0, "2024-01-11", None), (2, 0, "2024-01-31", None)])
    res = recurrence(ev.drop(columns="cleaned_at"), options=RecurrenceOptions(radius=25.0))
    assert res.parameters["cleaning_assumed"] is True
    assert sorted(res.reoccurrences["days"].dropna()) == [10.0, 20.0]


def test_vectorised_reoccurrence_equals_a_plain_loop() -> None:
    rng = np.random.default_rng(4)
    n = 400
    xy = rng.integers(0, 6, size=(n, 2)) * 100.0
    obs = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D")
    cleaned = obs + pd.to_timedelta(rng.integers(0, 20, n), unit="D")
    ev = gpd.GeoDataFrame({"observed_at": obs, "cleaned_at": cleaned},
                          geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    res = recurrence(ev, options=RecurrenceOptions(radius=10.0))
    got = res.reoccurrences.sort_values(["site", "cleaned_at"])["days"].to_numpy()
    expected = []
    for _site, grp in res.events.assign(observed_at=obs.to_numpy()).groupby("site"):
        times = np.sort(grp["observed_at"].to_numpy())
        for c in np.sort(ev.loc[grp.index, "cleaned_at"].to_numpy()):
            later = times[times > c]
            expected.append((later[0] - c) / np.timedelta64(1, "D") if len(later) else np.nan)
    np.testing.assert_allclose(got, np.array(expected, dtype=float))


def test_per_quartier_on_real_paris_dumping(shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    df = df[df["type"] == "Objets abandonnés"]
    ll = df["geo_point_2d"].map(ast.literal_eval)
    gdf = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    qpv, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    res = recurrence(gdf, options=RecurrenceOptions(time_field="datedecl", cleaned_field=None),
                     perimeters=qpv)
    in_qp = gpd.sjoin(gdf.to_crs(2154), qpv.to_crs(2154)[["code", "geometry"]], predicate="within")
    assert (res.events["quartier"] == "QP075019").sum() == (in_qp["code"] == "QP075019").sum()
    table = res.quartiers.set_index("quartier")
    assert table["events"].sum() == len(gdf)
    assert 0 < table.loc["QP075019", "recurrent_share"] < 1
    assert table.loc["QP075019", "sites"] == (res.sites["quartier"] == "QP075019").sum()


def test_errors() -> None:
    ev = _events([(0, 0, "2024-01-01", None)])
    with pytest.raises(AnalysisError, match="absente"):
        recurrence(ev, options=RecurrenceOptions(time_field="date"))
    with pytest.raises(AnalysisError):
        group_sites(ev, radius=0)


def test_quartier_report_names_sites_and_says_recurrent_without_cleanups() -> None:
    from geo.stats.report import ReportOptions, build_quartier_report

    per = gpd.GeoDataFrame({"code": ["QPTEST"], "name": ["Test"]},
                           geometry=[shapely.box(-500, -500, 1500, 1500)], crs=2154)
    known = gpd.GeoDataFrame({"name": ["Angle Mosson"], "address": ["12 rue de Tipasa"]},
                             geometry=[shapely.Point(0, 0)], index=["pn-1"], crs=2154)
    rng = np.random.default_rng(3)
    n = 60
    xy = np.where(rng.random((n, 1)) < 0.5, [[2.0, 1.0]], rng.uniform(-400, 1400, (n, 2)))
    obs = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 180, n), unit="D")
    ev = gpd.GeoDataFrame({"observed_at": obs}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=2154)
    rep = build_quartier_report(ev, per, code="QPTEST", options=ReportOptions(
        start="2024-01-01", end="2024-06-29", bin_size=200.0, cleaned_field=None, points_noirs=known))
    table = rep.tables["Sites les plus récurrents"]
    assert table["Site"].iloc[0] == "Angle Mosson"
    assert table["Localisation"].iloc[0] == "12 rue de Tipasa"
    assert table["Localisation d'après"].iloc[0] == "adresse du point noir"
    assert not table["Site"].str.startswith("site-").any()
    assert "malgré les enlèvements" not in " ".join(rep.key_figures)
    assert set(table["Statut"]) <= {"récurrent", "ponctuel"}
