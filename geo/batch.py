"""National batch: address → QPV lookup and hotspot binning partitioned with dask-geopandas.

The single-process paths (:func:`geo.perimeters.lookup.lookup_many`, :func:`geo.stats.binning.count_in_bins`,
:func:`geo.stats.zones.grid_cells`) are mapped over the partitions of a
``dask_geopandas.GeoDataFrame``; nothing is re-implemented, so the answers are the same
row for row (the tests check it on real Paris BAN addresses).

* :func:`lookup_partitioned`: the lookup index (:func:`geo.perimeters.lookup.build_index`) is built
  once, in the calling process, and sent once to every worker (``scatter(broadcast=True)``
  under a distributed client, one graph key otherwise); each partition runs
  :func:`geo.perimeters.lookup.lookup_many` against it.
* :func:`bin_partitioned`: per-partition counts on a grid fixed in advance (the square
  cells of :func:`geo.stats.zones.grid_cells` keyed by ``floor(x / cell_m)``, or the hexagons of
  :func:`geo.stats.binning.make_bins`), then a tree reduction; optionally Getis-Ord Gi*
  (:func:`geo.stats.hotspots.getis_ord`) on the reduced grid, which is small.
* :func:`replicate_with_jitter` / :func:`replicate_partitioned`: a national-scale point
  set made of real addresses replicated with a seeded jitter, every row labelled
  ``simulated=True`` with its ``replica`` number; the partitioned version builds each
  partition on the worker that computes it.
* :func:`read_points`: GeoParquet, CSV (BAN per département, ``x``/``y`` Lambert-93 or
  ``lon``/``lat``) or any OGR file, read partitioned.

dask, distributed and dask-geopandas are optional (extra ``national``) and imported on
first use only.
"""

from __future__ import annotations

import glob
import importlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import TERRITORY_CRS, resolve_crs
from geo.errors import AnalysisError, BatchError, CRSError, GeometryError, MissingDependencyError
from geo.perimeters.lookup import AddressColumns, LookupIndex, build_index, lookup_many
from geo.perimeters.streetlist import Rule
from geo.stats.binning import BinShape, assign_bins, make_bins, point_coordinates
from geo.stats.hotspots import GiOptions, getis_ord

if TYPE_CHECKING:  # pragma: no cover
    import dask_geopandas

logger = logging.getLogger(__name__)

__all__ = [
    "BatchGrid",
    "bin_partitioned",
    "lookup_partitioned",
    "read_points",
    "replicate_partitioned",
    "replicate_with_jitter",
    "require_national",
    "to_partitioned",
    "write_parquet_parts",
]

SIMULATED_LABEL = "BAN réelle répliquée avec bruit (simulé)"
#: Coordinate columns of the source dropped from the copies (the geometry holds the moved point).
_COORDINATE_COLUMNS = ("x", "y", "lon", "lat")


