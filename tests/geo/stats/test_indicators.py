"""Indicators of the fiches actions, per quartier and month."""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.errors import AnalysisError
from geo.geometry import repair_polygons
from geo.stats.indicators import (
    AtLeast,
    assign_quartier,
    diagnostics_per_year,
    dumping_indicators,
    dysfunctions,
    km_quantile,
    summarize_delays,
    treatment_delays,
)

PERIMETERS = gpd.GeoDataFrame(
    {"code": ["QA", "QB"], "name": ["A", "B"]},
    geometry=[shapely.box(0, 0, 100, 100), shapely.box(200, 0, 300, 100)],
    crs=2154,
)


def _obs() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "observed_at": pd.to_datetime(
                ["2024-01-05", "2024-01-20", "2024-02-01", "2024-01-10", "2024-01-11", "2025-03-01"]
            ),
            "resolved_at": pd.to_datetime(
                ["2024-01-07", "2024-01-30", None, "2024-01-10", None, "2025-03-02"]
            ),
            "volume_m3": [1.5, 2.0, np.nan, 4.0, np.nan, 1.0],
            "status": ["traité", "traité", "en cours", "traité", "clos non traité", "traité"],
            "walk_id": ["w1", "w1", None, "w2", "w3", None],
            "source": ["diagnostic en marchant", "diagnostic en marchant", "habitant",
                       "diagnostic en marchant", "diagnostic en marchant", "diagnostic en marchant"],
        },
        geometry=[shapely.Point(10, 10), shapely.Point(20, 20), shapely.Point(30, 30),
                  shapely.Point(250, 50), shapely.Point(260, 50), shapely.Point(50, 50)],
        crs=2154,
        index=list("abcdef"),
    )


def test_assign_quartier_and_outside() -> None:
    pts = _obs()
    pts.loc["c", "geometry"] = shapely.Point(150, 50)
    q = assign_quartier(pts, PERIMETERS)
    assert q.index.equals(pts.index)
    assert q.tolist() == ["QA", "QA", None, "QB", "QB", "QA"]


def test_dumping_number_and_volume_per_month() -> None:
    out = dumping_indicators(_obs(), PERIMETERS).set_index(["quartier", "period"])
    jan = pd.Period("2024-01", "M")
    assert out.loc[("QA", jan), "events"] == 2
    assert out.loc[("QA", jan), "volume_m3"] == 3.5
    assert out.loc[("QB", jan), "events"] == 2 and out.loc[("QB", jan), "volume_known"] == 1
    assert np.isnan(out.loc[("QA", pd.Period("2024-02", "M")), "volume_m3"])
    assert out["events"].sum() == 6


def test_treatment_delay_median_and_p90() -> None:
    out = treatment_delays(_obs(), PERIMETERS, as_of="2024-03-01").set_index(["quartier", "period"])
    row = out.loc[("QA", pd.Period("2024-01", "M"))]
    assert row["reported"] == 2 and row["resolved"] == 2 and row["still_open"] == 0
    assert row["median_days"] == 2.0  # 2 and 10 days: S(2) = 0.5 already
    assert row["p90_days"] == 10.0
    qb = out.loc[("QB", pd.Period("2024-01", "M"))]
    # « clos non traité » counted apart, out of the delay: only the 0-day case remains
    assert qb["closed_untreated"] == 1 and qb["median_days"] == 0.0
    feb = out.loc[("QA", pd.Period("2024-02", "M"))]
    # one case « en cours », open for 29 days at the extraction date: median more than 29 days
    assert feb["still_open"] == 1 and np.isnan(feb["median_days"]) and feb["median_above"] == 29.0


def _hand_km(durations: list[float], resolved: list[bool], q: float) -> float | None:
    """Product-limit estimate written out: S drops by d/n at each resolution time."""
    survival = 1.0
    for t in sorted({d for d, r in zip(durations, resolved, strict=True) if r}):
        at_risk = sum(1 for d in durations if d >= t)
        events = sum(1 for d, r in zip(durations, resolved, strict=True) if r and d == t)
        survival *= 1 - events / at_risk
        if survival <= 1 - q + 1e-12:
            return t
    return None


@pytest.mark.parametrize("seed", range(6))
def test_kaplan_meier_quantiles_equal_a_hand_computation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 60))
    durations = np.round(rng.exponential(12.0, n), 1)  # rounded: ties between resolved and open cases
    resolved = rng.random(n) < 0.7
    for q in (0.5, 0.9):
        expected = _hand_km(list(durations), list(resolved), q)
        got = km_quantile(durations, resolved, q)
        if expected is None:
            assert got == AtLeast(float(durations.max()))
        else:
            assert got == pytest.approx(expected)


