"""Exports of a diagnostic walk: GeoJSON (RFC 7946, WGS84) and GPX 1.1.

GPS devices and phone apps read GPX: the walked line becomes a track, the stops named
waypoints « 1. Rue … » in walking order.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from typing import Any

import numpy as np
import pandas as pd
from pyproj import Transformer

from geo.crs import TERRITORY_CRS, WEB_CRS
from geo.errors import WalkExportError
from geo.walks.model import WalkRoute
from geo.walks.quality import share_text

logger = logging.getLogger(__name__)

__all__ = ["connectors_text", "read_gpx", "route_to_geojson", "route_to_gpx", "stop_label", "unserved_text"]

GPX_NS = "http://www.topografix.com/GPX/1/1"
_LABEL_COLUMNS = ("label", "name", "address", "adresse", "ADR", "LIB_OFF")


def _to_wgs84() -> Transformer:
    return Transformer.from_crs(TERRITORY_CRS, WEB_CRS, always_xy=True)


def _clean(value: Any) -> Any:
    """Make a cell JSON-serialisable (numpy scalars, timestamps, missing values)."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and math.isnan(float(value)):
        return None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def stop_label(row: pd.Series, *, order: int | None = None) -> str:
    """Return a readable name of a stop (label, name or address column, else its index).

    Parameters
    ----------
    row : pandas.Series
        One row of :attr:`WalkRoute.stops`.
    order : int, optional
        Position in the walk, prefixed as ``"3. "``.

    Returns
    -------
    str
    """
    text = None
    for col in _LABEL_COLUMNS:
        if col in row.index and isinstance(row[col], str) and row[col].strip():
            text = row[col].strip()
            break
    if text is None:
        text = f"Arrêt {row.name}"
    return f"{order}. {text}" if order is not None else text


def unserved_text(item: dict[str, Any]) -> str:
    """French status of an unserved stop: « non desservi (à 120 m de la voie la plus proche) »."""
    dist = item.get("distance_m")
    if item.get("disconnected"):
        if dist is not None and dist == dist:
            return (f"non desservi (sur une voie non reliée au reste du réseau, à {float(dist):.0f} m "
                    "de la voie reliée la plus proche)")
        return "non desservi (sur une voie non reliée au départ)"
    return ("non desservi" if dist is None else
            f"non desservi (à {float(dist):.0f} m de la voie la plus proche)")


def coverage_text(route: WalkRoute) -> str:
    """« couvre 98 % des 14,2 km de voies du quartier » for an every-street walk, else ``""``."""
    share = route.meta.get("coverage_share")
    total = route.meta.get("quartier_street_m")
    if share is None or total is None:
        return ""
    if not total or share != share:
        return "aucune voie du quartier dans le réseau : couverture n.d."
    km = f"{float(total) / 1000:.1f}".replace(".", ",")
    return f"couvre {share_text(float(share))} des {km} km de voies du quartier"


def connectors_text(route: WalkRoute) -> str:
    """French warning on the pedestrian links a route uses, or "" when it uses none.

    « 2 liaisons hors voie cartographiée (24 m au total) : à vérifier sur place ».
    """
    links = route.connectors
    if not links:
        return ""
    total = sum(float(c.get("length_m", 0.0)) for c in links)
    noun = "liaison" if len(links) == 1 else "liaisons"
    return f"{len(links)} {noun} hors voie cartographiée ({total:.0f} m au total) : à vérifier sur place"


def route_to_geojson(route: WalkRoute) -> dict[str, Any]:
    """Return a walk as a GeoJSON FeatureCollection in WGS84 (longitude, latitude).

    Parameters
    ----------
    route : WalkRoute
        The computed walk.

    Returns
    -------
    dict
        One ``LineString`` feature for the track (``kind = "parcours"`` with length,
        duration, prize, ``non_desservis``: the stops left out, with their « non desservi »
        status, distance to the nearest street and lon/lat, and for an every-street walk
        ``coverage_share``; ``liaisons_hors_voie``/``liaisons_hors_voie_m``: number and length
        of the pedestrian links off the mapped streets it uses), one ``Point`` feature per
        link (``kind = "liaison"``, ``connector = true``, at its middle), then one ``Point``
        feature per stop (``kind = "arret"``, with ``order`` and the stop attributes).
    """
    tr = _to_wgs84()
    xs, ys = np.asarray(route.track.coords).T
    lon, lat = tr.transform(xs, ys)
    features: list[dict[str, Any]] = [
        {
            "type": "Feature",
            "geometry": {
                "type": "LineString",
                "coordinates": [
                    [round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat, strict=True)
                ],
            },
            "properties": {
                "kind": "parcours",
                "length_m": round(route.length_m, 1),
                "duration_min": round(route.duration_min, 1),
                "budget_min": route.budget_min,
                "speed_kmh": route.speed_kmh,
                "prize": route.prize,
                "stops": len(route.stops),
                "solver": route.solver,
                "group": route.group,
            },
        }
    ]
    if route.meta.get("coverage_share") is not None:
        features[0]["properties"]["coverage_share"] = round(float(route.meta["coverage_share"]), 4)
        street_m = float(route.meta.get("quartier_street_m", 0))
        features[0]["properties"]["quartier_street_m"] = round(street_m, 1)
    unserved = []  # listed on the track, never as a visited stop
    for item in route.unserved:
        x, y = tr.transform(item["x"], item["y"])
        fields = {k: v for k, v in item.items() if k not in {"x", "y"}}
        unserved.append({**fields, "statut": unserved_text(item), "lon": round(float(x), 7),
                         "lat": round(float(y), 7)})
    features[0]["properties"]["non_desservis"] = unserved
    features[0]["properties"]["liaisons_hors_voie"] = len(route.connectors)
    link_m = sum(float(c["length_m"]) for c in route.connectors)
    features[0]["properties"]["liaisons_hors_voie_m"] = round(link_m, 1)
    for item in route.connectors:  # flagged apart: walked, but off the mapped streets
        lon_c, lat_c = tr.transform(item["x"], item["y"])
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(lon_c), 7), round(float(lat_c), 7)]},
            "properties": {"kind": "liaison", "connector": True, "length_m": item["length_m"],
                           "statut": "liaison piétonne hors voie cartographiée : à vérifier sur place"},
        })
    geom_col = route.stops.geometry.name if len(route.stops) else None
    for _, row in route.stops.iterrows():
        p = row[geom_col]
        x, y = tr.transform(p.x, p.y)
        props = {str(k): _clean(v) for k, v in row.items() if k != geom_col}
        props["kind"] = "arret"
        props["label"] = stop_label(row)
        features.append({
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [round(float(x), 7), round(float(y), 7)]},
            "properties": props,
        })
    return {"type": "FeatureCollection", "features": features}


