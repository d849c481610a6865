"""Export of a layer (or a filtered selection) to GeoPackage, GeoJSON or CSV.

CSV and GeoJSON are written as they are read: :func:`csv_chunks` and :func:`geojson_chunks`
turn the frames of :meth:`~layers.store.base.LayerStore.read_pages` into text, one page at a
time, giving the same text as encoding the whole selection at once (the records in the same
order, the GeoJSON ids numbered across pages). Memory is bounded by the page size, not by the
layer.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import pandas as pd
import pyogrio

from layers.errors import RecordError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

FORMATS = ("gpkg", "geojson", "csv")
#: Records read, converted and written at a time.
PAGE_SIZE = 5_000
#: Separator of the CSV exports.
CSV_SEP = ";"
#: Cells pandas formats at a time when writing CSV (``pandas.io.formats.csvs``).
_CSV_BLOCK_CELLS = 100_000
#: Features encoded at a time.
_GEOJSON_BATCH = 1_000
_GEOJSON_HEAD = '{"type": "FeatureCollection", "features": ['
_GEOJSON_TAIL = "]}"


def to_export_frame(gdf: gpd.GeoDataFrame, fmt: str) -> gpd.GeoDataFrame | pd.DataFrame:
    """Prepare records for a format: WGS84 for GeoJSON, lon/lat + WKT columns for CSV."""
    if fmt == "geojson":
        out = gdf.to_crs("EPSG:4326")
    elif fmt == "csv":
        wgs = gdf.to_crs("EPSG:4326")
        pts = wgs.geometry.representative_point()
        out = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        out["lon"] = pts.x.round(7)
        out["lat"] = pts.y.round(7)
        out["wkt_lambert93"] = gdf.geometry.to_wkt()
        return out
    else:
        out = gdf
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out = out.assign(**{col: out[col].dt.strftime("%Y-%m-%dT%H:%M:%S").where(out[col].notna())})
    return out


def csv_chunks(pages: Iterable[gpd.GeoDataFrame]) -> Iterator[str]:
    """Yield the CSV text of the records of ``pages``, chunk by chunk.

    The text is exactly what ``to_export_frame(all_records, "csv").to_csv(sep=";",
    index=False)`` gives. pandas writes a frame in blocks of ``100,000 / columns`` rows and
    formats some columns per block (dates and times: bare dates when every value of the
    block is at midnight), so the pages are regrouped into the same blocks before being
    written: memory stays bounded by a page plus a block.

    Parameters
    ----------
    pages : iterable of geopandas.GeoDataFrame
        Records in the store CRS, every page with the same columns. The header comes with
        the first page (which may be empty: then the header alone), so ``pages`` must yield
        at least one frame, as :meth:`LayerStore.read_pages` does.

    Yields
    ------
    str
        CSV text (``;``-separated, newline line ends), the header first.
    """
    block = 0
    parts: list[pd.DataFrame] = []  # the rows of the block begun, fewer than a block
    held = 0
    for page in pages:
        out = to_export_frame(page, "csv")
        if not block:
            block = max(1, _CSV_BLOCK_CELLS // (len(out.columns) or 1))
            yield _csv_text(out.iloc[:0], header=True, block=block)
        while len(out):
            if not held and len(out) >= block:  # whole blocks straight from the page
                full = len(out) // block * block
                yield _csv_text(out.iloc[:full], header=False, block=block)
                out = out.iloc[full:]
                continue
            take = min(block - held, len(out))
            parts.append(out.iloc[:take])
            held += take
            out = out.iloc[take:]
            if held == block:
                yield _csv_text(pd.concat(parts), header=False, block=block)
                parts, held = [], 0
    if parts:
        yield _csv_text(pd.concat(parts), header=False, block=block)


def _csv_text(frame: pd.DataFrame, *, header: bool, block: int) -> str:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, sep=CSV_SEP, header=header, chunksize=block)
    return buf.getvalue()


def geojson_chunks(pages: Iterable[gpd.GeoDataFrame]) -> Iterator[str]:
    """Yield a GeoJSON FeatureCollection (WGS84) of the records of ``pages``, page by page.

    The text is what ``GeoDataFrame.to_json(na="null", ensure_ascii=False)`` of the whole
    selection gives: features in order, ``id`` numbered from 0 across the pages.

    Parameters
    ----------
    pages : iterable of geopandas.GeoDataFrame
        Records in any CRS with one defined.

    Yields
    ------
    str
        The collection's opening, then the features of each page, then its closing.
    """
    yield _GEOJSON_HEAD
    done = 0
    for page in pages:
        if page.empty:
            continue
        numbered = page.set_axis(pd.RangeIndex(done, done + len(page)))
        out = cast(gpd.GeoDataFrame, to_export_frame(numbered, "geojson"))
        for lo in range(0, len(out), _GEOJSON_BATCH):  # feature dicts are ~10x their text
            batch = out.iloc[lo:lo + _GEOJSON_BATCH].iterfeatures(na="null")
            yield (", " if done + lo else "") + ", ".join(json.dumps(f, ensure_ascii=False) for f in batch)
        done += len(page)
    yield _GEOJSON_TAIL


def export_layer(
    store: LayerStore, layer: str, path: str | Path, *, fmt: str | None = None, **filters: Any
) -> int:
    """Write ``layer`` (filtered like :meth:`LayerStore.read`) to ``path``.

    CSV is written page by page (memory bounded by :data:`PAGE_SIZE`); GeoPackage and
    GeoJSON go through GDAL's drivers in one write, as before. The file is written beside
    ``path`` under a temporary name and renamed once complete: an export that fails
    half-way leaves no partial file under the name asked for.

    Parameters
    ----------
    store : LayerStore
        Source.
    layer : str
        Layer name.
    path : str or Path
        Output file.
    fmt : {"gpkg", "geojson", "csv"}, optional
        Taken from the file suffix when omitted.
    **filters
        ``bbox``, ``start``, ``end``, ``where``… passed to :meth:`LayerStore.read_pages`.

    Returns
    -------
    int
        Number of records written.

    Raises
    ------
    RecordError
        On an unknown format.
    """
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise RecordError(f"Format d'export inconnu « {fmt} » (formats : {', '.join(FORMATS)}).",
                          field="format")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partiel{path.suffix}")
    partial.unlink(missing_ok=True)
    try:
        if fmt == "csv":
            pages = _PageCounter(store.read_pages(layer, size=PAGE_SIZE, **filters))
            with partial.open("w", encoding="utf-8", newline="") as fh:
                fh.writelines(csv_chunks(pages))
            count = pages.count
        else:
            gdf = store.read(layer, **filters)
            pyogrio.write_dataframe(to_export_frame(gdf, fmt), partial, layer=layer,
                                    driver="GPKG" if fmt == "gpkg" else "GeoJSON")
            count = len(gdf)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    logger.info("exported %d records of %s to %s", count, layer, path)
    return count


class _PageCounter:
    """Iterate ``pages`` counting their records (``count`` once consumed)."""

    def __init__(self, pages: Iterator[gpd.GeoDataFrame]) -> None:
        self._pages = pages
        self.count = 0

    def __iter__(self) -> Iterator[gpd.GeoDataFrame]:
        for page in self._pages:
            self.count += len(page)
            yield page