def test_open_cases_lengthen_the_delay_and_closed_untreated_stay_apart() -> None:
    start = pd.Series(pd.to_datetime(["2024-01-01"] * 6))
    end = pd.Series(pd.to_datetime(["2024-01-03", "2024-01-05", "2024-01-11", None, None, "2024-01-02"]))
    closed = pd.Series([False, False, False, False, False, True])
    s = summarize_delays(start, end, as_of=pd.Timestamp("2024-01-31"), closed_untreated=closed)
    assert (s.reported, s.resolved, s.still_open, s.closed_untreated) == (6, 3, 2, 1)
    # resolved only: median of 2, 4, 10 = 4 days; with the two open cases (30 days) S(4) = 0.6
    assert s.median_days == 10.0
    assert s.p90_days == AtLeast(30.0)
    nothing = summarize_delays(start.iloc[:0], end.iloc[:0], as_of=pd.Timestamp("2024-01-31"))
    assert nothing.median_days is None and nothing.reported == 0


def test_diagnostics_per_year() -> None:
    out = diagnostics_per_year(_obs(), PERIMETERS).set_index(["quartier", "year"])
    assert out.loc[("QA", 2024), "diagnostics"] == 1  # w1 (the habitant report is not a walk)
    assert out.loc[("QB", 2024), "diagnostics"] == 2  # w2, w3
    assert out.loc[("QA", 2025), "diagnostics"] == 1  # no walk id: one per day
    assert out.index.get_level_values("year").dtype.kind == "i"


def test_dysfunctions_identified_and_treated() -> None:
    out = dysfunctions(_obs(), PERIMETERS).set_index(["quartier", "period"])
    qb = out.loc[("QB", pd.Period("2024-01", "M"))]
    assert (qb["identified"], qb["treated"], qb["treated_rate"]) == (2, 1, 0.5)
    with pytest.raises(AnalysisError, match="statut"):
        dysfunctions(_obs().drop(columns="status"), PERIMETERS)


def test_counts_per_quartier_equal_sjoin_on_paris(shared_data: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    ll = df["geo_point_2d"].map(ast.literal_eval)
    gdf = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    qpv, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    out = dumping_indicators(gdf, qpv, time_field="datedecl", volume_field=None)
    joined = gpd.sjoin(gdf, qpv[["code", "geometry"]], predicate="within")
    joined["period"] = pd.to_datetime(joined["datedecl"]).dt.to_period("M")
    expected = joined.groupby(["code", "period"]).size()
    got = out[out["quartier"] != "hors quartier"].set_index(["quartier", "period"])["events"]
    assert got.to_dict() == expected.to_dict()
    assert int(got.sum()) == 70  # README: 70 reports inside QP075019


def test_delays_on_messy_real_dates(shared_data: Path) -> None:
    """Real Dans Ma Rue report dates, made messy: unreadable dates, resolutions before the report,
    cases closed untreated, open cases; the Kaplan-Meier median equals a hand product-limit on the
    cases that remain."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", usecols=["datedecl"])
    rng = np.random.default_rng(16)
    seen_text = df["datedecl"].astype(object).to_numpy(copy=True)
    seen_text[rng.random(len(df)) < 0.02] = "31/02/2024 ??"  # unreadable
    seen = pd.to_datetime(pd.Series(seen_text), errors="coerce", utc=True).dt.tz_localize(None)
    delay = pd.to_timedelta(rng.exponential(9.0, len(df)).round(2), unit="D")
    done = (seen + delay).where(rng.random(len(df)) < 0.75)  # a quarter still open
    backwards = rng.random(len(df)) < 0.01
    done.loc[backwards] = seen[backwards] - pd.Timedelta(days=3)  # resolved before the report: left out
    closed = pd.Series(rng.random(len(df)) < 0.05)
    as_of = seen.max() + pd.Timedelta(days=10)
    s = summarize_delays(seen, done, as_of=as_of, closed_untreated=closed)
    keep = seen.notna() & ~closed & ~(done < seen)
    resolved = (keep & done.notna()).to_numpy()
    still_open = (keep & done.isna()).to_numpy()
    expected_counts = (int(seen.notna().sum()), resolved.sum(), still_open.sum())
    assert (s.reported, s.resolved, s.still_open) == expected_counts
    assert s.closed_untreated == int((closed & seen.notna()).sum())
    durations = np.where(resolved, (done - seen).dt.total_seconds() / 86400,
                         (as_of - seen).dt.total_seconds() / 86400)[resolved | still_open]
    flags = resolved[resolved | still_open]
    for q in (0.5, 0.9):
        expected = _hand_km(list(durations), list(flags), q)
        got = s.median_days if q == 0.5 else s.p90_days
        assert got == (AtLeast(float(durations.max())) if expected is None else pytest.approx(expected))
    # the bias the issue measured: resolved cases only give a shorter median
    assert isinstance(s.median_days, float) and s.median_days > float(np.median(durations[flags]))
