"""GeoJSON of store records: geometries in CRS84, features, collections, links, responses, clusters.

Shared by the OGC API, the map API and Open311. Geometries come from the store CRS and
are written in CRS84 (longitude, latitude) with 7 decimals; ``id`` is the record's uid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from flask import Response

from geo.stats.zones import grid_cells
from layers.projection import CRS84, project
from layers.schema import LayerSchema

GEOJSON = "application/geo+json"
#: Width of a grid cluster of the map, in screen pixels.
CLUSTER_PIXELS = 64


def _datetime_texts(stamps: np.ndarray) -> list[str | None]:
    """ISO texts (seconds) of ``datetime64`` values, None for NaT."""
    text = np.datetime_as_string(stamps.astype("datetime64[s]"), unit="s").tolist()
    return [None if nat else t for t, nat in zip(text, np.isnat(stamps).tolist(), strict=True)]


def _column_values(values: pd.Series) -> list[Any]:
    """JSON-ready Python values of a column (None for missing), without per-cell pandas calls."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return _datetime_texts(values.to_numpy())
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        cast = bool if pd.api.types.is_bool_dtype(values) else int
        missing = values.isna().to_numpy().tolist()  # one vectorised test, not one pd.isna per cell
        return [None if m else cast(v) for v, m in zip(values.astype(object).tolist(), missing, strict=True)]
    if pd.api.types.is_float_dtype(values):
        return [_float_value(v) for v in values.to_numpy(dtype="float64").tolist()]
    items = values.to_numpy(dtype=object).tolist()
    absent = values.isna().to_numpy()  # None, NaN (and NA / NaT): one vectorised test
    if not absent.any():
        return items
    return [None if m else v for v, m in zip(items, absent.tolist(), strict=True)]


