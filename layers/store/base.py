"""The LayerStore interface: every storage backend answers to it.

Callers (importers, the web map, the CLI, the reports) only speak to this interface,
so a PostGIS backend can replace the embedded GeoPackage without changing them.

Records are GeoDataFrames in the store CRS (EPSG:2154) whose columns are the layer's
:attr:`~layers.schema.LayerSchema.field_names`; ``uid`` is the stable key.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Unpack

import geopandas as gpd
import pandas as pd

from layers.errors import RecordError
from layers.schema import LayerSchema
from layers.store.filters import BBox, BoundFilter, FilterKeywords, Page, RecordFilter, TimeLike


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the uids inserted and those already present (left untouched)."""

    inserted: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)

    @property
    def n_inserted(self) -> int:
        """Number of records inserted."""
        return len(self.inserted)

    @property
    def n_existing(self) -> int:
        """Number of records skipped because their uid was already stored."""
        return len(self.existing)


@dataclass(frozen=True)
class LayerInfo:
    """Summary of one layer in a store."""

    name: str
    label: str
    count: int
    bbox: BBox | None
    time_min: str | None
    time_max: str | None
    confidential: bool
    reference: bool
    simulated: int


class LayerStore(abc.ABC):
    """Storage of the layer kinds of :data:`layers.schema.LAYERS`.

    Every method that writes is atomic; several writes can be grouped in
    :meth:`transaction` so that they all land or none does.
    """

    crs: str

    # -- life cycle -------------------------------------------------------------
    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> LayerStore:
        """Return the store itself as the context."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store on leaving the context."""
        self.close()

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group writes: all of them are committed at the end, or none on error."""

    @contextlib.contextmanager
    def bulk_transaction(self) -> Iterator[None]:
        """One :meth:`transaction` for the many writes of an import.

        Backends that maintain derived state after each write (the GeoPackage's layer
        extents) do it once, at the end of the block, instead of after every write.
        """
        with self.transaction():
            yield

    # -- layers -----------------------------------------------------------------
    @abc.abstractmethod
    def layers(self) -> list[LayerInfo]:
        """Return a summary of every declared layer (count, extent, time span)."""

    # -- reading ----------------------------------------------------------------
    def read(
        self,
        layer: str,
        record_filter: RecordFilter | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        order_by: str | None = None,
        crs: Any = None,
        **filters: Unpack[FilterKeywords],
    ) -> gpd.GeoDataFrame:
        """Read the records of ``layer`` matching every filter given.

        Parameters
        ----------
        layer : str
            Layer name.
        record_filter : RecordFilter, optional
            The filters as one object; keywords given too replace its fields.
        limit, offset : int, optional
            Paging, in ``order_by`` order. By default: insertion order, except for
            a limited or offset ``bbox`` page, which may come in the spatial index's
            order (stable while the store is unchanged, and much faster for a first
            page over a wide area). An unlimited read never depends on the index's shape.
        order_by : str, optional
            A field name, ``-field`` for descending order.
        crs : optional
            Output CRS (store CRS by default).
        **filters
            The fields of :class:`~layers.store.filters.RecordFilter`: ``bbox``
            (``(xmin, ymin, xmax, ymax)``, records whose geometry intersects it),
            ``bbox_crs`` (CRS of ``bbox``, store CRS by default), ``start`` / ``end``
            (half-open interval ``[start, end)`` on the layer's time field: date, datetime
            or ISO string), ``where`` (``field -> value`` equality or ``field -> list``
            membership), ``before`` (``field -> date``: a date field set and strictly
            before it), ``uids`` (only these records).

        Returns
        -------
        geopandas.GeoDataFrame
            One row per record, columns in schema order.

        Raises
        ------
        UnknownLayerError, RecordError
            On an unknown layer or field name, or a malformed filter (naming the field).
        TypeError
            On a keyword that is not a filter.
        """
        flt = self._bind(layer, record_filter, filters)
        return self._read(flt, Page(limit, offset, order_by), crs=crs)

    def read_pages(
        self,
        layer: str,
        record_filter: RecordFilter | None = None,
        *,
        size: int = 10_000,
        crs: Any = None,
        **filters: Unpack[FilterKeywords],
    ) -> Iterator[gpd.GeoDataFrame]:
        """Yield the records :meth:`read` would return, in its order, ``size`` at a time.

        The filters are checked on the call (errors are raised before anything is read);
        records are read as the frames are consumed, so memory stays bounded by ``size``.
        Filters as in :meth:`read` (its default order: insertion order).

        Parameters
        ----------
        layer : str
            Layer name.
        record_filter : RecordFilter, optional
            The filters as one object; keywords given too replace its fields.
        size : int
            Records per frame (at least 1).
        crs : optional
            Output CRS (store CRS by default).
        **filters
            ``bbox``, ``start``, ``end``, ``where``… as in :meth:`read`.

        Yields
        ------
        geopandas.GeoDataFrame
            Frames of at most ``size`` records, columns as :meth:`read`'s; the first one is
            yielded even when nothing matches (empty, with every column). Each frame has
            its own index from 0.

        Raises
        ------
        UnknownLayerError, RecordError
            On an unknown layer or field name, or a malformed filter.
        ValueError
            On a ``size`` below 1.
        """
        if int(size) < 1:
            raise ValueError(f"size must be at least 1, not {size!r}")
        flt = self._bind(layer, record_filter, filters)
        return self._read_pages(flt, int(size), crs=crs)

    def _read_pages(self, flt: BoundFilter, size: int, *, crs: Any = None) -> Iterator[gpd.GeoDataFrame]:
        """Frames of :meth:`read_pages`; this generic version pages :meth:`_read` by offset.

        Backends override it with one cursor or keyset paging (offsets rescan the skipped
        rows, and a write between two pages could shift them).
        """
        offset = 0
        while True:
            page = self._read(flt, Page(size, offset), crs=crs)
            if len(page) or not offset:
                yield page
            if len(page) < size:
                return
            offset += len(page)

    def count(
        self,
        layer: str,
        record_filter: RecordFilter | None = None,
        *,
        at_most: int | None = None,
        **filters: Unpack[FilterKeywords],
    ) -> int:
        """Count the records :meth:`read` would return without paging.

        ``at_most`` stops counting there (the answer is then ``min(count, at_most)``), which
        is all a caller deciding between records and clusters needs. Filters as in
        :meth:`read`.
        """
        return self._count(self._bind(layer, record_filter, filters), at_most=at_most)

    def cluster(
        self,
        layer: str,
        record_filter: RecordFilter | None = None,
        *,
        cell_m: float,
        **filters: Unpack[FilterKeywords],
    ) -> pd.DataFrame:
        """Group the matching records on a square grid of ``cell_m`` metres (store CRS).

        Filters as in :meth:`read`.

        Returns
        -------
        pandas.DataFrame
            One row per occupied cell: ``count``, mean ``x`` / ``y`` of the members, and
            their extent ``xmin``, ``ymin``, ``xmax``, ``ymax``.
        """
        return self._cluster(self._bind(layer, record_filter, filters), cell_m=cell_m)

    def points(
        self,
        layer: str,
        record_filter: RecordFilter | None = None,
        *,
        fields: Sequence[str],
        limit: int | None = None,
        **filters: Unpack[FilterKeywords],
    ) -> pd.DataFrame:
        """Read only ``fields`` and the position of the matching records (the map's compact points).

        A narrow read of :meth:`read`: the same records in the same order, without the other
        fields. Filters as in :meth:`read`.

        Returns
        -------
        pandas.DataFrame
            The ``fields`` (typed as by :meth:`read`), then ``x`` / ``y`` in the store CRS:
            the point, or the centre of a geometry's envelope (NaN without a geometry).
        """
        flt = self._bind(layer, record_filter, filters)
        unknown = [n for n in fields if n not in flt.schema.field_names]
        if unknown:
            raise TypeError(f"unknown field {unknown[0]!r} of layer {layer!r}")
        return self._points(flt, fields=tuple(fields), limit=limit)

    def _points(self, flt: BoundFilter, *, fields: tuple[str, ...], limit: int | None) -> pd.DataFrame:
        """Fields and positions of the records matching ``flt`` (see :meth:`points`).

        Backends override this with a narrower query; this generic version reads the records.
        """
        import numpy as np
        import shapely

        gdf = self._read(flt, Page(limit))
        out = pd.DataFrame({n: gdf[n] for n in fields})
        if flt.schema.geometry is None or gdf.empty:
            out["x"], out["y"] = np.nan, np.nan
            return out
        bounds = shapely.bounds(gdf.geometry.to_numpy())  # NaN for a missing geometry
        out["x"] = (bounds[:, 0] + bounds[:, 2]) / 2
        out["y"] = (bounds[:, 1] + bounds[:, 3]) / 2
        return out

    def _bind(
        self, layer: str, record_filter: RecordFilter | None, filters: Mapping[str, Any]
    ) -> BoundFilter:
        """Return the filters of a query, checked against ``layer`` (TypeError on an unknown one)."""
        flt = RecordFilter.of(record_filter, filters)
        return flt.bind(self.schema(layer), self.crs)

    @abc.abstractmethod
    def _read(self, flt: BoundFilter, page: Page, *, crs: Any = None) -> gpd.GeoDataFrame:
        """Return the records matching ``flt``, paged, in ``crs`` (see :meth:`read`)."""

    @abc.abstractmethod
    def _count(self, flt: BoundFilter, *, at_most: int | None = None) -> int:
        """Return the number of records matching ``flt``, up to ``at_most`` (see :meth:`count`)."""

    def _cluster(self, flt: BoundFilter, *, cell_m: float) -> pd.DataFrame:
        """Grid cells of the records matching ``flt`` (see :meth:`cluster`).

        Backends override this with a database-side aggregate; this generic version reads
        the records.
        """
        import shapely

        from geo.stats.zones import CELL_COLUMNS, grid_cells

        gdf = self._read(flt, Page())
        geoms = gdf.geometry.to_numpy()
        geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
        if len(geoms) == 0 or cell_m <= 0:
            return pd.DataFrame(columns=CELL_COLUMNS)
        bounds = shapely.bounds(geoms)  # envelope centres, like the R-tree aggregate
        return grid_cells((bounds[:, 0] + bounds[:, 2]) / 2, (bounds[:, 1] + bounds[:, 3]) / 2,
                          cell_m=cell_m, bounds=bounds)

    def get(self, layer: str, uid: str) -> gpd.GeoDataFrame:
        """Return the one-row frame of record ``uid``.

        Raises
        ------
        NotFoundError
            When there is no such record.
        """
        from layers.errors import NotFoundError

        found = self.read(layer, uids=[uid])
        if found.empty:
            raise NotFoundError(f"Aucun enregistrement « {uid} » dans la couche « {layer} ».")
        return found

    def get_record(self, layer: str, uid: str) -> dict[str, Any]:
        """Return record ``uid`` as a dict: field name → the value of :meth:`get`'s row, then ``geometry``.

        The values and their types are those of ``get(layer, uid).iloc[0]`` (``pandas``
        timestamps, ``NA`` / ``NaT``, numpy bools and numbers, shapely geometry or None).
        Backends override this generic version with one query that builds no frame (what
        a single-record write reads).

        Raises
        ------
        NotFoundError
            When there is no such record.
        """
        return {str(k): v for k, v in self.get(layer, uid).iloc[0].items()}

    # -- writing ----------------------------------------------------------------
    @abc.abstractmethod
    def write(
        self,
        layer: str,
        records: gpd.GeoDataFrame,
        *,
        actor: str | None = None,
        validated: bool = False,
        history: pd.DataFrame | None = None,
    ) -> WriteResult:
        """Insert validated records; those whose uid is already stored are skipped.

        Parameters
        ----------
        layer : str
            Layer name.
        records : geopandas.GeoDataFrame
            Columns among the layer's fields, geometry in any CRS (reprojected).
            Records without ``uid`` get a random one.
        actor : str, optional
            Who writes (kept in status histories).
        validated : bool
            The records come straight from :func:`layers.validate.validate_frame` against
            this layer's schema (the importer does so): skip validating them again.
        history : pandas.DataFrame, optional
            Known status histories (``parent_uid``, ``status``, ``changed_at``,
            ``changed_by``, ``comment``) stored instead of the automatic creation entry.

        Returns
        -------
        WriteResult

        Raises
        ------
        RecordError
            When a record does not satisfy the layer schema.
        """

    @abc.abstractmethod
    def update(
        self,
        layer: str,
        uid: str,
        changes: Mapping[str, Any],
        *,
        actor: str | None = None,
        comment: str | None = None,
    ) -> None:
        """Change fields of one record; a status change is appended to its history.

        Raises
        ------
        NotFoundError, RecordError
        """

    @abc.abstractmethod
    def delete(self, layer: str, uids: Sequence[str]) -> int:
        """Delete records (and their child rows); return how many were deleted."""

    def history(self, layer: str, uid: str) -> pd.DataFrame:
        """Return the status history of a record, oldest first (its first child table).

        Raises
        ------
        UnknownLayerError
            On an unknown layer.
        RecordError
            When the layer keeps no status history.
        """
        schema = self.schema(layer)
        if not schema.status_field:
            raise RecordError(f"La couche « {layer} » n'a pas d'historique de statut.", field="status")
        return self.read_children(layer, schema.children[0].name, parent_uids=[uid])

    # -- child tables (events, readings) ---------------------------------------------
    @abc.abstractmethod
    def add_children(
        self, layer: str, child: str, rows: pd.DataFrame, *, actor: str | None = None
    ) -> WriteResult:
        """Insert dated child rows (``parent_uid`` column required); duplicates skipped.

        Raises
        ------
        NotFoundError
            When a ``parent_uid`` does not exist.
        RecordError
            When a row does not satisfy the child schema.
        """

    @abc.abstractmethod
    def read_children(
        self,
        layer: str,
        child: str,
        *,
        parent_uids: Sequence[str] | None = None,
        start: TimeLike = None,
        end: TimeLike = None,
    ) -> pd.DataFrame:
        """Read child rows, optionally for some parents and a time interval."""

    def delete_children(self, layer: str, child: str, uids: Sequence[str]) -> int:
        """Delete child rows by their uid (a link undone); return how many were deleted."""
        raise NotImplementedError(f"{type(self).__name__} ne sait pas supprimer de lignes filles.")

    # -- bookkeeping ------------------------------------------------------------
    @abc.abstractmethod
    def record_import(self, entry: Mapping[str, Any]) -> None:
        """Log an import (file, hash, counts) in the store."""

    @abc.abstractmethod
    def imports(self) -> pd.DataFrame:
        """Return the import log, newest last."""

    @abc.abstractmethod
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        """Return a store setting (territory extent, name...)."""

    @abc.abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Store a setting."""

    def revision(self) -> str | None:
        """Return a marker that changes whenever records change (None: the backend keeps none).

        Caches built from the store (the web lookup index) compare it to know when to
        rebuild; the GeoPackage's file modification time plays this part for files.
        """
        return None

    def layer_revision(self, layers: Sequence[str]) -> str | None:
        """Return a marker that changes whenever records of ``layers`` change (None: none kept).

        Caches that depend on some layers only (the lookup index reads the perimeters and
        the addresses) compare it to know when to rebuild, so that writes to other layers
        (a constat's status) leave them valid. The default is :meth:`revision` (any write).
        """
        return self.revision()

    def optimize(self, layers: Sequence[str] | None = None) -> list[str]:
        """Refresh the planner statistics and lay records out for the map's viewport queries.

        Maintenance after large imports.

        Parameters
        ----------
        layers : sequence of str, optional
            Only these layers (every layer holding records by default).

        Returns
        -------
        list of str
            The tables reorganised.
        """
        return []

    # -- copies between stores (see layers.store.copy) -------------------------------------
    def pages(self, layer: str, *, size: int = 10_000) -> Iterator[gpd.GeoDataFrame]:
        """Yield every record of ``layer`` in insertion order, ``size`` records at a time.

        Backends override this with keyset paging; this generic version pages by offset.
        """
        offset = 0
        while True:
            page = self.read(layer, limit=size, offset=offset)
            if page.empty:
                return
            yield page
            offset += len(page)

    def copy_rows(self, layer: str, rows: pd.DataFrame, *, child: str | None = None) -> int:
        """Insert rows exactly as another store returned them (for copies between stores).

        Records (or, with ``child``, rows of that child table) keep their uids, timestamps
        and flags; no validation, no automatic history entry; uids already stored are
        skipped.

        Returns
        -------
        int
            Number of rows inserted.
        """
        raise NotImplementedError(f"{type(self).__name__} ne sait pas recevoir une copie.")

    def meta(self) -> dict[str, str]:
        """Every store setting (key → value)."""
        raise NotImplementedError(f"{type(self).__name__} ne liste pas ses réglages.")

    # -- helpers shared by backends ----------------------------------------------------
    @staticmethod
    def schema(layer: str) -> LayerSchema:
        """Return the schema of ``layer`` (raises UnknownLayerError)."""
        from layers.schema import get_schema

        return get_schema(layer)


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    """Yield slices covering ``range(n)`` by blocks of ``size``."""
    for lo in range(0, n, size):
        yield slice(lo, min(n, lo + size))
