"""Frozen copy of ``geo/perimeters/lookup.py`` at commit 515a5f6 (before the columnar path).

Kept only as the reference the columnar :func:`geo.perimeters.lookup.lookup_many` is compared
with (identical answers); not used by the application. Original docstring follows.

Address or point → the QPV it falls in, with the reason, one at a time or in batch.

Two sources answer: the **polygon** of each perimeter (point in polygon, prepared
geometries and bounding-box prefilters) and the **street rules** (street key and house
number joined to the rules, see :func:`geo.perimeters.rules.evaluate_rules`). The answer
(``qpv_code``) is the polygon's when the point is inside one, else the rules'; the
reason says which source(s) agree, and ``qpv_disagree`` flags an address the two put in
different places (only where rules exist for the QPV concerned).

Columns added by :func:`lookup_many` (and fields of :class:`LookupResult`):

``qpv_code``, ``qpv_name``, ``qpv_geography``
    The QPV (``""`` when outside), its name and geography version (``2015`` / ``2024``).
``qpv_status``
    ``inside``, ``outside``, ``ambiguous`` (several QPV, a street found in several
    communes, or no commune given and rules of several communes), ``not_found`` (no
    point and a street no rule knows), ``out_of_territory`` (a point, a commune or a
    postcode the index's :class:`~geo.perimeters.territory.Territory` does not know:
    no perimeter is known there, so « outside » would be a guess) or ``empty``
    (nothing given). Without a territory (``build_index(..., territory=None)``) the
    perimeters and rules given are taken as complete wherever the points are.
``qpv_reason``
    Which source gives the answer, inside or outside: ``both`` (they agree), ``polygon``
    (the point decides; rules silent or overruled, see ``qpv_disagree``), ``street_rule``
    (no point, or the rules take an address the polygon leaves out) or ``""`` (no answer).
``qpv_polygon``, ``qpv_rule``
    The answer of each source (``""``: outside; ``None``: that source could not tell).
``qpv_disagree``
    The two sources disagree.
``qpv_distance_m``
    Distance in metres (EPSG:2154) from the point to the nearest perimeter boundary (NaN
    without a point or beyond ``max_distance_m``, 200 m by default).
``qpv_detail``
    A French sentence for the technician.

Text addresses (``AddressColumns(address=...)``) also get :data:`MATCH_COLUMNS`:

``qpv_match``
    The address of the address base that answers (« 10 Rue Félix Terrier 75020 Paris 20e
    Arrondissement »), or the street of the rules; ``""`` when none.
``qpv_match_score``
    Similarity of the street names (1 when exact; NaN when not matched).
``qpv_match_note``
    French note: approximation (« type de voie différent », « orthographe approchée »,
    « indice … absent de la base »), commune assumed or found, communes of an ambiguous
    street, nearby streets of an unknown one (several notes joined by `` | ``); ``""`` if none.
``qpv_x``, ``qpv_y``
    Lambert-93 point of the answer (the given point, else the matched address; NaN).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, resolve_crs, to_territory_crs
from geo.errors import GeometryError, QPVLookupError
from geo.geometry import repair_polygons
from geo.perimeters.index import AddressColumns, LookupIndex
from geo.perimeters.rules import evaluate_rules, rules_frame
from geo.perimeters.streetlist import Rule
from geo.perimeters.streetnames import (
    commune_key,
)
from geo.perimeters.territory import Territory
from tests.geo.perimeters.legacy.rows_515a5f6 import (
    GEO_STATUSES,
    Streets,
    TextRows,
    rule_tokens,
    streets_from_columns,
    streets_from_text,
)

logger = logging.getLogger(__name__)

__all__ = [
    "LOOKUP_COLUMNS",
    "MATCH_COLUMNS",
    "AddressColumns",
    "LookupIndex",
    "LookupResult",
    "build_index",
    "lookup_address",
    "lookup_many",
    "lookup_point",
]

LOOKUP_COLUMNS = [
    "qpv_code", "qpv_name", "qpv_geography", "qpv_status", "qpv_reason", "qpv_polygon", "qpv_rule",
    "qpv_disagree", "qpv_distance_m", "qpv_detail",
]
MATCH_COLUMNS = ["qpv_match", "qpv_match_score", "qpv_match_note", "qpv_x", "qpv_y"]

Progress = Callable[[int, int], None]

#: Address columns guessed from the table (BAN names, or ``address`` given by the caller).
_DEFAULT_COLUMNS = AddressColumns()


def _geography(code: str) -> str:
    """Geography version from the code: QP… → 2015, QN… → 2024."""
    return "2024" if code.startswith("QN") else "2015" if code.startswith("QP") else ""


def build_index(
    perimeters: gpd.GeoDataFrame | None,
    *,
    rules: Sequence[Rule] | None = None,
    addresses: gpd.GeoDataFrame | None = None,
    max_distance_m: float = 200.0,
    territory: Territory | None = None,
    rule_names: Mapping[str, str] | None = None,
) -> LookupIndex:
    """Prepare perimeters (and rules, and an address base) for lookups.

    Parameters
    ----------
    perimeters : geopandas.GeoDataFrame or None
        QPV perimeters with a code (``code`` or ``code_qp``) and a name (``name`` or
        ``nom_qp``), optionally ``geography``; any CRS; invalid polygons are repaired.
        ``None`` for a perimeter known by its street list only (rules required).
    rules : sequence of Rule, optional
        Street rules, their ``qpv`` naming the perimeter they define.
    addresses : geopandas.GeoDataFrame, optional
        Standardised address base, needed to look up text addresses.
    max_distance_m : float
        Boundary distances beyond this are not computed.
    territory : Territory, optional
        What the index knows (:func:`geo.perimeters.territory.build_territory`): points,
        communes and postcodes outside it are answered ``out_of_territory``. ``None``
        (default): the perimeters and rules are taken as complete everywhere (a national
        perimeter file).
    rule_names : mapping of str to str, optional
        Names of the perimeters known only by their rules (their code otherwise).

    Returns
    -------
    LookupIndex

    Raises
    ------
    QPVLookupError
        When the perimeters have no code column, or neither perimeters nor rules are given.
    """
    if perimeters is None and rules:
        perimeters = gpd.GeoDataFrame({"code": [], "name": []}, geometry=[], crs=TERRITORY_CRS)
    elif not isinstance(perimeters, gpd.GeoDataFrame) or perimeters.empty:
        raise QPVLookupError("Aucun périmètre QPV ni règle de rue fourni pour la recherche.")
    code_col = next((c for c in ("code", "code_qp", "code_quartier") if c in perimeters.columns), None)
    if code_col is None:
        raise QPVLookupError("Périmètres sans colonne de code (code ou code_qp).")
    name_col = next((c for c in ("name", "nom_qp", "nom") if c in perimeters.columns), None)
    same_crs = perimeters.crs is not None and resolve_crs(perimeters.crs).equals(resolve_crs(TERRITORY_CRS))
    frame = perimeters if same_crs else to_territory_crs(perimeters)
    if not bool(shapely.is_valid(frame.geometry.to_numpy()).all()):
        frame, repaired = repair_polygons(frame)
        logger.info("%d périmètre(s) réparé(s) pour la recherche", int(repaired.sum()))
    codes = frame[code_col].astype(str).to_numpy()
    names = frame[name_col].astype(str).to_numpy() if name_col else np.full(len(frame), "", dtype=object)
    if "geography" in frame.columns:
        geos = frame["geography"].astype(str).to_numpy()
    else:
        geos = np.array([_geography(c) for c in codes], dtype=object)
    geoms = frame.geometry.to_numpy()
    if bool((shapely.is_missing(geoms) | shapely.is_empty(geoms)).any()):
        raise GeometryError("Un périmètre QPV n'a pas de géométrie surfacique.")
    shapely.prepare(geoms)
    table = gpd.GeoDataFrame({"code": codes, "name": names, "geography": geos}, geometry=geoms,
                             crs=TERRITORY_CRS)
    rule_table = rules_frame(list(rules or []))
    extra = [c for c in dict.fromkeys(rule_table["qpv"]) if c not in set(codes)]
    all_codes = np.array([*codes.tolist(), *extra], dtype=object)
    rule_keys = frozenset(rule_table["street_key"])
    ruled_codes = frozenset(rule_table["qpv"])
    by_street: dict[str, set[str]] = {}
    for skey, ckey in zip(rule_table["street_key"].tolist(), rule_table["commune_key"].tolist(), strict=True):
        by_street.setdefault(skey, set()).add(ckey)
    commune_names = {commune_key(r.commune): r.commune for r in rules or [] if r.commune}
    return LookupIndex(
        perimeters=table,
        bounds=shapely.bounds(geoms).reshape(-1, 4),
        rules=rule_table,
        ruled_codes=ruled_codes,
        addresses=addresses,
        max_distance_m=float(max_distance_m),
        codes=all_codes,
        names_array=np.array([*names.tolist(), *[(rule_names or {}).get(c, c) for c in extra]], dtype=object),
        geos_array=np.array([*geos.tolist(), *[_geography(c) for c in extra]], dtype=object),
        ruled=np.array([c in ruled_codes for c in all_codes.tolist()], dtype=bool),
        boundaries=shapely.boundary(geoms),
        groups=_groups(shapely.bounds(geoms).reshape(-1, 4), float(max_distance_m)),
        rule_keys=rule_keys,
        tokens=rule_tokens(rule_keys),
        territory=territory,
        rule_communes={k: frozenset(v) for k, v in by_street.items()},
        commune_names=commune_names,
    )


# --------------------------------------------------------------------------- batch


def _points_xy(data: pd.DataFrame, crs: Any) -> np.ndarray:
    """(n, 2) Lambert-93 coordinates of the rows (NaN where unknown)."""
    n = len(data)
    if isinstance(data, gpd.GeoDataFrame) and data.geometry.name in data.columns:
        geo = data.geometry
        source = geo.crs if geo.crs is not None else crs
        if source is None:
            raise QPVLookupError("Les points n'ont pas de système de coordonnées déclaré.")
        if not resolve_crs(source).equals(resolve_crs(TERRITORY_CRS)):
            geo = to_territory_crs(gpd.GeoDataFrame(geometry=geo, crs=source)).geometry
        arr = geo.to_numpy()
        if bool((shapely.get_type_id(arr) == 0).all()):
            coords = shapely.get_coordinates(arr)
            if len(coords) == n:  # only non-empty points: one coordinate each
                return coords
        ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
        xy = np.full((n, 2), np.nan)
        if ok.all():
            xy[:, 0], xy[:, 1] = shapely.get_x(arr), shapely.get_y(arr)
        elif ok.any():
            xy[ok, 0], xy[ok, 1] = shapely.get_x(arr[ok]), shapely.get_y(arr[ok])
        return xy
    for xc, yc, src in (("x", "y", crs or TERRITORY_CRS), ("lon", "lat", "EPSG:4326")):
        if {xc, yc} <= set(data.columns):
            x = pd.to_numeric(data[xc], errors="coerce").to_numpy(dtype=float)
            y = pd.to_numeric(data[yc], errors="coerce").to_numpy(dtype=float)
            if resolve_crs(src).equals(resolve_crs(TERRITORY_CRS)):
                return np.column_stack([x, y])
            pts = gpd.GeoSeries.from_xy(x, y, crs=src).to_crs(TERRITORY_CRS).to_numpy()
            return np.column_stack([shapely.get_x(pts), shapely.get_y(pts)])
    return np.full((n, 2), np.nan)


def _zone(index: LookupIndex, i: int) -> BaseGeometry:
    """Return the prepared ``max_distance_m`` buffer of perimeter ``i`` (built on first use, then kept)."""
    zone = index.zones.get(i)
    if zone is None:
        zone = shapely.buffer(index.perimeters.geometry.iloc[i], index.max_distance_m, quad_segs=4)
        shapely.prepare(zone)
        index.zones[i] = zone
    return zone


def _groups(bounds: np.ndarray, distance: float, gap: float = 5000.0) -> list[tuple[np.ndarray, list[int]]]:
    """Gather the perimeters by neighbourhood: (expanded bounding box, members).

    Points are then tested against a few boxes instead of every perimeter.
    """
    groups: list[tuple[np.ndarray, list[int]]] = []
    for i, box in enumerate(bounds):
        wide = box + np.array([-distance, -distance, distance, distance])
        for g, (gbox, members) in enumerate(groups):
            if not (wide[0] > gbox[2] + gap or wide[2] < gbox[0] - gap
                    or wide[1] > gbox[3] + gap or wide[3] < gbox[1] - gap):
                merged = np.array([min(gbox[0], wide[0]), min(gbox[1], wide[1]),
                                   max(gbox[2], wide[2]), max(gbox[3], wide[3])])
                groups[g] = (merged, [*members, i])
                break
        else:
            groups.append((wide, [i]))
    return groups


def _polygon_pass(xy: np.ndarray, index: LookupIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point in polygon and boundary distance → (perimeter number or -1, hits, distance)."""
    n = len(xy)
    found = np.full(n, -1, dtype=np.int32)
    hits = np.zeros(n, dtype=np.int8)
    dist = np.full(n, np.nan)
    x, y = xy[:, 0], xy[:, 1]
    d = index.max_distance_m
    geoms = index.perimeters.geometry.to_numpy()
    for (gx0, gy0, gx1, gy1), members in index.groups:
        cand = np.flatnonzero((x >= gx0) & (x <= gx1))
        cand = cand[(y[cand] >= gy0) & (y[cand] <= gy1)]
        if not len(cand):
            continue
        cx, cy = x[cand], y[cand]
        for i in members:
            minx, miny, maxx, maxy = index.bounds[i]
            inbox = (cx >= minx - d) & (cx <= maxx + d) & (cy >= miny - d) & (cy <= maxy + d)
            near = cand[inbox]
            if not len(near):
                continue
            nx, ny = x[near], y[near]
            strict = (nx >= minx) & (nx <= maxx) & (ny >= miny) & (ny <= maxy)
            if strict.any():
                inside = near[strict][shapely.contains_xy(geoms[i], nx[strict], ny[strict])]
                found[inside[hits[inside] == 0]] = i
                hits[inside] += 1
            close = near[shapely.contains_xy(_zone(index, i), nx, ny)]
            if len(close):
                di = shapely.distance(index.boundaries[i], shapely.points(x[close], y[close]))
                dist[close] = np.fmin(dist[close], np.where(di <= d, di, np.nan))
    return found, hits, dist