def _float_value(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _record_value(v: Any) -> Any:
    """:func:`_column_values`' value of one cell of a store frame, from the cell itself.

    The cells of :meth:`LayerStore.get_record` carry their column's kind: timestamps
    (datetime columns), numpy bools and integers (nullable ones, ``NA`` when missing),
    numpy floats (float columns), Python objects (the others).
    """
    if v is pd.NaT or (isinstance(v, pd.Timestamp) and v.tz is None):
        return _datetime_texts(np.array([v.to_datetime64()]))[0]
    if isinstance(v, (np.bool_, np.integer)):
        return bool(v) if isinstance(v, np.bool_) else int(v)
    if isinstance(v, np.floating):
        return _float_value(float(v))
    if v is pd.NA or v is None:
        return None
    if isinstance(v, str):  # a text is never missing
        return v
    if isinstance(v, pd.Timestamp):  # with a time zone: its column's rule
        return _column_values(pd.Series([v]))[0]
    return _column_values(pd.Series([v], dtype=object))[0]  # any other object: the column rule


def _parse_json_value(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def encode_geometries(geoms: np.ndarray, store_crs: str, *, decimals: int = 7) -> list[dict[str, Any] | None]:
    """GeoJSON geometries in CRS84 (``decimals`` decimals, 7 by default) of store-CRS shapely geometries."""
    if len(geoms) == 0:
        return []
    types = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out: list[dict[str, Any] | None] = [None] * len(geoms)
    if bool(((types == 0) | missing).all()):
        idx = np.flatnonzero(~missing)
        xy = shapely.get_coordinates(geoms[idx])
        lon, lat = project(store_crs, CRS84, xy[:, 0], xy[:, 1])
        for i, x, y in zip(idx.tolist(), np.round(lon, decimals).tolist(), np.round(lat, decimals).tolist(),
                           strict=True):
            out[i] = {"type": "Point", "coordinates": [x, y]}
        return out

    def to_wgs84(coords: np.ndarray) -> np.ndarray:
        lon, lat = project(store_crs, CRS84, coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), decimals)

    projected = shapely.transform(geoms, to_wgs84)
    for i, geom in enumerate(projected):
        if not missing[i]:
            out[i] = json.loads(shapely.to_geojson(geom))
    return out


def encode_features(gdf: gpd.GeoDataFrame, schema: LayerSchema, store_crs: str, *,
                    fields: Collection[str] | None = None, decimals: int = 7) -> list[dict[str, Any]]:
    """GeoJSON features (``id`` = uid) of records read from the store.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Records in ``store_crs``.
    schema : LayerSchema
        Their layer.
    store_crs : str
        CRS of ``gdf``.
    fields : collection of str, optional
        Only these fields in ``properties`` (in schema order; ``uid`` always); every field
        of ``gdf`` by default.
    decimals : int
        Decimals of the CRS84 coordinates (7 by default, about 1 cm; 6 keeps 0.1 m).

    Returns
    -------
    list of dict
        GeoJSON features.
    """
    geoms = (encode_geometries(gdf.geometry.to_numpy(), store_crs, decimals=decimals) if schema.geometry
             else [None] * len(gdf))
    names = _property_names(schema, gdf.columns, fields)
    columns = [_column_values(gdf[n]) for n in names]
    json_names = _json_names(schema, names)
    return [_feature(names, row, geoms[k], json_names)
            for k, row in enumerate(zip(*columns, strict=True) if columns else [])]


def encode_record(record: Mapping[str, Any], schema: LayerSchema, store_crs: str, *,
                  fields: Collection[str] | None = None, decimals: int = 7) -> dict[str, Any]:
    """Return the GeoJSON feature :func:`encode_features` gives of one record, without a frame.

    Parameters
    ----------
    record : mapping
        A record as :meth:`LayerStore.get_record` returns it (``geometry`` in ``store_crs``),
        possibly without some fields (those are left out, as missing columns are).
    schema, store_crs, fields, decimals
        As for :func:`encode_features`.

    Returns
    -------
    dict
        The GeoJSON feature.
    """
    geom = (encode_geometries(np.array([record.get("geometry")], dtype=object), store_crs,
                              decimals=decimals)[0] if schema.geometry else None)
    names = _property_names(schema, record.keys(), fields)
    return _feature(names, [_record_value(record[n]) for n in names], geom, _json_names(schema, names))


def _property_names(schema: LayerSchema, present: Collection[str],
                    fields: Collection[str] | None) -> list[str]:
    """Return the fields of a feature's ``properties``: in schema order, ``uid`` always."""
    return [n for n in schema.field_names if n in present and (fields is None or n in fields or n == "uid")]


def _json_names(schema: LayerSchema, names: list[str]) -> frozenset[str]:
    return frozenset(n for n in names if schema.field(n).type == "json")


def _feature(names: list[str], values: Sequence[Any], geometry: dict[str, Any] | None,
             json_names: frozenset[str]) -> dict[str, Any]:
    """One GeoJSON feature of JSON-ready ``values`` of ``names`` (those of ``json_names`` parsed)."""
    props = {n: (_parse_json_value(v) if n in json_names else v) for n, v in zip(names, values, strict=True)}
    return {"type": "Feature", "id": props["uid"], "geometry": geometry, "properties": props}


def compact_records(frame: pd.DataFrame, schema: LayerSchema, store_crs: str, *, fields: Collection[str],
                    decimals: int = 6) -> tuple[list[str], list[list[Any]]]:
    """Rows of the map's compact records: ``[lon, lat, *values]`` in CRS84, and the field names.

    Parameters
    ----------
    frame : pandas.DataFrame
        Records with ``x`` / ``y`` in ``store_crs`` (:meth:`LayerStore.points`) and their fields.
    schema : LayerSchema
        Their layer (the order of the fields).
    store_crs : str
        CRS of ``x`` / ``y``.
    fields : collection of str
        The fields sent (``uid`` always), in schema order.
    decimals : int
        Decimals of the coordinates (6: 0.11 m of latitude).

    Returns
    -------
    tuple of (list of str, list of list)
        The field names, then one row per record: longitude and latitude (None without a
        position), then the values of the fields as in :func:`encode_features`.
    """
    names = [n for n in schema.field_names if n in frame.columns and (n in fields or n == "uid")]
    x, y = frame["x"].to_numpy(dtype="float64"), frame["y"].to_numpy(dtype="float64")
    ok = np.isfinite(x) & np.isfinite(y)
    lon = np.full(len(frame), np.nan)
    lat = np.full(len(frame), np.nan)
    if bool(ok.any()):
        lon[ok], lat[ok] = project(store_crs, CRS84, x[ok], y[ok])
    lons, lats = np.round(lon, decimals).tolist(), np.round(lat, decimals).tolist()
    if not ok.all():  # no position: null coordinates
        lons = [v if k else None for v, k in zip(lons, ok.tolist(), strict=True)]
        lats = [v if k else None for v, k in zip(lats, ok.tolist(), strict=True)]
    columns = []
    for n in names:
        values = _column_values(frame[n])
        columns.append([_parse_json_value(v) for v in values] if schema.field(n).type == "json" else values)
    return names, [list(row) for row in zip(lons, lats, *columns, strict=True)]


def feature_collection(features: list[dict[str, Any]], matched: int, **members: Any) -> dict[str, Any]:
    """Return a FeatureCollection with ``numberMatched``/``numberReturned``, then ``members``."""
    return {"type": "FeatureCollection", "features": features, "numberMatched": matched,
            "numberReturned": len(features), **members}


def link(href: str, rel: str, mime: str, title: str | None = None) -> dict[str, str]:
    """Return a link object (``href``, ``rel``, ``type``, optional ``title``)."""
    out = {"href": href, "rel": rel, "type": mime}
    if title is not None:
        out["title"] = title
    return out


def page_links(href: Callable[[int], str], *, offset: int, limit: int, returned: int,
               matched: int) -> list[dict[str, str]]:
    """Return the ``next`` and ``prev`` links of a page of ``limit`` items starting at ``offset``.

    ``href(offset)`` gives the address of the page starting at ``offset``.
    """
    links = []
    if offset + returned < matched:
        links.append(link(href(offset + limit), "next", GEOJSON))
    if offset > 0:
        links.append(link(href(max(0, offset - limit)), "prev", GEOJSON))
    return links


def json_response(body: Any, content_type: str = "application/json", status: int = 200) -> Response:
    """``body`` as compact JSON (UTF-8, no ASCII escapes)."""
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status=status,
                    content_type=content_type)


