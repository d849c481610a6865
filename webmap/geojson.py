"""GeoJSON of store records: geometries in CRS84, features, collections, links, responses.

Shared by the OGC API, the map API and Open311. Geometries come from the store CRS and
are written in CRS84 (longitude, latitude) with 7 decimals; ``id`` is the record's uid.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from flask import Response

from layers.projection import CRS84, project
from layers.schema import LayerSchema

GEOJSON = "application/geo+json"


def _column_values(values: pd.Series) -> list[Any]:
    """JSON-ready Python values of a column (None for missing), without per-cell pandas calls."""
    if pd.api.types.is_datetime64_any_dtype(values):
        arr = values.to_numpy()
        text = np.datetime_as_string(arr.astype("datetime64[s]"), unit="s").tolist()
        return [None if nat else t for t, nat in zip(text, np.isnat(arr).tolist(), strict=True)]
    if pd.api.types.is_bool_dtype(values):
        return [None if pd.isna(v) else bool(v) for v in values.astype(object).tolist()]
    if pd.api.types.is_integer_dtype(values):
        return [None if pd.isna(v) else int(v) for v in values.astype(object).tolist()]
    if pd.api.types.is_float_dtype(values):
        return [v if math.isfinite(v) else None for v in values.to_numpy(dtype="float64").tolist()]
    return [None if v is None or (isinstance(v, float) and math.isnan(v)) else v
            for v in values.to_numpy(dtype=object).tolist()]


def _parse_json_value(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def encode_geometries(geoms: np.ndarray, store_crs: str) -> list[dict[str, Any] | None]:
    """GeoJSON geometries in CRS84 (7 decimals) of store-CRS shapely geometries."""
    if len(geoms) == 0:
        return []
    types = shapely.get_type_id(geoms)
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    out: list[dict[str, Any] | None] = [None] * len(geoms)
    if bool(((types == 0) | missing).all()):
        idx = np.flatnonzero(~missing)
        xy = shapely.get_coordinates(geoms[idx])
        lon, lat = project(store_crs, CRS84, xy[:, 0], xy[:, 1])
        for i, x, y in zip(idx.tolist(), np.round(lon, 7).tolist(), np.round(lat, 7).tolist(),
                           strict=True):
            out[i] = {"type": "Point", "coordinates": [x, y]}
        return out

    def to_wgs84(coords: np.ndarray) -> np.ndarray:
        lon, lat = project(store_crs, CRS84, coords[:, 0], coords[:, 1])
        return np.round(np.column_stack([lon, lat]), 7)

    projected = shapely.transform(geoms, to_wgs84)
    for i, geom in enumerate(projected):
        if not missing[i]:
            out[i] = json.loads(shapely.to_geojson(geom))
    return out


def encode_features(gdf: gpd.GeoDataFrame, schema: LayerSchema, store_crs: str) -> list[dict[str, Any]]:
    """GeoJSON features (``id`` = uid) of records read from the store."""
    geoms = encode_geometries(gdf.geometry.to_numpy(), store_crs) if schema.geometry else [None] * len(gdf)
    names = [n for n in schema.field_names if n in gdf.columns]
    columns = [_column_values(gdf[n]) for n in names]
    json_cols = {i for i, n in enumerate(names) if schema.field(n).type == "json"}
    features = []
    for k, row in enumerate(zip(*columns, strict=True)) if columns else []:
        props = {n: (_parse_json_value(v) if i in json_cols else v)
                 for i, (n, v) in enumerate(zip(names, row, strict=True))}
        features.append({"type": "Feature", "id": props["uid"], "geometry": geoms[k], "properties": props})
    return features


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