def _rule_pass(streets: Streets, index: LookupIndex) -> tuple[np.ndarray, ...]:
    """Rule answer per row → (QPV number or -1, street has rules, decided, ambiguous)."""
    n = len(streets.codes)
    rule_idx = np.full(n, -1, dtype=np.int32)
    rule_street = np.zeros(n, dtype=bool)
    decided = np.ones(n, dtype=bool)
    amb = np.zeros(n, dtype=bool)
    if not len(index.rules) or not len(streets.keys):
        return rule_idx, rule_street, decided, amb
    rule_keys = index.rule_keys
    known = np.fromiter((k in rule_keys for k in streets.keys.tolist()), dtype=bool, count=len(streets.keys))
    lut = np.append(known, False)
    rows = np.flatnonzero(lut[streets.codes])
    if not len(rows):
        return rule_idx, rule_street, decided, amb
    if streets.communes is None:
        ckeys = np.full(len(rows), streets.commune, dtype=object)
    else:
        ccodes, cnames = pd.factorize(streets.communes.iloc[rows], use_na_sentinel=True)
        table = [str(c) if streets.keyed else commune_key(c) for c in cnames]
        ckeys = np.array([*table, streets.commune], dtype=object)[np.where(ccodes < 0, len(table), ccodes)]
        ckeys = np.where(ckeys == "", streets.commune, ckeys)
    sub = pd.DataFrame({
        "commune_key": ckeys,
        "street_key": streets.keys[streets.codes[rows]],
        "number": pd.array(streets.numbers[rows], dtype="Float64").astype("Int64"),
    })
    ev = evaluate_rules(index.rules, sub)
    position = {c: i for i, c in enumerate(index.codes)}
    rule_idx[rows] = [position.get(c, -1) for c in ev["rule_qpv"].tolist()]
    rule_street[rows] = ev["rule_street"].to_numpy(dtype=bool)
    decided[rows] = ev["rule_decided"].to_numpy(dtype=bool)
    amb[rows] = ev["rule_ambiguous"].to_numpy(dtype=bool)
    return rule_idx, rule_street, decided, amb


