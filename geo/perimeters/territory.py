"""The territory a lookup index knows: which communes, and where.

A lookup can only say « hors QPV » where it knows the perimeters. Anywhere else the
honest answer is « hors territoire : aucun périmètre connu ici ». :func:`build_territory`
gathers what a store (or a caller) knows:

* the **communes**: those of the perimeters (their ``communes`` field, « A, B, C »), of
  the street rules and of the address base, with the départements of their postcodes
  and QPV codes (QP075019 → 75);
* the **area** where a point is known, in EPSG:2154. With commune outlines, their union.
  Otherwise, for each commune of the address base, the convex hull of its addresses,
  plus every perimeter, the whole widened by ``margin_m`` (200 m by default). A convex
  hull is a fair outline of a commune's built area (it may overreach a concave commune
  by a few hundred metres, never leave out one of its addresses); a commune known only
  by its perimeters or its street list covers only the perimeters' neighbourhood: a
  point farther from them is « hors territoire », the conservative answer, since
  nothing says the store holds every QPV of that commune.

Text addresses are judged by their commune (name or postcode): a commune the territory
does not know, or a postcode of a département it does not know, is outside.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, resolve_crs, to_territory_crs
from geo.perimeters.addressmatch import commune_matches
from geo.perimeters.streetnames import commune_key

__all__ = ["Territory", "build_territory", "department_of_code", "department_of_postcode"]

#: Default widening of the known area around addresses and perimeters (metres).
DEFAULT_MARGIN_M = 200.0


def department_of_postcode(postcode: str) -> str:
    """Département of a French postcode (« 75020 » → ``75``, « 97110 » → ``971``; ``""`` if unreadable)."""
    text = str(postcode or "").strip()
    if not re.fullmatch(r"\d{5}", text):
        return ""
    if text.startswith("97"):
        return text[:3]
    if text.startswith("20"):  # Corsica: 2A / 2B, both written 20xxx
        return "20"
    return text[:2]


def department_of_code(code: str) -> str:
    """Département of a QPV code (QP075019 / QN07501M → ``75``, QP971… → ``971``; ``""`` otherwise)."""
    text = str(code or "").strip().upper()
    m = re.fullmatch(r"Q[PN](\d{3}|02A|02B)\w*", text)
    if m is None:
        return ""
    dept = m.group(1)
    if dept in ("02A", "02B"):
        return "20"
    return dept if dept.startswith("97") else dept[1:]


@dataclass(frozen=True)
class Territory:
    """Communes and area a lookup index knows (build it with :func:`build_territory`).

    Attributes
    ----------
    communes : tuple of str
        Commune names as the sources write them (sorted, distinct keys).
    keys : frozenset of str
        Their keys (:func:`geo.perimeters.streetnames.commune_key`).
    departments : frozenset of str
        Départements of the known postcodes and QPV codes.
    postcodes : frozenset of str
        Postcodes of the address base.
    area : shapely geometry or None
        Where a point is known (EPSG:2154, prepared); ``None`` when no geometry is known
        (a street list only): every point is then outside.
    source : str
        How the area was drawn (French, for the technician).
    """

    communes: tuple[str, ...]
    keys: frozenset[str]
    departments: frozenset[str]
    postcodes: frozenset[str]
    area: BaseGeometry | None
    source: str

    def covers_xy(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Tell which Lambert-93 points lie in the known area (``False`` for NaN)."""
        x = np.asarray(x, dtype=float)
        y = np.asarray(y, dtype=float)
        if self.area is None or not len(x):
            return np.zeros(len(x), dtype=bool)
        minx, miny, maxx, maxy = self.area.bounds
        out = (x >= minx) & (x <= maxx) & (y >= miny) & (y <= maxy)
        rows = np.flatnonzero(out)
        if len(rows):
            out[rows] = shapely.contains_xy(self.area, x[rows], y[rows])
        return out

    def knows_commune(self, key: str) -> bool:
        """Tell whether a commune key is in the territory (« PARIS » fits « PARIS 20E ARRONDISSEMENT »)."""
        if not key:
            return False
        return any(commune_matches(key, k) or commune_matches(k, key) for k in self.keys)

    def commune_outside(self, key: str, postcode: str = "") -> bool:
        """Tell whether an address of this commune key (or postcode) is surely outside the territory.

        A named commune is outside when no known commune fits it; without a name, a
        postcode is outside when the territory knows neither it nor its département.
        Nothing known (no name, no postcode): not outside (the address is searched).
        """
        if key:
            return not self.knows_commune(key)
        if postcode and postcode not in self.postcodes and self.departments:
            return department_of_postcode(postcode) not in self.departments
        return False

    def describe(self, limit: int = 8) -> str:
        """Name the known communes in one French phrase (« Montpellier, Paris 20e Arrondissement »)."""
        if not self.communes:
            return "aucune commune"
        shown = ", ".join(self.communes[:limit])
        more = len(self.communes) - limit
        return shown + (f" et {more} autre(s)" if more > 0 else "")


def _split_communes(values: Iterable[object]) -> list[str]:
    """Commune names of a ``communes`` field (« A, B ; C » → [A, B, C])."""
    names: list[str] = []
    for value in values:
        if value is None or (isinstance(value, float) and value != value):
            continue
        names += [part.strip() for part in re.split(r"[,;|]", str(value)) if part.strip()]
    return names