# -- grid clusters of the map ---------------------------------------------------------------


def cluster_cell_m(zoom: int, lat: float) -> float:
    """Ground size (m) of a cluster cell about :data:`CLUSTER_PIXELS` screen pixels wide."""
    return 156543.03392 * math.cos(math.radians(lat)) / 2 ** zoom * CLUSTER_PIXELS


def cluster_cells(cells: pd.DataFrame, store_crs: str) -> list[dict[str, Any]]:
    """GeoJSON cluster features from :meth:`LayerStore.cluster` cells (store CRS)."""
    if cells.empty:
        return []
    centres = encode_geometries(np.asarray(shapely.points(cells["x"].to_numpy(), cells["y"].to_numpy())),
                                store_crs)
    lon0, lat0 = project(store_crs, CRS84, cells["xmin"].to_numpy(), cells["ymin"].to_numpy())
    lon1, lat1 = project(store_crs, CRS84, cells["xmax"].to_numpy(), cells["ymax"].to_numpy())
    counts = cells["count"].to_numpy()
    return [
        {"type": "Feature", "id": f"cluster-{k}", "geometry": centres[k],
         "properties": {"cluster": True, "count": int(counts[k]),
                        "bbox": [round(float(lon0[k]), 6), round(float(lat0[k]), 6),
                                 round(float(lon1[k]), 6), round(float(lat1[k]), 6)]}}
        for k in range(len(cells))
    ]


def cluster_features(gdf: gpd.GeoDataFrame, zoom: int, store_crs: str, lat: float) -> list[dict[str, Any]]:
    """Grid clusters in the store CRS: one feature per occupied cell, at its members' mean.

    Parameters
    ----------
    gdf : geopandas.GeoDataFrame
        Records in the store CRS (EPSG:2154).
    zoom : int
        Web-map zoom level: the cell is about :data:`CLUSTER_PIXELS` screen pixels wide.
    store_crs : str
        CRS of ``gdf``.
    lat : float
        Latitude of the view, for the ground size of a pixel.

    Returns
    -------
    list of dict
        GeoJSON features with ``properties.cluster = true``, ``count`` and ``bbox`` (CRS84).
    """
    geoms = gdf.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    geoms = geoms[ok]
    if len(geoms) == 0:
        return []
    if not bool((shapely.get_type_id(geoms) == 0).all()):
        geoms = shapely.centroid(geoms)
    pts = shapely.get_coordinates(geoms)
    cells = grid_cells(pts[:, 0], pts[:, 1], cell_m=cluster_cell_m(zoom, lat))
    return cluster_cells(cells, store_crs)
