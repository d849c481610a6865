"""Export of a layer (or a filtered selection) to GeoPackage, GeoJSON or CSV."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio

from layers.errors import RecordError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

FORMATS = ("gpkg", "geojson", "csv")


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


def export_layer(
    store: LayerStore, layer: str, path: str | Path, *, fmt: str | None = None, **filters: Any
) -> int:
    """Write ``layer`` (filtered like :meth:`LayerStore.read`) to ``path``.

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
        ``bbox``, ``start``, ``end``, ``where``… passed to :meth:`LayerStore.read`.

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
    gdf = store.read(layer, **filters)
    out = to_export_frame(gdf, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        out.to_csv(path, index=False, sep=";", encoding="utf-8")
    else:
        driver = "GPKG" if fmt == "gpkg" else "GeoJSON"
        if path.exists():
            path.unlink()
        pyogrio.write_dataframe(out, path, driver=driver, layer=layer)
    logger.info("exported %d records of %s to %s", len(gdf), layer, path)
    return len(gdf)