def _address_hulls(addresses: gpd.GeoDataFrame) -> list[BaseGeometry]:
    """Convex hull of the addresses of each commune."""
    geoms = addresses.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return []
    keys = addresses["commune_key"].to_numpy(dtype=object)[ok] if "commune_key" in addresses.columns else \
        np.full(int(ok.sum()), "", dtype=object)
    coords = shapely.get_coordinates(geoms[ok])
    if len(coords) != int(ok.sum()):  # not all single points: hull of each geometry's points
        coords = np.array([shapely.get_coordinates(g)[0] for g in geoms[ok]])
    codes, _ = pd.factorize(pd.Series(keys, dtype=object))
    hulls = []
    for c in np.unique(codes):
        hulls.append(shapely.convex_hull(shapely.multipoints(coords[codes == c])))
    return hulls


def build_territory(
    *,
    perimeters: gpd.GeoDataFrame | None = None,
    addresses: gpd.GeoDataFrame | None = None,
    rule_communes: Sequence[str] = (),
    rule_codes: Sequence[str] = (),
    outlines: gpd.GeoDataFrame | None = None,
    margin_m: float = DEFAULT_MARGIN_M,
) -> Territory:
    """Gather the communes and the area known from perimeters, addresses, rules or outlines.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame, optional
        Perimeters (any CRS) with ``code`` and optionally ``communes`` (« A, B, C »).
    addresses : geopandas.GeoDataFrame, optional
        A base standardised by :func:`geo.perimeters.addressmatch.standardize_addresses`.
    rule_communes : sequence of str
        Communes of the street rules.
    rule_codes : sequence of str
        QPV codes of the street rules (for their département).
    outlines : geopandas.GeoDataFrame, optional
        Commune outlines (any CRS; a ``name`` or ``nom`` column names them): when given,
        the known area is their union.
    margin_m : float
        Widening of the area drawn from addresses and perimeters (metres, ≥ 0).

    Returns
    -------
    Territory

    Raises
    ------
    ValueError
        When ``margin_m`` is negative or not finite.
    """
    if not np.isfinite(margin_m) or margin_m < 0:
        raise ValueError(f"Marge du territoire invalide : {margin_m!r} (mètres, positive ou nulle).")
    names: list[str] = list(rule_communes)
    departments = {department_of_code(c) for c in rule_codes}
    postcodes: set[str] = set()
    pieces: list[BaseGeometry] = []
    if perimeters is not None and not perimeters.empty:
        frame = perimeters if _is_territory_crs(perimeters) else to_territory_crs(perimeters)
        if "communes" in frame.columns:
            names += _split_communes(frame["communes"].tolist())
        if "code" in frame.columns:
            departments |= {department_of_code(c) for c in frame["code"].astype(str)}
        pieces += [g for g in frame.geometry.to_numpy() if g is not None and not g.is_empty]
    if addresses is not None and not addresses.empty:
        if "commune" in addresses.columns:
            names += [str(c) for c in pd.unique(addresses["commune"].astype(object)) if c and c == c]
        if "postcode" in addresses.columns:
            postcodes = {str(p) for p in pd.unique(addresses["postcode"].astype(object)) if p and p == p}
            departments |= {department_of_postcode(p) for p in postcodes}
        pieces += _address_hulls(addresses)
    area, source = _area(pieces, outlines, margin_m, names)
    by_key: dict[str, str] = {}
    for name in names:
        key = commune_key(name)
        if key and key not in by_key:
            by_key[key] = name
    return Territory(
        communes=tuple(sorted(by_key.values(), key=commune_key)),
        keys=frozenset(by_key),
        departments=frozenset(d for d in departments if d),
        postcodes=frozenset(postcodes),
        area=area,
        source=source,
    )


def _area(pieces: list[BaseGeometry], outlines: gpd.GeoDataFrame | None, margin_m: float,
          names: list[str]) -> tuple[BaseGeometry | None, str]:
    """Known area (prepared) and how it was drawn; commune names of the outlines are added to ``names``."""
    if pieces:
        arr = np.array(pieces, dtype=object)
        bad = ~shapely.is_valid(arr)
        if bad.any():
            arr[bad] = shapely.make_valid(arr[bad])
        pieces = list(arr)
    source = "enveloppe des adresses et des périmètres connus"
    area: BaseGeometry | None = None
    if outlines is not None and not outlines.empty:
        frame = outlines if _is_territory_crs(outlines) else to_territory_crs(outlines)
        name_col = next((c for c in ("name", "nom", "nom_commune", "commune") if c in frame.columns), None)
        if name_col:
            names += [str(v) for v in frame[name_col].tolist() if v]
        area = shapely.union_all([*shapely.make_valid(frame.geometry.to_numpy()), *pieces])
        source = "contours des communes"
    elif pieces:
        merged = shapely.union_all(pieces)
        area = shapely.buffer(merged, margin_m, quad_segs=4) if margin_m else merged
    if area is not None:
        area = shapely.make_valid(area) if not area.is_valid else area
        shapely.prepare(area)
    return area, source


def _is_territory_crs(frame: gpd.GeoDataFrame) -> bool:
    return frame.crs is not None and resolve_crs(frame.crs).equals(resolve_crs(TERRITORY_CRS))
