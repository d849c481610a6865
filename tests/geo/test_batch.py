"""Partitioned lookup and binning (geo.batch) against the single-process paths, on real BAN addresses."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

dask = pytest.importorskip("dask")
dask_geopandas = pytest.importorskip("dask_geopandas")

from geo.batch import (  # noqa: E402
    BatchGrid,
    bin_partitioned,
    lookup_partitioned,
    read_points,
    replicate_partitioned,
    replicate_with_jitter,
)
from geo.errors import BatchError, CRSError, GeometryError, QPVError  # noqa: E402
from geo.perimeters.addressmatch import read_addresses  # noqa: E402
from geo.perimeters.lookup import build_index, lookup_many  # noqa: E402
from geo.perimeters.rules import reverse_perimeter  # noqa: E402
from geo.perimeters.streetlist import Rule  # noqa: E402
from geo.stats.binning import count_in_bins, make_bins  # noqa: E402
from geo.stats.hotspots import getis_ord  # noqa: E402
from geo.stats.zones import grid_cells  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "data" / "demo"


@pytest.fixture(autouse=True)
def synchronous() -> Iterator[None]:
    """Every test runs on dask's synchronous scheduler unless it starts its own cluster."""
    with dask.config.set(scheduler="synchronous"):
        yield


@pytest.fixture(scope="module")
def perimeters() -> gpd.GeoDataFrame:
    """The 15 demo QPV (QP075019 invalid as published, repaired by the index)."""
    paris = gpd.read_file(DEMO / "paris" / "qpv-paris-idf-2015.geojson")[["code", "name", "geometry"]]
    mtp = gpd.read_file(DEMO / "montpellier" / "qp-montpellier-2015.geojson").rename(
        columns={"code_qp": "code", "nom_qp": "name"})[["code", "name", "geometry"]]
    return gpd.GeoDataFrame(pd.concat([paris, mtp], ignore_index=True), geometry="geometry", crs=paris.crs)


@pytest.fixture(scope="module")
def rules(perimeters: gpd.GeoDataFrame) -> list[Rule]:
    """Street rules of QP075019 derived from the real 20e addresses."""
    return reverse_perimeter(perimeters, read_addresses(DEMO / "paris" / "adresses-75020.csv.gz"),
                             code="QP075019")


@pytest.fixture(scope="module")
def ban(shared_data: Path) -> gpd.GeoDataFrame:
    """4,000 real BAN addresses of the 20e arrondissement (seeded sample), Lambert-93 points."""
    raw = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", dtype={"numero": "Int64"},
                      usecols=["id", "numero", "rep", "nom_voie", "code_postal", "nom_commune", "x", "y"])
    sample = raw[raw["code_postal"] == 75020].sample(4000, random_state=7).sort_index()
    return gpd.GeoDataFrame(sample, geometry=gpd.points_from_xy(sample["x"], sample["y"]), crs="EPSG:2154")


def test_lookup_partitioned_equals_lookup_many(ban: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame,
                                               rules: list[Rule]) -> None:
    lazy = lookup_partitioned(ban, perimeters, rules=rules, npartitions=4)
    assert isinstance(lazy, dask_geopandas.GeoDataFrame)
    assert lazy.npartitions == 4
    got = lazy.compute()
    expected = lookup_many(ban, build_index(perimeters, rules=rules))
    pd.testing.assert_frame_equal(got, expected)
    assert (got["qpv_code"] == "QP075019").sum() > 100  # real addresses inside the QPV
    assert got["qpv_reason"].eq("both").any()


def test_lookup_partitioned_takes_an_index_and_a_dask_frame(ban: gpd.GeoDataFrame,
                                                            perimeters: gpd.GeoDataFrame) -> None:
    index = build_index(perimeters)
    parts = dask_geopandas.from_geopandas(ban.to_crs(4326), npartitions=3)
    got = lookup_partitioned(parts, index).compute()
    expected = lookup_many(ban.to_crs(4326), index)
    pd.testing.assert_series_equal(got["qpv_code"], expected["qpv_code"])
    pd.testing.assert_series_equal(got["qpv_distance_m"], expected["qpv_distance_m"])


def test_square_bins_equal_grid_cells(ban: gpd.GeoDataFrame) -> None:
    cells = bin_partitioned(ban, grid=BatchGrid(cell_m=100.0), npartitions=5)
    x, y = ban.geometry.x.to_numpy(), ban.geometry.y.to_numpy()
    expected = grid_cells(x, y, cell_m=100.0)
    np.testing.assert_array_equal(cells["count"].to_numpy(), expected["count"].to_numpy())
    for col in ("xmin", "ymin", "xmax", "ymax"):
        np.testing.assert_array_equal(cells[col].to_numpy(), expected[col].to_numpy())
    np.testing.assert_allclose(cells[["x", "y"]].to_numpy(), expected[["x", "y"]].to_numpy(),
                               rtol=0, atol=1e-6)
    keys = np.floor(np.column_stack([x, y]) / 100.0).astype(np.int64)
    assert len(cells) == len(np.unique(keys, axis=0))
    assert cells.attrs["bin_shape"] == "square" and cells.crs.to_epsg() == 2154
    assert shapely.contains_xy(cells.geometry.to_numpy(), cells["x"].to_numpy(), cells["y"].to_numpy()).all()


