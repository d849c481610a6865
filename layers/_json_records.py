"""JSON arrays of records as a source table: one point per record from its coordinates.

Recognised, without case or accents in the keys: ``lat``/``latitude``/``y`` with
``lon``/``lng``/``long``/``longitude``/``x`` (numbers or texts, decimal comma allowed);
a nested object holding such a pair (``geo_point_2d: {lon, lat}``, ``location: {...}``);
a GeoJSON geometry (``geometry: {type, coordinates}``); ``coordinates: [lon, lat]``; and
the Opendatasoft ``geo_point_2d: [lat, lon]`` pair. The top level may be the array itself
or an object whose one list of records is under ``results``, ``records``, ``data``…
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry import shape

from layers.errors import SourceFileError
from layers.validate import fold

logger = logging.getLogger(__name__)

_LON = ("lon", "lng", "long", "longitude")
_LAT = ("lat", "latitude")
_CONTAINERS = ("results", "records", "data", "items", "rows", "features_list")
#: Lambert-93 extent of metropolitan France (coordinates in metres).
_L93 = (50_000.0, 6_000_000.0, 1_300_000.0, 7_200_000.0)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        out = float(value)
    else:
        try:
            out = float(str(value).strip().replace(",", ".").replace("\u00a0", ""))
        except ValueError:
            return None
    return out if math.isfinite(out) else None


def _pair(obj: dict[str, Any], xs: tuple[str, ...], ys: tuple[str, ...]) -> tuple[float, float] | None:
    keys = {fold(str(k)): k for k in obj}
    x = next((keys[k] for k in xs if k in keys), None)
    y = next((keys[k] for k in ys if k in keys), None)
    if x is None or y is None:
        return None
    lon, lat = _number(obj[x]), _number(obj[y])
    return (lon, lat) if lon is not None and lat is not None else None


def _nested(record: dict[str, Any]) -> tuple[float, float] | shapely.Geometry | None:
    """Coordinates inside a nested value of ``record``."""
    for key, value in record.items():
        k = fold(str(key))
        if isinstance(value, dict):
            if "coordinates" in value and "type" in value:
                try:
                    return shape(value)
                except (ValueError, TypeError, AttributeError, KeyError, shapely.errors.ShapelyError):
                    continue
            found = _pair(value, _LON, _LAT)
            if found:
                return found
        elif isinstance(value, list) and len(value) == 2 and k in ("coordinates", "coords", "geo_point_2d"):
            a, b = _number(value[0]), _number(value[1])
            if a is not None and b is not None:
                return (b, a) if k == "geo_point_2d" else (a, b)
    return None


def _coordinates(record: dict[str, Any]) -> tuple[tuple[float, float] | shapely.Geometry | None, bool]:
    """Return the record's coordinates (or geometry) and whether they came from ``x``/``y``."""
    found = _pair(record, _LON, _LAT)
    if found:
        return found, False
    nested = _nested(record)
    if nested is not None:
        return nested, False
    return _pair(record, ("x",), ("y",)), True


def _flat(value: Any) -> Any:
    """Return a property as a table cell: lists of simple values comma-separated, objects as JSON."""
    if isinstance(value, list) and all(not isinstance(v, (list, dict)) for v in value):
        return ", ".join(str(v) for v in value if v is not None and str(v) != "")
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _records(doc: Any) -> list[Any] | None:
    """Return the list of records of a JSON document, or None when it is not one (GeoJSON...)."""
    if isinstance(doc, list):
        return doc
    if not isinstance(doc, dict) or "type" in doc:
        return None
    lists = [doc[k] for k in doc if fold(str(k)) in _CONTAINERS and isinstance(doc[k], list)]
    return lists[0] if len(lists) == 1 else None


def _crs(points: list[tuple[float, float]], from_xy: bool) -> str:
    """WGS84 for degrees; Lambert-93 for metres in its extent read from ``x``/``y``."""
    if not points or all(abs(x) <= 180 and abs(y) <= 90 for x, y in points):
        return "EPSG:4326"
    xmin, ymin, xmax, ymax = _L93
    in_l93 = sum(xmin < x < xmax and ymin < y < ymax for x, y in points)
    return "EPSG:2154" if from_xy and in_l93 > len(points) / 2 else "EPSG:4326"


def json_records_frame(name: str, text: str) -> gpd.GeoDataFrame | None:
    """Read the text of a JSON array of records as points; None when it is not one.

    Raises
    ------
    SourceFileError
        When the array is empty, holds something else than objects, or no record has
        coordinates.
    """
    if text.lstrip().startswith("{") and '"Feature' in text[:4096]:
        return None  # GeoJSON: GDAL reads it
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        logger.info("JSON parse error in %s: %s", name, exc)
        raise SourceFileError(f"{name} n'est pas un JSON valide (fichier tronqué ou mal formé).") from exc
    records = _records(doc)
    if records is None:
        return None
    if not records:
        raise SourceFileError(f"Le fichier {name} ne contient aucun enregistrement.")
    return _frame(name, records)


def _frame(name: str, records: list[Any]) -> gpd.GeoDataFrame:
    rows: list[dict[str, Any]] = []
    geoms: list[Any] = []
    points: list[tuple[float, float]] = []
    from_xy = False
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SourceFileError(
                f"{name}, enregistrement n° {number} : un objet {{…}} est attendu "
                f"({json.dumps(record, ensure_ascii=False)[:60]})."
            )
        coords, xy = _coordinates(record)
        if isinstance(coords, tuple):
            points.append(coords)
            from_xy = from_xy or xy
            geoms.append(shapely.points(*coords))
        else:
            geoms.append(coords)
        rows.append({str(k): _flat(v) for k, v in record.items()})
    if all(g is None for g in geoms):
        raise SourceFileError(
            f"{name} : aucune coordonnée trouvée dans les enregistrements (attendu lat/lon, "
            "latitude/longitude, x/y, un objet geo_point_2d ou des coordinates)."
        )
    frame = pd.DataFrame(rows, dtype="object")
    if "geometry" in frame.columns:  # a GeoJSON geometry property: kept as text beside the points
        frame = frame.rename(columns={"geometry": "geometry_json"})
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, index=frame.index),
                            crs=_crs(points, from_xy))