def route_to_gpx(route: WalkRoute, *, name: str = "Diagnostic en marchant") -> str:
    """Return a walk as GPX 1.1 text: named waypoints for the stops and one track.

    Parameters
    ----------
    route : WalkRoute
        The computed walk.
    name : str, default "Diagnostic en marchant"
        Name of the track.

    Returns
    -------
    str
        UTF-8 GPX document, coordinates in WGS84.
    """
    ET.register_namespace("", GPX_NS)
    tr = _to_wgs84()
    root = ET.Element(f"{{{GPX_NS}}}gpx", {"version": "1.1", "creator": "qpv-observatoire"})
    meta = ET.SubElement(root, f"{{{GPX_NS}}}metadata")
    ET.SubElement(meta, f"{{{GPX_NS}}}name").text = name
    ET.SubElement(meta, f"{{{GPX_NS}}}desc").text = (
        f"{len(route.stops)} arrêts, {route.length_m / 1000:.2f} km, "
        f"{route.duration_min:.0f} min arrêts compris (vitesse {route.speed_kmh:g} km/h)"
    )
    for _, row in route.stops.iterrows():
        p = row[route.stops.geometry.name]
        lon, lat = tr.transform(p.x, p.y)
        wpt = ET.SubElement(root, f"{{{GPX_NS}}}wpt", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
        ET.SubElement(wpt, f"{{{GPX_NS}}}name").text = stop_label(row, order=int(row["order"]))
        desc = row.get("reason") if "reason" in row.index else None
        if isinstance(desc, str) and desc:
            ET.SubElement(wpt, f"{{{GPX_NS}}}desc").text = desc
    for item in route.unserved:  # listed, never as visited: own type, no order
        lon, lat = tr.transform(item["x"], item["y"])
        wpt = ET.SubElement(root, f"{{{GPX_NS}}}wpt", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
        label = item.get("label") or item.get("id")
        ET.SubElement(wpt, f"{{{GPX_NS}}}name").text = f"{label} — {unserved_text(item)}"
        ET.SubElement(wpt, f"{{{GPX_NS}}}type").text = "non desservi"
    trk = ET.SubElement(root, f"{{{GPX_NS}}}trk")
    ET.SubElement(trk, f"{{{GPX_NS}}}name").text = name
    seg = ET.SubElement(trk, f"{{{GPX_NS}}}trkseg")
    xs, ys = np.asarray(route.track.coords).T
    lons, lats = tr.transform(xs, ys)
    for lon, lat in zip(lons, lats, strict=True):
        ET.SubElement(seg, f"{{{GPX_NS}}}trkpt", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def read_gpx(text: str) -> tuple[list[tuple[float, float]], list[tuple[str, float, float]]]:
    """Read back the track points and waypoints of a GPX document.

    Parameters
    ----------
    text : str
        GPX 1.0 or 1.1 document.

    Returns
    -------
    track : list of (lon, lat)
        Points of every track segment, in order.
    waypoints : list of (name, lon, lat)

    Raises
    ------
    WalkExportError
        When the text is not GPX.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise WalkExportError(f"Fichier GPX illisible : {exc}.") from exc
    if not root.tag.endswith("gpx"):
        raise WalkExportError("Ce document n'est pas un fichier GPX.")
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    track = [(float(p.get("lon", "nan")), float(p.get("lat", "nan"))) for p in root.iter(f"{ns}trkpt")]
    waypoints = []
    for w in root.iter(f"{ns}wpt"):
        kind = w.find(f"{ns}type")
        if kind is not None and kind.text == "non desservi":
            continue  # a stop the walk does not visit
        name_el = w.find(f"{ns}name")
        waypoints.append(
            (name_el.text or "" if name_el is not None else "", float(w.get("lon", "nan")),
             float(w.get("lat", "nan")))
        )
    return track, waypoints