def test_hex_bins_and_gi_star_equal_single_process(ban: gpd.GeoDataFrame) -> None:
    got = bin_partitioned(ban, grid=BatchGrid(cell_m=150.0, shape="hex"), npartitions=4, hotspots=True)
    bins = count_in_bins(make_bins(ban, size=150.0, shape="hex"), ban)
    expected = getis_ord(bins)
    np.testing.assert_array_equal(got["bin_id"].to_numpy(), expected["bin_id"].to_numpy())
    np.testing.assert_array_equal(got["count"].to_numpy(), expected["count"].to_numpy())
    np.testing.assert_array_equal(got["gi_z"].to_numpy(), expected["gi_z"].to_numpy())
    assert (got["gi_bin"] > 0).any()


def test_square_gi_star_on_the_full_grid(ban: gpd.GeoDataFrame) -> None:
    got = bin_partitioned(ban, grid=BatchGrid(cell_m=200.0), npartitions=3, hotspots=True)
    xy = shapely.get_coordinates(ban.geometry.to_numpy())
    x0, y0 = np.floor(xy.min(axis=0) / 200.0) * 200.0
    x1, y1 = (np.floor(xy.max(axis=0) / 200.0) + 1) * 200.0
    grid = make_bins(area=shapely.box(x0, y0, x1, y1), size=200.0, shape="square")
    # a square cell holds the points whose floor(x / 200), floor(y / 200) is its key (grid_cells' rule)
    keys = pd.Series(1, index=pd.MultiIndex.from_arrays(list(np.floor(xy / 200.0).astype(np.int64).T)))
    per_cell = keys.groupby(level=[0, 1]).sum()
    cell_keys = pd.MultiIndex.from_arrays([np.floor(grid["x"].to_numpy() / 200.0).astype(np.int64),
                                           np.floor(grid["y"].to_numpy() / 200.0).astype(np.int64)])
    grid["count"] = per_cell.reindex(cell_keys, fill_value=0).to_numpy()
    np.testing.assert_array_equal(got["count"].to_numpy(), grid["count"].to_numpy())
    assert got["count"].sum() == len(ban)
    np.testing.assert_array_equal(got["gi_z"].to_numpy(), getis_ord(grid)["gi_z"].to_numpy())


def test_counts_broken_down_by_a_column(ban: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame) -> None:
    looked = lookup_partitioned(ban, perimeters, npartitions=3)
    by_qpv = bin_partitioned(looked, grid=BatchGrid(cell_m=150.0, shape="hex"), by="qpv_code")
    single = lookup_many(ban, build_index(perimeters))
    inside = single[single["qpv_code"] == "QP075019"]
    bins = make_bins(ban, size=150.0, shape="hex")
    expected = count_in_bins(bins, inside)
    expected = expected[expected["count"] > 0]
    mine = by_qpv[by_qpv["qpv_code"] == "QP075019"]
    np.testing.assert_array_equal(mine["bin_id"].to_numpy(), expected["bin_id"].to_numpy())
    np.testing.assert_array_equal(mine["count"].to_numpy(), expected["count"].to_numpy())
    assert by_qpv["count"].sum() == len(ban)
    squares = bin_partitioned(looked, grid=BatchGrid(cell_m=100.0), by="qpv_status")
    assert squares.groupby("qpv_status", observed=True)["count"].sum().to_dict() == (
        single["qpv_status"].value_counts().loc[lambda s: s > 0].to_dict())


def test_replicas_are_labelled_seeded_and_within_the_jitter(ban: gpd.GeoDataFrame) -> None:
    base = ban.iloc[:500]
    copies = replicate_with_jitter(base, copies=3, jitter_m=10.0, seed=42)
    assert len(copies) == 1500 and copies.index.is_unique
    assert copies["simulated"].all()
    assert copies["replica"].tolist() == [0] * 500 + [1] * 500 + [2] * 500
    assert copies["source_dataset"].str.contains("simulé").all()
    assert "x" not in copies.columns and copies.crs.to_epsg() == 2154
    shift = np.abs(shapely.get_coordinates(copies.geometry.to_numpy())
                   - np.tile(shapely.get_coordinates(base.geometry.to_numpy()), (3, 1)))
    assert shift.max() <= 10.0 and shift.mean() > 2.0
    again = replicate_with_jitter(base, copies=3, jitter_m=10.0, seed=42)
    assert shapely.equals(again.geometry.to_numpy(), copies.geometry.to_numpy()).all()
    other = replicate_with_jitter(base, copies=3, jitter_m=10.0, seed=43)
    assert not shapely.equals(other.geometry.to_numpy(), copies.geometry.to_numpy()).any()
    alone = replicate_with_jitter(base, copies=1, jitter_m=10.0, seed=42, first=2)
    pd.testing.assert_frame_equal(alone, copies.iloc[1000:])
    lazy = replicate_partitioned(base, copies=3, jitter_m=10.0, seed=42, copies_per_partition=2)
    assert lazy.npartitions == 2 and list(lazy.divisions) == [0, 1000, 1499]
    pd.testing.assert_frame_equal(lazy.compute(), copies)