def lookup_many(
    data: pd.DataFrame,
    perimeters: gpd.GeoDataFrame | LookupIndex,
    *,
    columns: AddressColumns = _DEFAULT_COLUMNS,
    commune: str | None = None,
    crs: Any = None,
    chunk_size: int = 200_000,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Find the QPV of many addresses or points at once (vectorised).

    Parameters
    ----------
    data : pandas.DataFrame or geopandas.GeoDataFrame
        Points (a geometry, ``x``/``y`` in Lambert-93 or ``lon``/``lat``) and/or
        addresses (street, number and commune columns, or one free-text column). BAN
        column names (``nom_voie``, ``numero``, ``nom_commune``) are recognised.
    perimeters : geopandas.GeoDataFrame or LookupIndex
        QPV perimeters (indexed by :func:`build_index` with its defaults), or an index
        from :func:`build_index`, which brings the street rules, the address base and the
        distance limit.
    columns : AddressColumns
        Address columns of ``data`` (by default the BAN ones when present).
    commune : str, optional
        Commune of every row when there is no commune column.
    crs : optional
        CRS of ``x``/``y`` columns or of an undeclared geometry (EPSG:2154 by default).
    chunk_size : int
        Rows per step (the progress callback is called after each).
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    pandas.DataFrame
        ``data`` (same class and index, not modified) with :data:`LOOKUP_COLUMNS` added
        (and :data:`MATCH_COLUMNS` for a free-text address column); the text columns are
        categorical, ``qpv_disagree`` is boolean and ``qpv_distance_m`` a float.

    Raises
    ------
    QPVLookupError
        When a named column is missing or the perimeters are unusable.
    """
    index = perimeters if isinstance(perimeters, LookupIndex) else build_index(perimeters)
    columns.check(data)
    xy = _points_xy(data, crs)
    text: TextRows | None = None
    if columns.address is not None:
        streets, xy, text = streets_from_text(data[columns.address], index, commune, xy)
    else:
        streets = streets_from_columns(data, index, columns.with_ban_defaults(data), commune)
    total = len(data)
    parts: list[dict[str, np.ndarray]] = []
    step = max(1, int(chunk_size))
    for start in range(0, total, step):
        sl = slice(start, min(start + step, total))
        communes = None if streets.communes is None else streets.communes.iloc[sl]
        outside = None if streets.outside is None else streets.outside[sl]
        chunk = Streets(streets.codes[sl], streets.keys, communes, streets.commune, streets.keyed,
                         streets.numbers[sl], streets.geo_status[sl], outside)
        parts.append(_decide(xy[sl], chunk, index))
        if progress is not None:
            progress(sl.stop, total)
    merged = {k: np.concatenate([p[k] for p in parts]) if parts else np.array([], dtype=np.int32)
              for k in ("code", "status", "reason", "poly", "rule", "disagree", "dist", "detail")}
    out = _columns(merged, index, data.index)
    if text is not None:
        out.update(_match_columns(text, xy, data.index))
    return data.assign(**out)


def _match_columns(text: TextRows, xy: np.ndarray, row_index: pd.Index) -> dict[str, pd.Series]:
    """:data:`MATCH_COLUMNS` of text addresses."""
    return {
        "qpv_match": pd.Series(text.match, index=row_index, dtype=object),
        "qpv_match_score": pd.Series(np.round(text.score, 3), index=row_index, dtype=float),
        "qpv_match_note": pd.Series(text.note, index=row_index, dtype=object),
        "qpv_x": pd.Series(xy[:, 0], index=row_index, dtype=float),
        "qpv_y": pd.Series(xy[:, 1], index=row_index, dtype=float),
    }


_STATUSES = ["outside", "inside", "ambiguous", "not_found", "empty", "out_of_territory"]
_REASONS = ["", "both", "polygon", "street_rule"]
_BASES = [
    "Hors périmètre.", "Adresse vide.", "Adresse non localisée et voie sans règle : impossible de conclure.",
    "Plusieurs réponses possibles (voie présente dans plusieurs communes ou QPV superposés).",
    "Dans le périmètre et dans la liste des rues.", "Dans le périmètre (polygone).",
    "Dans la liste des rues.", "Hors des numéros retenus par la liste des rues.",
    "Voie hors de toute liste de rues.",
    "Adresse non localisée et numéro manquant pour une voie retenue en partie : impossible de conclure.",
    "Hors territoire : aucun périmètre connu ici (ni polygone ni liste de rues) ; impossible de dire "
    "si le lieu est en QPV.",
]
_NOTES = ["", " Numéro absent de la base d'adresses (au-delà de la dernière adresse connue ?).",
          " Voie inconnue de la base d'adresses.", " Numéro manquant pour une voie retenue en partie."]
_FLAGS = ["", " Le polygone et la liste des rues ne concordent pas."]
_DETAILS = [b + n + f for b in _BASES for n in _NOTES for f in _FLAGS]


def _decide(xy: np.ndarray, streets: Streets, index: LookupIndex) -> dict[str, np.ndarray]:
    """Combine polygon and rule answers for one chunk (integer codes)."""
    has_point = np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])
    poly_idx, poly_hits, dist = _polygon_pass(np.where(has_point[:, None], xy, np.inf), index)
    rule_idx, rule_street, decided, rule_amb = _rule_pass(streets, index)
    key_lut = np.append(streets.keys != "", False)
    has_street = key_lut[streets.codes]
    complete = bool(len(index.ruled)) and bool(index.ruled[: len(index.perimeters)].all())
    rule_known = has_street & decided & (rule_street | complete)
    poly_in = has_point & (poly_idx >= 0)
    code = np.where(poly_in, poly_idx, np.where(rule_known, rule_idx, -1))
    ruled_lut = np.append(index.ruled, False)
    concerned = ruled_lut[poly_idx] | (rule_idx >= 0)
    disagree = has_point & rule_known & concerned & (poly_idx != rule_idx)
    both = has_point & rule_known & (poly_idx == rule_idx) & (code >= 0)
    # reason: which source gives the answer (inside or outside)
    reason = np.select([both, poly_in, code >= 0, has_point, rule_known], [1, 2, 3, 2, 3], 0)
    geo = streets.geo_status
    ambiguous = (poly_hits > 1) | rule_amb | (geo == GEO_STATUSES.index("ambiguous"))
    empty = ~has_point & ~has_street & ((geo == GEO_STATUSES.index("empty")) | (geo == 0))
    not_found = ~has_point & ~rule_known & ~empty
    elsewhere = _out_of_territory(xy, has_point & ~poly_in, streets, index) & (code < 0) & ~empty
    status = np.select([empty, elsewhere, ambiguous, code >= 0, not_found], [4, 5, 2, 1, 3], 0)
    reason = np.where((status == 4) | (status == 3) | (status == 5), 0, reason)
    base = np.select(
        [status == 4, status == 5, (status == 3) & rule_street, status == 3, status == 2,
         (status == 1) & (reason == 1), (status == 1) & (reason == 2), status == 1, has_point, rule_street],
        [1, 10, 9, 2, 3, 4, 5, 6, 0, 7], 8,
    )
    note = np.select([geo == GEO_STATUSES.index("number_not_found"),
                      geo == GEO_STATUSES.index("street_not_found"), ~decided & (status != 3)],
                     [1, 2, 3], 0)
    detail = (base * len(_NOTES) + note) * len(_FLAGS) + disagree.astype(int)
    poly_out = np.where(has_point, np.where(poly_idx >= 0, poly_idx, len(index.codes)), -1)
    rule_out = np.where(rule_known, np.where(rule_idx >= 0, rule_idx, len(index.codes)), -1)
    return {"code": np.where(code >= 0, code, len(index.codes)), "status": status, "reason": reason,
            "poly": poly_out, "rule": rule_out, "disagree": disagree, "dist": np.round(dist, 1),
            "detail": detail}


def _out_of_territory(xy: np.ndarray, check: np.ndarray, streets: Streets, index: LookupIndex) -> np.ndarray:
    """Rows outside the index's territory.

    Points in ``check`` outside its area, or rows without a point whose commune or
    postcode it does not know.
    """
    n = len(xy)
    territory = index.territory
    out = np.zeros(n, dtype=bool)
    if territory is None:
        return out
    rows = np.flatnonzero(check)
    if len(rows):
        out[rows] = ~territory.covers_xy(xy[rows, 0], xy[rows, 1])
    if streets.outside is not None:
        out |= ~(np.isfinite(xy[:, 0]) & np.isfinite(xy[:, 1])) & streets.outside
    return out


def _columns(parts: dict[str, np.ndarray], index: LookupIndex, row_index: pd.Index) -> dict[str, pd.Series]:
    """Integer codes → categorical output columns."""
    codes = [*index.codes.tolist(), ""]
    names = [*index.names_array.tolist(), ""]
    geos = [*index.geos_array.tolist(), ""]

    def cat(values: np.ndarray, categories: list[str]) -> pd.Series:
        uniq = list(dict.fromkeys(categories))
        position = {c: i for i, c in enumerate(uniq)}
        remap = np.array([position[c] for c in categories] + [-1], dtype=np.int32)
        arr = pd.Categorical.from_codes(remap[values], categories=pd.Index(uniq))
        return pd.Series(arr, index=row_index)

    return {
        "qpv_code": cat(parts["code"], codes),
        "qpv_name": cat(parts["code"], names),
        "qpv_geography": cat(parts["code"], geos),
        "qpv_status": cat(parts["status"], _STATUSES),
        "qpv_reason": cat(parts["reason"], _REASONS),
        "qpv_polygon": cat(parts["poly"], codes),
        "qpv_rule": cat(parts["rule"], codes),
        "qpv_disagree": pd.Series(parts["disagree"].astype(bool), index=row_index),
        "qpv_distance_m": pd.Series(parts["dist"].astype(float), index=row_index),
        "qpv_detail": cat(parts["detail"], _DETAILS),
    }


# --------------------------------------------------------------------------- one at a time


@dataclass(frozen=True)
class LookupResult:
    """The answer for one address or point (fields as the columns of :func:`lookup_many`)."""

    code: str
    name: str
    geography: str
    status: str
    reason: str
    polygon: str | None
    rule: str | None
    disagree: bool
    distance_m: float
    detail: str
    match: str = ""
    score: float = float("nan")
    match_note: str = ""
    x: float = float("nan")
    y: float = float("nan")

    @property
    def approximate(self) -> bool:
        """The address base answered with another spelling, street type or suffix."""
        return self.score == self.score and (self.score < 1.0 or "absent de la base" in self.match_note)


def _result(row: pd.Series, xy: tuple[float, float] | None = None) -> LookupResult:
    dist = row["qpv_distance_m"]
    extra: dict[str, Any] = {}
    if "qpv_match" in row.index:
        extra = {"match": str(row["qpv_match"]), "score": float(row["qpv_match_score"]),
                 "match_note": str(row["qpv_match_note"]), "x": float(row["qpv_x"]), "y": float(row["qpv_y"])}
    elif xy is not None:
        extra = {"x": float(xy[0]), "y": float(xy[1])}
    return LookupResult(
        code=str(row["qpv_code"]), name=str(row["qpv_name"]), geography=str(row["qpv_geography"]),
        status=str(row["qpv_status"]), reason=str(row["qpv_reason"]),
        polygon=None if pd.isna(row["qpv_polygon"]) else str(row["qpv_polygon"]),
        rule=None if pd.isna(row["qpv_rule"]) else str(row["qpv_rule"]),
        disagree=bool(row["qpv_disagree"]), distance_m=float(dist), detail=str(row["qpv_detail"]), **extra,
    )


def lookup_point(
    point: BaseGeometry | tuple[float, float], index: LookupIndex, *, crs: Any = TERRITORY_CRS
) -> LookupResult:
    """Find the QPV of one point.

    Parameters
    ----------
    point : shapely Point or (x, y)
        The point, in ``crs``.
    index : LookupIndex
        From :func:`build_index`.
    crs : optional
        CRS of the point (EPSG:2154 by default; ``"EPSG:4326"`` for lon/lat).

    Returns
    -------
    LookupResult

    Raises
    ------
    GeometryError
        When ``point`` is not a point.
    """
    geom = point if isinstance(point, BaseGeometry) else shapely.Point(*point)
    if geom.geom_type != "Point" or geom.is_empty:
        raise GeometryError("La recherche de QPV attend un point.")
    frame = gpd.GeoDataFrame(geometry=[geom], crs=resolve_crs(crs))
    projected = frame if resolve_crs(crs).equals(resolve_crs(TERRITORY_CRS)) else to_territory_crs(frame)
    point_l93 = projected.geometry.iat[0]
    return _result(lookup_many(frame, index).iloc[0], (point_l93.x, point_l93.y))


def lookup_address(text: str | None, index: LookupIndex, *, commune: str | None = None) -> LookupResult:
    """Find the QPV of one address written as text.

    Parameters
    ----------
    text : str or None
        « 12 bis rue de la Paix, 75002 Paris ». Numbers such as « 12-14 » take the first.
    index : LookupIndex
        From :func:`build_index`; with an address base the address is placed on the map,
        otherwise only the street rules answer.
    commune : str, optional
        Commune to assume when the text names none.

    Returns
    -------
    LookupResult
        ``status`` is ``empty`` for an empty text, ``not_found`` for an unknown street
        without rule, ``ambiguous`` for a street found in several communes (or, with no
        commune given, named by the rules of several), ``out_of_territory`` for a commune
        or postcode the index's territory does not know. ``match``, ``score``,
        ``match_note``, ``x``, ``y``: the address that answers (see :data:`MATCH_COLUMNS`).
    """
    frame = pd.DataFrame({"adresse": [text]})
    found = lookup_many(frame, index, columns=AddressColumns(address="adresse"), commune=commune)
    return _result(found.iloc[0])
