"""Address or point → the QPV it falls in, with the reason, one at a time or in batch.

Two sources answer: the **polygon** of each perimeter (point in polygon, prepared
geometries and bounding-box prefilters) and the **street rules** (street key and house
number joined to the rules, see :func:`geo.perimeters.rules.evaluate_rules`). Both are
columnar: :func:`build_index` compiles the rules into integer keys
(:mod:`geo.perimeters._rulekeys`), a large lookup classifies its points by the cells of a
grid per neighbourhood of perimeters and tests exactly only those near a boundary
(:mod:`geo.perimeters._columnar_passes`), measuring their distance to the boundary against
the few segments their cell can be nearest to (:mod:`geo.perimeters._boundary_distance`),
and street names are not read at all when the index has no rules and the rows have points. The answer
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

import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import geopandas as gpd
import numpy as np
import numpy.typing as npt
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, resolve_crs, to_territory_crs
from geo.errors import GeometryError, QPVLookupError
from geo.geometry import repair_polygons
from geo.perimeters._columnar import Coords
from geo.perimeters._columnar_decide import Outputs, decide
from geo.perimeters._columnar_passes import groups
from geo.perimeters._rows import (
    TextRows,
    rule_tokens,
    streets_from_columns,
    streets_from_text,
)
from geo.perimeters._rulekeys import compile_rules
from geo.perimeters.index import AddressColumns, LookupIndex
from geo.perimeters.rules import rules_frame
from geo.perimeters.streetlist import Rule
from geo.perimeters.streetnames import (
    commune_key,
)
from geo.perimeters.territory import Territory

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
        groups=groups(shapely.bounds(geoms).reshape(-1, 4), float(max_distance_m)),
        rule_keys=rule_keys,
        tokens=rule_tokens(rule_keys),
        territory=territory,
        rule_communes={k: frozenset(v) for k, v in by_street.items()},
        commune_names=commune_names,
        compiled=compile_rules(rule_table, all_codes.tolist()) if len(rule_table) else None,
    )


# --------------------------------------------------------------------------- batch


def _floats(values: pd.Series) -> np.ndarray:
    """Return a column as floats (NaN where not a number); float columns are read as they are."""
    if values.dtype == np.float64:
        return values.to_numpy()
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _is_territory(crs: Any) -> bool:
    """Tell whether ``crs`` is EPSG:2154 (« EPSG:2154 » written so is recognised without pyproj)."""
    text = crs if isinstance(crs, str) else getattr(crs, "srs", None)
    if isinstance(text, str) and text.strip().upper() == TERRITORY_CRS:
        return True
    return bool(resolve_crs(crs).equals(resolve_crs(TERRITORY_CRS)))


def _contiguous(x: np.ndarray, y: np.ndarray) -> Coords:
    """Coordinates from two arrays (copied only when not contiguous)."""
    return Coords(np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(y, dtype=float))


def _points_xy(data: pd.DataFrame, crs: Any) -> Coords:
    """Lambert-93 coordinates of the rows (NaN where unknown)."""
    n = len(data)
    if isinstance(data, gpd.GeoDataFrame) and data.geometry.name in data.columns:
        geo = data.geometry
        source = geo.crs if geo.crs is not None else crs
        if source is None:
            raise QPVLookupError("Les points n'ont pas de système de coordonnées déclaré.")
        if not _is_territory(source):
            geo = to_territory_crs(gpd.GeoDataFrame(geometry=geo, crs=source)).geometry
        arr = geo.to_numpy()
        if bool((shapely.get_type_id(arr) == 0).all()):
            coords = shapely.get_coordinates(arr)
            if len(coords) == n:  # only non-empty points: one coordinate each
                return _contiguous(coords[:, 0], coords[:, 1])
        ok = ~(shapely.is_missing(arr) | shapely.is_empty(arr))
        if ok.all():
            return _contiguous(shapely.get_x(arr), shapely.get_y(arr))
        x, y = np.full(n, np.nan), np.full(n, np.nan)
        if ok.any():
            x[ok], y[ok] = shapely.get_x(arr[ok]), shapely.get_y(arr[ok])
        return Coords(x, y)
    for xc, yc, src in (("x", "y", crs or TERRITORY_CRS), ("lon", "lat", "EPSG:4326")):
        if {xc, yc} <= set(data.columns):
            x, y = _floats(data[xc]), _floats(data[yc])
            if _is_territory(src):
                return _contiguous(x, y)  # the table's own columns, read only
            pts = gpd.GeoSeries.from_xy(x, y, crs=src).to_crs(TERRITORY_CRS).to_numpy()
            return _contiguous(shapely.get_x(pts), shapely.get_y(pts))
    return Coords(np.full(n, np.nan), np.full(n, np.nan))


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
        located = xy.located()
    else:
        located = xy.located()
        streets = streets_from_columns(data, index, columns.with_ban_defaults(data), commune, located=located)
    total = len(data)
    outputs = Outputs.empty(total)
    step = max(1, int(chunk_size))
    for start in range(0, total, step):
        sl = slice(start, min(start + step, total))
        chunk = streets.chunk(sl)
        decide(xy.rows(sl), chunk, index, outputs, sl, has_point=located[sl])
        if progress is not None:
            progress(sl.stop, total)
    out = _columns(outputs, index, data.index)
    if text is not None:
        out.update(_match_columns(text, xy, data.index))
    return _with_columns(data, out)


def _with_columns(data: pd.DataFrame, out: dict[str, pd.Series]) -> pd.DataFrame:
    """Return ``data.assign(**out)``; one concatenation for a plain frame with text column labels.

    Assigning inserts the columns one by one (each rebuilding the column labels); the
    concatenation gives the same frame (class, labels and their type, index, attributes)
    when ``data`` is a plain :class:`pandas.DataFrame` whose unnamed text labels do not
    already hold the answer columns. Any other frame is assigned.
    """
    labels = data.columns
    if (type(data) is not pd.DataFrame or data.attrs or labels.nlevels != 1 or labels.name is not None
            or not isinstance(labels.dtype, pd.StringDtype) or bool(labels.isin(list(out)).any())
            or not data.flags.allows_duplicate_labels):
        return data.assign(**out)
    return pd.concat([data, pd.DataFrame(out, index=data.index, copy=False)], axis=1)


def _match_columns(text: TextRows, xy: Coords, row_index: pd.Index) -> dict[str, pd.Series]:
    """:data:`MATCH_COLUMNS` of text addresses."""
    return {
        "qpv_match": pd.Series(text.match, index=row_index, dtype=object),
        "qpv_match_score": pd.Series(np.round(text.score, 3), index=row_index, dtype=float),
        "qpv_match_note": pd.Series(text.note, index=row_index, dtype=object),
        "qpv_x": pd.Series(xy.x, index=row_index, dtype=float),
        "qpv_y": pd.Series(xy.y, index=row_index, dtype=float),
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


@functools.lru_cache(maxsize=256)
def _category_dtype(categories: tuple[str, ...]) -> tuple[pd.CategoricalDtype, np.ndarray | None]:
    """Categorical type of distinct ``categories`` and the code remapping (``None``: already distinct)."""
    uniq = list(dict.fromkeys(categories))
    dtype = pd.CategoricalDtype(pd.Index(uniq))
    if len(uniq) == len(categories):
        return dtype, None
    position = {c: i for i, c in enumerate(uniq)}
    remap = np.array([position[c] for c in categories] + [-1], dtype=np.int32)
    remap.setflags(write=False)
    return dtype, remap


def _columns(parts: Outputs, index: LookupIndex, row_index: pd.Index) -> dict[str, pd.Series]:
    """Integer codes → categorical output columns."""
    codes = [*index.codes.tolist(), ""]
    names = [*index.names_array.tolist(), ""]
    geos = [*index.geos_array.tolist(), ""]

    def cat(values: np.ndarray, categories: list[str]) -> pd.Series:
        dtype, remap = _category_dtype(tuple(categories))
        # one new code array per column (never shared between columns), in pandas' code width
        n_cat = len(dtype.categories)
        width = np.int8 if n_cat < 127 else np.int16 if n_cat < 32_767 else np.int32
        remapped: npt.NDArray[np.integer[Any]] = (values if remap is None else remap[values]).astype(width)
        arr = pd.Categorical.from_codes(remapped, dtype=cast(Any, dtype), validate=False)
        return pd.Series(arr, index=row_index, copy=False)

    return {
        "qpv_code": cat(parts.code, codes),
        "qpv_name": cat(parts.code, names),
        "qpv_geography": cat(parts.code, geos),
        "qpv_status": cat(parts.status, _STATUSES),
        "qpv_reason": cat(parts.reason, _REASONS),
        "qpv_polygon": cat(parts.poly, codes),
        "qpv_rule": cat(parts.rule, codes),
        "qpv_disagree": pd.Series(parts.disagree, index=row_index, copy=False),
        "qpv_distance_m": pd.Series(parts.dist, index=row_index, copy=False),
        "qpv_detail": cat(parts.detail, _DETAILS),
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
    same = _is_territory(crs)
    frame = gpd.GeoDataFrame(geometry=[geom], crs=TERRITORY_CRS if same else resolve_crs(crs))
    projected = frame if same else to_territory_crs(frame)
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