def test_replicas_built_from_a_delayed_source(ban: gpd.GeoDataFrame) -> None:
    base = ban.iloc[:300]
    lazy = replicate_partitioned(dask.delayed(lambda: base)(), copies=2, jitter_m=5.0, seed=1,
                                 meta=base.iloc[:0], rows=len(base))
    pd.testing.assert_frame_equal(lazy.compute(), replicate_with_jitter(base, copies=2, jitter_m=5.0, seed=1))
    with pytest.raises(BatchError, match="meta et rows"):
        replicate_partitioned(dask.delayed(lambda: base)(), copies=2)


def test_read_points_from_csv_and_parquet(ban: gpd.GeoDataFrame, tmp_path: Path) -> None:
    table = pd.DataFrame(ban.drop(columns="geometry"))
    for dep in ("a", "b"):
        table.to_csv(tmp_path / f"adresses-{dep}.csv", sep=";", index=False)
    points = read_points(tmp_path / "adresses-*.csv")
    assert points.npartitions >= 2
    got = points.compute()
    assert len(got) == 2 * len(ban) and got.crs.to_epsg() == 2154
    np.testing.assert_allclose(got.geometry.x.to_numpy()[: len(ban)], ban.geometry.x.to_numpy())
    ban.to_parquet(tmp_path / "points.parquet")
    back = read_points(tmp_path / "points.parquet", npartitions=2)
    assert back.npartitions == 2 and len(back.compute()) == len(ban)
    with pytest.raises(BatchError, match="Aucun fichier"):
        read_points(tmp_path / "absent-*.csv")


def test_bad_inputs_raise_french_errors(ban: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame) -> None:
    no_crs = gpd.GeoDataFrame(ban.drop(columns="geometry"), geometry=ban.geometry.to_numpy(), crs=None)
    with pytest.raises(CRSError, match="système de coordonnées"):
        lookup_partitioned(no_crs, perimeters)
    with pytest.raises(BatchError, match="vide"):
        bin_partitioned(ban.iloc[:0])
    polygons = ban.iloc[:20].copy()
    polygons["geometry"] = polygons.buffer(5.0)
    with pytest.raises(GeometryError, match="attend des points"):
        lookup_partitioned(polygons, perimeters)
    with pytest.raises(GeometryError, match="attend des points"):
        bin_partitioned(dask_geopandas.from_geopandas(polygons, npartitions=2))
    with pytest.raises(BatchError, match="table géographique"):
        bin_partitioned(pd.DataFrame({"x": [1.0]}))
    with pytest.raises(BatchError, match="ventilation"):
        bin_partitioned(ban, by="qpv_code", hotspots=True)
    with pytest.raises(BatchError, match="absente"):
        bin_partitioned(ban, by="inconnue")
    with pytest.raises(BatchError, match="positive"):
        bin_partitioned(ban, grid=BatchGrid(cell_m=0))
    with pytest.raises(BatchError, match="copies"):
        replicate_with_jitter(ban, copies=0)
    with pytest.raises(CRSError):
        replicate_with_jitter(no_crs, copies=1)
    for exc in (BatchError, CRSError, GeometryError):
        assert issubclass(exc, QPVError) and issubclass(exc, ValueError)


def test_distributed_client_scatters_the_index(ban: gpd.GeoDataFrame, perimeters: gpd.GeoDataFrame,
                                               rules: list[Rule]) -> None:
    distributed = pytest.importorskip("distributed")
    with warnings.catch_warnings():
        # distributed's own start-up noise under filterwarnings=error, not ours
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(distributed|tornado)\..*")
        # no dashboard; the scheduler's HTTP endpoints on a free loopback port (8787 may be taken)
        no_dashboard = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
        with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                      dashboard_address=None, scheduler_kwargs=no_dashboard) as cluster, \
                distributed.Client(cluster):
            got = lookup_partitioned(ban, perimeters, rules=rules, npartitions=3).compute()
            cells = bin_partitioned(ban, grid=BatchGrid(cell_m=150.0, shape="hex"), npartitions=3)
    pd.testing.assert_frame_equal(got, lookup_many(ban, build_index(perimeters, rules=rules)))
    expected = count_in_bins(make_bins(ban, size=150.0, shape="hex"), ban)
    np.testing.assert_array_equal(cells["count"].to_numpy(), expected["count"].to_numpy())