def require_national(module: str) -> Any:
    """Import a module of the optional ``national`` extra (dask…), with a French install hint.

    Parameters
    ----------
    module : str
        Dotted module name (``dask.dataframe``, ``distributed``…).

    Returns
    -------
    module

    Raises
    ------
    MissingDependencyError
        When the extra is not installed (« pip install 'qpv-observatoire[national]' »).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - the extra is installed in dev
        raise MissingDependencyError(module.split(".")[0], extra="national",
                                     purpose="le traitement national") from exc


def _client() -> Any:
    """Return the active distributed client, or None (synchronous / threaded schedulers)."""
    try:
        from distributed import get_client
    except ImportError:  # pragma: no cover
        return None
    try:
        return get_client()
    except ValueError:
        return None


def _broadcast(obj: Any) -> Any:
    """Send ``obj`` once to every worker: a future under a distributed client, a graph key otherwise."""
    dask = require_national("dask")
    client = _client()
    if client is not None:
        future = client.scatter(obj, broadcast=True, hash=False)
        return dask.delayed(future)
    return dask.delayed(obj, pure=True)


# --------------------------------------------------------------------------- inputs


def _check_frame(points: gpd.GeoDataFrame, *, what: str = "points") -> None:
    """CRS and geometry type checks on a GeoDataFrame (or a dask partition's meta)."""
    if points.crs is None:
        raise CRSError(f"Les {what} n'ont pas de système de coordonnées déclaré.")
    resolve_crs(points.crs)


def _check_points(part: gpd.GeoDataFrame) -> None:
    """Every geometry of ``part`` is a point (missing and empty ones are allowed)."""
    geoms = part.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    types = shapely.get_type_id(geoms[ok])
    if len(types) and bool((types != 0).any()):
        kinds = sorted({shapely.get_type_id(g) for g in geoms[ok][types != 0][:5]})
        names = ", ".join(shapely.GeometryType(k).name.lower() for k in kinds)
        raise GeometryError(f"Le traitement par lots attend des points (géométries trouvées : {names}).")


def to_partitioned(
    points: gpd.GeoDataFrame | dask_geopandas.GeoDataFrame,
    *,
    npartitions: int | None = None,
    rows_per_partition: int = 500_000,
) -> dask_geopandas.GeoDataFrame:
    """Return ``points`` as a dask-geopandas frame, after the checks every batch function does.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or dask_geopandas.GeoDataFrame
        Points in a declared CRS.
    npartitions : int, optional
        Number of partitions (a dask frame is repartitioned only when given).
    rows_per_partition : int
        Partition size when ``npartitions`` is not given for an in-memory frame.

    Returns
    -------
    dask_geopandas.GeoDataFrame

    Raises
    ------
    BatchError
        When ``points`` is empty or not a (dask) GeoDataFrame.
    CRSError
        When ``points`` has no CRS.
    GeometryError
        When an in-memory frame holds other geometries than points (a dask frame is
        checked partition by partition when computed).
    """
    dgpd = require_national("dask_geopandas")
    if npartitions is not None and npartitions < 1:
        raise BatchError("Le nombre de partitions doit être au moins 1.")
    if isinstance(points, dgpd.GeoDataFrame):
        _check_frame(points._meta)
        if points.npartitions == 0:
            raise BatchError("Aucune partition de points à traiter.")
        return points.repartition(npartitions=npartitions) if npartitions else points
    if not isinstance(points, gpd.GeoDataFrame):
        raise BatchError("Les points doivent être une table géographique (GeoDataFrame).")
    if points.empty:
        raise BatchError("Aucun point à traiter : la table est vide.")
    _check_frame(points)
    _check_points(points)
    n = npartitions or max(1, -(-len(points) // max(1, rows_per_partition)))
    dask = require_national("dask")
    with dask.config.set({"dataframe.convert-string": False}):  # keep the columns' dtypes as given
        return dgpd.from_geopandas(points, npartitions=min(n, len(points)), sort=False)


def _frame_from_table(table: pd.DataFrame, crs: Any) -> gpd.GeoDataFrame:
    """Return a CSV partition → points from ``x``/``y`` (``crs``) or ``lon``/``lat`` (WGS84)."""
    if {"x", "y"} <= set(table.columns):
        x, y, src = table["x"], table["y"], crs
    elif {"lon", "lat"} <= set(table.columns):
        x, y, src = table["lon"], table["lat"], "EPSG:4326"
    else:
        raise BatchError("Fichier de points sans colonnes x/y ni lon/lat.")
    xs = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(y, errors="coerce").to_numpy(dtype=float)
    geoms: np.ndarray = np.asarray(shapely.points(xs, ys), dtype=object)
    geoms[~(np.isfinite(xs) & np.isfinite(ys))] = None
    return gpd.GeoDataFrame(table, geometry=geoms, crs=src)


def read_points(
    path: str | Path | Sequence[str | Path],
    *,
    npartitions: int | None = None,
    columns: Sequence[str] | None = None,
    crs: Any = TERRITORY_CRS,
    sep: str = ";",
    blocksize: str | int | None = "64MB",
) -> dask_geopandas.GeoDataFrame:
    """Read points partitioned from GeoParquet, CSV or any OGR file.

    Parameters
    ----------
    path : str, Path or sequence of them
        A file, a glob (``adresses-*.csv.gz``: one BAN file per département) or a list;
        ``s3://…`` and other fsspec URLs are passed to dask as they are (workers read them).
        ``.parquet`` (a file or a folder of parts) → :func:`dask_geopandas.read_parquet`;
        ``.csv`` / ``.csv.gz`` → :func:`dask.dataframe.read_csv` then points from ``x``/``y``
        (in ``crs``) or ``lon``/``lat``; anything else → :func:`dask_geopandas.read_file`.
    npartitions : int, optional
        Partitions for an OGR file (default: one per 500,000 rows).
    columns : sequence of str, optional
        Columns to keep (CSV and parquet).
    crs : optional
        CRS of the CSV ``x``/``y`` columns (Lambert-93 by default, as in the BAN).
    sep : str
        CSV separator (``;`` in the BAN).
    blocksize : str, int or None
        CSV block size (compressed files are read one partition per file).

    Returns
    -------
    dask_geopandas.GeoDataFrame

    Raises
    ------
    BatchError
        When no file matches.
    """
    dd = require_national("dask.dataframe")
    dgpd = require_national("dask_geopandas")
    paths = [str(p) for p in ([path] if isinstance(path, (str, Path)) else path)]
    remote = [p for p in paths if "://" in p]  # s3://, gs://, https://…: dask expands the globs
    found = remote + sorted({m for p in paths if "://" not in p
                             for m in (glob.glob(p) or ([p] if Path(p).exists() else []))})
    if not found:
        raise BatchError(f"Aucun fichier de points trouvé : {', '.join(paths)}.")
    first = found[0].lower()
    cols = list(columns) if columns else None
    if first.endswith(".parquet") or ("://" not in first and Path(found[0]).is_dir()):
        frame = dgpd.read_parquet(found if len(found) > 1 else found[0], columns=cols)
    elif first.endswith((".csv", ".csv.gz", ".txt")):
        compressed = first.endswith(".gz")
        table = dd.read_csv(found, sep=sep, dtype=str, blocksize=None if compressed else blocksize,
                            usecols=cols, keep_default_na=False)
        sample = _frame_from_table(table._meta, crs)
        frame = table.map_partitions(_frame_from_table, crs, meta=sample)
    else:
        frames = [dgpd.read_file(p, npartitions=npartitions or 1) for p in found]
        frame = frames[0] if len(frames) == 1 else dd.concat(frames)
    if npartitions and not first.endswith((".shp", ".gpkg", ".geojson", ".zip")):
        frame = frame.repartition(npartitions=npartitions)
    logger.info("%d fichier(s) de points lus en %d partition(s)", len(found), frame.npartitions)
    return to_partitioned(frame)


def _write_part(part: gpd.GeoDataFrame, folder: str, summarize: Callable[[pd.DataFrame], pd.DataFrame] | None,
                partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    number = (partition_info or {}).get("number", 0)
    part.to_parquet(Path(folder) / f"part.{number:05d}.parquet", index=True)
    return summarize(part) if summarize is not None else pd.DataFrame({"rows": [len(part)]})


def write_parquet_parts(
    frame: dask_geopandas.GeoDataFrame,
    folder: str | Path,
    *,
    summarize: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> Any:
    """Write every partition as GeoParquet (``folder/part.00000.parquet``…), lazily.

    Each worker writes its own partitions with :meth:`geopandas.GeoDataFrame.to_parquet`;
    the folder reads back with :func:`read_points`, :func:`dask_geopandas.read_parquet` or
    :func:`geopandas.read_parquet`. A small per-partition ``summarize`` table comes back
    from the same pass (counts per QPV…), so the data is computed once.

    Parameters
    ----------
    frame : dask_geopandas.GeoDataFrame
        The partitioned result (e.g. of :func:`lookup_partitioned`).
    folder : str or Path
        Output folder, created if missing (existing ``part.*.parquet`` are removed).
    summarize : callable, optional
        ``summarize(partition) -> DataFrame``, applied to ``frame._meta`` for the meta;
        by default one row with the number of rows written.

    Returns
    -------
    dask.dataframe.DataFrame
        The per-partition summaries (compute it to write the files).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part.*.parquet"):
        old.unlink()
    meta = (summarize(frame._meta) if summarize is not None
            else pd.DataFrame({"rows": pd.Series([], dtype=int)}))
    return frame.map_partitions(_write_part, str(out), summarize, meta=meta, align_dataframes=False,
                                enforce_metadata=False)


# --------------------------------------------------------------------------- synthetic national set


def _replica(addresses: gpd.GeoDataFrame, replica: int, *, jitter_m: float, seed: int) -> gpd.GeoDataFrame:
    """Copy number ``replica`` of the addresses, each point moved by a seeded uniform jitter."""
    xy = point_coordinates(addresses)
    rng = np.random.default_rng([int(seed), int(replica)])
    shift = rng.uniform(-jitter_m, jitter_m, size=xy.shape) if jitter_m > 0 else np.zeros_like(xy)
    moved = xy + shift
    geoms: np.ndarray = np.asarray(shapely.points(moved), dtype=object)
    geoms[~np.isfinite(moved).all(axis=1)] = None
    stale = [c for c in (addresses.geometry.name, *_COORDINATE_COLUMNS) if c in addresses.columns]
    out = gpd.GeoDataFrame(addresses.drop(columns=stale), geometry=geoms, crs=TERRITORY_CRS)
    out["replica"] = np.int32(replica)
    out["simulated"] = True
    out["source_dataset"] = SIMULATED_LABEL
    out.index = pd.RangeIndex(len(out)) + replica * len(out)
    return out


def _check_replication(addresses: Any, copies: int, jitter_m: float) -> None:
    if copies < 1:
        raise BatchError("Le nombre de copies doit être au moins 1.")
    if not (jitter_m >= 0 and np.isfinite(jitter_m)):
        raise BatchError("Le bruit (jitter_m) doit être un nombre de mètres positif ou nul.")
    if isinstance(addresses, gpd.GeoDataFrame):
        if addresses.empty:
            raise BatchError("Aucune adresse à répliquer : la table est vide.")
        _check_frame(addresses, what="adresses")
        _check_points(addresses)


def replicate_with_jitter(
    addresses: gpd.GeoDataFrame, *, copies: int, jitter_m: float = 15.0, seed: int = 0, first: int = 0
) -> gpd.GeoDataFrame:
    """Replicate real addresses ``copies`` times, each copy moved by a seeded jitter.

    The rows are SIMULATED (replicated real addresses) and say so: ``simulated`` is True,
    ``replica`` numbers the copy and ``source_dataset`` reads « BAN réelle répliquée avec
    bruit (simulé) ». The jitter is uniform in ``[-jitter_m, jitter_m]`` on each axis of
    Lambert-93, drawn from a generator seeded by ``(seed, replica)``: copy *k* is the same
    whichever process builds it, alone or among others.

    Parameters
    ----------
    addresses : geopandas.GeoDataFrame
        Real address points (any declared CRS; the copies are in EPSG:2154).
    copies : int
        Number of copies.
    jitter_m : float
        Maximum shift on each axis, in metres.
    seed : int
        Seed of the jitter.
    first : int
        Number of the first copy (copies ``first`` … ``first + copies - 1``).

    Returns
    -------
    geopandas.GeoDataFrame
        ``copies × len(addresses)`` rows, the columns of ``addresses`` (but ``x``, ``y``,
        ``lon``, ``lat``: the geometry holds the moved point) plus ``replica``,
        ``simulated`` and ``source_dataset``; the index is unique (``replica × n + row``).

    Raises
    ------
    BatchError
        On an empty table or bad options.
    CRSError
        When ``addresses`` has no CRS.
    GeometryError
        When ``addresses`` holds other geometries than points.
    """
    _check_replication(addresses, copies, jitter_m)
    parts = [_replica(addresses, first + k, jitter_m=jitter_m, seed=seed) for k in range(copies)]
    return pd.concat(parts) if len(parts) > 1 else parts[0]


def _replica_block(addresses: gpd.GeoDataFrame, replicas: tuple[int, int], jitter_m: float,
                   seed: int) -> gpd.GeoDataFrame:
    start, stop = replicas
    return replicate_with_jitter(addresses, copies=stop - start, jitter_m=jitter_m, seed=seed, first=start)


def replicate_partitioned(
    addresses: gpd.GeoDataFrame | Any,
    *,
    copies: int,
    jitter_m: float = 15.0,
    seed: int = 0,
    copies_per_partition: int = 1,
    meta: gpd.GeoDataFrame | None = None,
    rows: int | None = None,
) -> dask_geopandas.GeoDataFrame:
    """Lazy :func:`replicate_with_jitter`: each partition is built by the worker computing it.

    The addresses are sent once (scattered to every worker under a distributed client), or
    read by a worker when given as a ``dask.delayed`` (e.g. ``delayed(read_ban)(path)``):
    the replicated points never exist in the calling process.

    Parameters
    ----------
    addresses : geopandas.GeoDataFrame or dask.delayed.Delayed
        Real address points, or a delayed computation producing them (then ``meta``
        and ``rows`` are required).
    copies : int
        Number of copies.
    jitter_m, seed : float, int
        As in :func:`replicate_with_jitter` (the same rows come out).
    copies_per_partition : int
        Copies per partition.
    meta : geopandas.GeoDataFrame, optional
        A frame (empty will do) with the columns and dtypes of the addresses, when they
        are delayed.
    rows : int, optional
        Number of addresses (for the divisions) when ``addresses`` is delayed.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        ``ceil(copies / copies_per_partition)`` partitions with known divisions.

    Raises
    ------
    BatchError
        On bad options, or a delayed input without ``meta`` and ``rows``.
    """
    dd = require_national("dask.dataframe")
    require_national("dask_geopandas")
    _check_replication(addresses, copies, jitter_m)
    if copies_per_partition < 1:
        raise BatchError("Il faut au moins une copie par partition.")
    if isinstance(addresses, gpd.GeoDataFrame):
        meta, rows = addresses, len(addresses)
        source = _broadcast(addresses)
    elif meta is None or rows is None:
        raise BatchError("Donner meta et rows quand les adresses sont une tâche différée.")
    else:
        source = addresses
    empty = _replica(meta.iloc[:0], 0, jitter_m=0.0, seed=seed)
    blocks = [(s, min(s + copies_per_partition, copies)) for s in range(0, copies, copies_per_partition)]
    dask = require_national("dask")
    parts = [dask.delayed(_replica_block, pure=True)(source, b, jitter_m, seed) for b in blocks]
    divisions = [b[0] * rows for b in blocks] + [copies * rows - 1]
    frame = dd.from_delayed(parts, meta=empty, divisions=divisions, verify_meta=False)
    logger.info("%d copies × %d adresses en %d partitions (simulé)", copies, rows, len(blocks))
    return frame


# --------------------------------------------------------------------------- lookup


def _lookup_part(part: gpd.GeoDataFrame, index: LookupIndex, options: dict[str, Any]) -> pd.DataFrame:
    """One partition through :func:`~geo.perimeters.lookup.lookup_many` (index prepared once per worker)."""
    geoms = index.perimeters.geometry.to_numpy()
    if len(geoms) and not bool(shapely.is_prepared(geoms).all()):
        shapely.prepare(geoms)  # lost in pickling; the worker keeps the prepared copy
    _check_points(part)
    return lookup_many(part, index, **options)


def lookup_partitioned(
    points: gpd.GeoDataFrame | dask_geopandas.GeoDataFrame,
    perimeters: gpd.GeoDataFrame | LookupIndex,
    *,
    rules: Sequence[Rule] | None = None,
    npartitions: int | None = None,
    max_distance_m: float = 200.0,
    columns: AddressColumns | None = None,
    commune: str | None = None,
) -> dask_geopandas.GeoDataFrame:
    """Find the QPV of every point, partition by partition (lazy).

    Runs :func:`geo.perimeters.lookup.lookup_many` on each partition against one index built here
    by :func:`geo.perimeters.lookup.build_index` and sent once to the workers: the result, once
    computed, equals ``lookup_many(points, build_index(perimeters, rules=rules))``.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or dask_geopandas.GeoDataFrame
        Address points in a declared CRS, with the BAN street columns (``nom_voie``,
        ``numero``, ``nom_commune``) when street rules are to be checked.
    perimeters : geopandas.GeoDataFrame or geo.perimeters.lookup.LookupIndex
        QPV perimeters (any CRS, repaired if invalid) or a ready index.
    rules : sequence of Rule, optional
        Street rules (ignored when ``perimeters`` is an index).
    npartitions : int, optional
        Partitions (see :func:`to_partitioned`).
    max_distance_m : float
        Boundary distances beyond this are NaN.
    columns : geo.perimeters.lookup.AddressColumns, optional
        Address columns of the points, as in :func:`geo.perimeters.lookup.lookup_many`
        (by default the BAN ones when present).
    commune : str, optional
        As in :func:`geo.perimeters.lookup.lookup_many`.

    Returns
    -------
    dask_geopandas.GeoDataFrame
        ``points`` with the :data:`geo.perimeters.lookup.LOOKUP_COLUMNS` (categoricals with known
        categories), same index and divisions.

    Raises
    ------
    BatchError, CRSError, GeometryError
        On unusable points (see :func:`to_partitioned`).
    geo.perimeters.lookup.QPVLookupError
        On unusable perimeters.
    """
    frame = to_partitioned(points, npartitions=npartitions)
    if isinstance(perimeters, LookupIndex):
        index = perimeters
    else:
        if isinstance(perimeters, gpd.GeoDataFrame):
            _check_frame(perimeters, what="périmètres")
        index = build_index(perimeters, rules=rules, max_distance_m=max_distance_m)
    options: dict[str, Any] = {"columns": columns or AddressColumns(), "commune": commune}
    meta = lookup_many(frame._meta, index, **options)
    logger.info("recherche QPV sur %d partitions (%d périmètres, %d règles)", frame.npartitions,
                len(index.perimeters), len(index.rules))
    return frame.map_partitions(_lookup_part, _broadcast(index), options, meta=meta,
                                align_dataframes=False)


# --------------------------------------------------------------------------- binning


@dataclass(frozen=True, eq=False)
class BatchGrid:
    """The grid :func:`bin_partitioned` counts on.

    Attributes
    ----------
    cell_m : float
        Cell size in metres (side of a square, width of a hexagon).
    shape : {"square", "hex"}
        Sparse squares keyed by ``floor(x / cell_m), floor(y / cell_m)`` (fit for all of
        France), or the hexagons of :func:`geo.stats.binning.make_bins`.
    bins : geopandas.GeoDataFrame, optional
        A ready hexagon grid (:func:`geo.stats.binning.make_bins`), for ``hex``.
    bounds : tuple of float, optional
        ``(xmin, ymin, xmax, ymax)`` in EPSG:2154 of the hexagon grid, for ``hex``
        without ``bins`` (the points' bounding box otherwise).

    Raises
    ------
    BatchError
        When ``cell_m`` is not positive or the shape is unknown.
    """

    cell_m: float = 200.0
    shape: BinShape = "square"
    bins: gpd.GeoDataFrame | None = None
    bounds: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if not self.cell_m > 0:
            raise BatchError("La taille de maille doit être positive.")
        if self.shape not in ("square", "hex"):
            raise BatchError(f"Grille inconnue « {self.shape} » (square ou hex).")


_SQUARE_AGG = {"count": "sum", "sx": "sum", "sy": "sum", "xmin": "min", "ymin": "min", "xmax": "max",
               "ymax": "max"}


def _by_values(part: pd.DataFrame, by: str | None, ok: np.ndarray) -> dict[str, Any]:
    return {} if by is None else {by: part[by].to_numpy()[ok]}


def _square_partial(part: gpd.GeoDataFrame, cell_m: float, by: str | None) -> pd.DataFrame:
    """Return the counts, coordinate sums and extents per occupied square cell of one partition."""
    _check_points(part)
    xy = point_coordinates(gpd.GeoDataFrame(geometry=part.geometry, crs=part.crs))
    ok = np.isfinite(xy).all(axis=1)
    xy = xy[ok]
    keys = np.floor(xy / cell_m).astype(np.int64)
    table = pd.DataFrame({**_by_values(part, by, ok), "cell_x": keys[:, 0], "cell_y": keys[:, 1],
                          "count": np.ones(len(xy), dtype=np.int64), "sx": xy[:, 0], "sy": xy[:, 1],
                          "xmin": xy[:, 0], "ymin": xy[:, 1], "xmax": xy[:, 0], "ymax": xy[:, 1]})
    group = [*([by] if by else []), "cell_x", "cell_y"]
    return table.groupby(group, sort=False, observed=True, dropna=False).agg(_SQUARE_AGG).reset_index()


def _square_combine(parts: list[pd.DataFrame], by: str | None) -> pd.DataFrame:
    group = [*([by] if by else []), "cell_x", "cell_y"]
    table = pd.concat(parts, ignore_index=True)
    return table.groupby(group, sort=False, observed=True, dropna=False).agg(_SQUARE_AGG).reset_index()


def _hex_partial(part: gpd.GeoDataFrame, bins: gpd.GeoDataFrame, by: str | None) -> pd.DataFrame:
    """Return the counts per (``by``, bin position) of one partition on the broadcast grid."""
    _check_points(part)
    pos = assign_bins(bins, gpd.GeoDataFrame(geometry=part.geometry, crs=part.crs))
    ok = pos >= 0
    if by is None:
        counts = np.bincount(pos[ok], minlength=len(bins))
        nz = np.flatnonzero(counts)
        return pd.DataFrame({"bin": nz, "count": counts[nz].astype(np.int64)})
    table = pd.DataFrame({by: part[by].to_numpy()[ok], "bin": pos[ok]})
    return table.groupby([by, "bin"], sort=False, observed=True, dropna=False).size().rename(
        "count").reset_index()


def _hex_combine(parts: list[pd.DataFrame], by: str | None) -> pd.DataFrame:
    table = pd.concat(parts, ignore_index=True)
    group = [*([by] if by else []), "bin"]
    return table.groupby(group, sort=False, observed=True, dropna=False)["count"].sum().reset_index()


def _tree_reduce(parts: list[Any], combine: Callable[[list[pd.DataFrame], str | None], pd.DataFrame],
                 by: str | None, fan_in: int = 8) -> pd.DataFrame:
    """Combine per-partition tables ``fan_in`` at a time, then compute the last one."""
    dask = require_national("dask")
    level = parts
    while len(level) > 1:
        level = [dask.delayed(combine, pure=True)(level[i:i + fan_in], by)
                 for i in range(0, len(level), fan_in)]
    if len(parts) == 1:
        level = [dask.delayed(combine, pure=True)(parts, by)]
    (out,) = dask.compute(level[0])
    return pd.DataFrame(out)


def _total_bounds(frame: Any) -> tuple[float, float, float, float]:
    """Bounds (EPSG:2154) of the located points of all partitions."""
    dask = require_national("dask")

    def part_bounds(part: gpd.GeoDataFrame) -> np.ndarray:
        xy = point_coordinates(gpd.GeoDataFrame(geometry=part.geometry, crs=part.crs))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            return np.array([np.inf, np.inf, -np.inf, -np.inf])
        return np.array([*xy.min(axis=0), *xy.max(axis=0)])

    (all_bounds,) = dask.compute([dask.delayed(part_bounds)(p) for p in frame.to_delayed()])
    b = np.vstack(all_bounds)
    out = (float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max()))
    if not np.isfinite(out).all():
        raise AnalysisError("Aucun point localisé pour construire les mailles.")
    return out


def _square_result(table: pd.DataFrame, cell_m: float, by: str | None) -> gpd.GeoDataFrame:
    """Reduced square cells in :func:`geo.stats.zones.grid_cells` order, with their squares."""
    keys = [*([by] if by else []), "cell_x", "cell_y"]
    table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    count = table["count"].to_numpy(dtype=np.int64)
    kx, ky = table["cell_x"].to_numpy(), table["cell_y"].to_numpy()
    cells = shapely.box(kx * cell_m, ky * cell_m, (kx + 1) * cell_m, (ky + 1) * cell_m)
    data = {**({by: table[by]} if by else {}), "cell_x": kx, "cell_y": ky, "count": count,
            "x": table["sx"].to_numpy() / count, "y": table["sy"].to_numpy() / count,
            **{c: table[c].to_numpy() for c in ("xmin", "ymin", "xmax", "ymax")}}
    out = gpd.GeoDataFrame(data, geometry=cells, crs=TERRITORY_CRS)
    out.attrs.update({"bin_size": float(cell_m), "bin_shape": "square"})
    return out


def _square_hotspots(cells: gpd.GeoDataFrame, cell_m: float, gi: GiOptions) -> gpd.GeoDataFrame:
    """Gi* on the full square grid over the occupied cells (empty cells count 0)."""
    x0, y0 = cells["cell_x"].min() * cell_m, cells["cell_y"].min() * cell_m
    x1, y1 = (cells["cell_x"].max() + 1) * cell_m, (cells["cell_y"].max() + 1) * cell_m
    grid = make_bins(area=shapely.box(x0, y0, x1, y1), size=cell_m, shape="square")
    gx = np.floor(grid["x"].to_numpy() / cell_m).astype(np.int64)
    gy = np.floor(grid["y"].to_numpy() / cell_m).astype(np.int64)
    grid["cell_x"], grid["cell_y"] = gx, gy
    occupied = pd.MultiIndex.from_arrays([cells["cell_x"], cells["cell_y"]])
    counts = pd.Series(cells["count"].to_numpy(), index=occupied)
    grid["count"] = counts.reindex(pd.MultiIndex.from_arrays([gx, gy]), fill_value=0).to_numpy()
    return getis_ord(grid, value="count", distance=gi.distance, fdr=gi.fdr, alpha=gi.alpha)


def _square_bins(parts: list[Any], cell_m: float, by: str | None, fan_in: int) -> gpd.GeoDataFrame:
    """Occupied square cells of the partitions, reduced (see :func:`bin_partitioned`)."""
    dask = require_national("dask")
    partials = [dask.delayed(_square_partial, pure=True)(p, cell_m, by) for p in parts]
    table = _tree_reduce(partials, _square_combine, by, fan_in)
    if table.empty:
        raise AnalysisError("Aucun point localisé pour construire les mailles.")
    return _square_result(table, cell_m, by)


def _hex_bins(parts: list[Any], bins: gpd.GeoDataFrame, by: str | None, fan_in: int) -> gpd.GeoDataFrame:
    """Return the counts of the partitions on the hexagons ``bins``, reduced (see :func:`bin_partitioned`)."""
    dask = require_national("dask")
    grid = _broadcast(bins)
    partials = [dask.delayed(_hex_partial, pure=True)(p, grid, by) for p in parts]
    table = _tree_reduce(partials, _hex_combine, by, fan_in)
    logger.info("%d mailles, %d occupées, %d partitions", len(bins), len(table), len(parts))
    if by is None:
        out = bins.copy()
        counts = np.zeros(len(bins), dtype=np.int64)
        counts[table["bin"].to_numpy(dtype=np.int64)] = table["count"].to_numpy(dtype=np.int64)
        out["count"] = counts
        return out
    table = table.sort_values([by, "bin"], kind="stable").reset_index(drop=True)
    pos = table["bin"].to_numpy(dtype=np.int64)
    cells = bins.iloc[pos].reset_index(drop=True)
    columns = {c: cells[c].to_numpy() for c in ("bin_id", "x", "y")}
    long = gpd.GeoDataFrame({by: table[by].to_numpy(), **columns,
                             "count": table["count"].to_numpy(dtype=np.int64)},
                            geometry=cells.geometry.to_numpy(), crs=TERRITORY_CRS)
    long.attrs.update(bins.attrs)
    return long


def bin_partitioned(
    points: gpd.GeoDataFrame | dask_geopandas.GeoDataFrame,
    *,
    grid: BatchGrid = BatchGrid(),
    by: str | None = None,
    hotspots: bool = False,
    gi: GiOptions | None = None,
    npartitions: int | None = None,
    fan_in: int = 8,
) -> gpd.GeoDataFrame:
    """Count points per grid cell, partition by partition, then reduce (computed).

    Two grids, the same as the single-process code:

    ``square``
        Cells keyed by ``floor(x / cell_m), floor(y / cell_m)`` in Lambert-93, as
        :func:`geo.stats.zones.grid_cells` (and the square cells of :func:`geo.stats.binning.make_bins`
        of that size): only occupied cells come out, in the order of
        :func:`geo.stats.zones.grid_cells`, with the same ``count``, ``x``, ``y`` (mean of the
        members, up to float summation order) and extent. Sparse: fit for all of France.
    ``hex``
        The hexagons of :func:`geo.stats.binning.make_bins` over ``grid.bins``, or over
        ``grid.bounds``, or over the points' bounding box (one more pass over the data):
        every cell comes out, with the counts of :func:`geo.stats.binning.count_in_bins`.

    Parameters
    ----------
    points : geopandas.GeoDataFrame or dask_geopandas.GeoDataFrame
        Points in a declared CRS.
    grid : BatchGrid
        Cell size (200 m by default), shape (``square`` by default) and, for ``hex``,
        the ready cells or their extent.
    by : str, optional
        Column to break the counts down by (one row per value and occupied cell).
    hotspots : bool
        Also run Getis-Ord Gi* (:func:`geo.stats.hotspots.getis_ord`) on the reduced grid (for
        ``square``: on the full grid over the occupied cells' extent, empty cells 0).
    gi : geo.stats.hotspots.GiOptions, optional
        Settings of that Gi* (neighbourhood distance, FDR correction, significance level);
        the defaults of :class:`~geo.stats.hotspots.GiOptions` when omitted.
    npartitions : int, optional
        Partitions (see :func:`to_partitioned`).
    fan_in : int
        Partial tables combined per reduction task.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:2154, ``attrs["bin_size"]`` and ``attrs["bin_shape"]`` set. ``square``:
        ``cell_x``, ``cell_y`` and the :data:`geo.stats.zones.CELL_COLUMNS`; ``hex``: the columns
        of :func:`geo.stats.binning.make_bins` and ``count``; with ``by``, its column first;
        with ``hotspots``, the Gi* columns.

    Raises
    ------
    BatchError
        On bad options (``by`` with ``hotspots``, a missing ``by`` column).
    AnalysisError
        When no point is located.
    """
    if by is not None and hotspots:
        raise BatchError("Le Gi* se calcule sans ventilation : retirer by ou hotspots.")
    frame = to_partitioned(points, npartitions=npartitions)
    if by is not None and by not in frame.columns:
        raise BatchError(f"Colonne de ventilation « {by} » absente des points.")
    parts = frame.to_delayed()
    cell_m = float(grid.cell_m)
    gi = gi if gi is not None else GiOptions()
    if grid.shape == "square":
        cells = _square_bins(parts, cell_m, by, fan_in)
        return _square_hotspots(cells, cell_m, gi) if hotspots else cells
    bins = grid.bins
    if bins is None:
        box = grid.bounds if grid.bounds is not None else _total_bounds(frame)
        bins = make_bins(area=shapely.box(*box), size=cell_m, shape="hex")
    out = _hex_bins(parts, bins, by, fan_in)
    if hotspots:
        return getis_ord(out, value="count", distance=gi.distance, fdr=gi.fdr, alpha=gi.alpha)
    return out
