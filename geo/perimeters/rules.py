"""From street rules to a perimeter polygon, and from a polygon back to street rules.

* :func:`evaluate_rules` tells, for every address of a base, which QPV its street
  rules put it in (vectorised joins on the street key, then numpy tests on numbers).
* :func:`compile_perimeter` builds the polygon of a rule set: the address points the
  rules select are the seeds of a Voronoi tessellation of all the address points around;
  the union of their cells, clipped to ``buffer_m`` around the selected points (and
  around the centrelines of the rule streets when given), is the perimeter. Every
  address point is thus classified by the polygon exactly as by the rules.
* :func:`reverse_perimeter` reads a polygon the other way: for each street with an
  address inside, the runs of inside numbers become rules (whole street, « jusqu'au »,
  « à partir du », « du … au … », by side when that is shorter), which
  :func:`geo.perimeters.streetlist.format_street_list` writes as a town hall would.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AddressError, GeometryError, PerimeterRulesError
from geo.geometry import polygonal_part, repair_polygons
from geo.perimeters.addressmatch import commune_matches, match_streets
from geo.perimeters.streetlist import Parity, Rule
from geo.perimeters.streetnames import commune_key, normalize_street_name, street_key

logger = logging.getLogger(__name__)

__all__ = [
    "CompileOptions",
    "compile_perimeter",
    "evaluate_rules",
    "resolve_rules",
    "reverse_perimeter",
    "rules_frame",
]

METHOD = (
    "Voronoï des points adresses : les adresses retenues par les règles de rues sont les germes "
    "inclus, toutes les autres adresses du voisinage les germes exclus ; union des cellules incluses, "
    "découpée à {buffer_m:g} m des adresses retenues{streets}, trous sans adresse exclue comblés."
)



@dataclass(frozen=True)
class CompileOptions:
    """Distances and matching of :func:`compile_perimeter`.

    Attributes
    ----------
    buffer_m : float
        Maximum distance of the perimeter from a selected address, in metres.
    street_buffer_m : float
        Half-width of the rule streets' corridor, in metres.
    extent_m : float
        Margin around the selected addresses within which the other addresses are seeds.
    resolve : bool
        Match rule streets to the base with :func:`resolve_rules` first (fuzzy spellings).

    Raises
    ------
    PerimeterRulesError
        When ``buffer_m`` is not positive, or ``street_buffer_m`` or ``extent_m`` is negative.
    """

    buffer_m: float = 70.0
    street_buffer_m: float = 15.0
    extent_m: float = 400.0
    resolve: bool = True

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if not self.buffer_m > 0:
            raise PerimeterRulesError("La distance aux adresses retenues doit être positive.")
        if not (self.street_buffer_m >= 0 and self.extent_m >= 0):
            raise PerimeterRulesError(
                "Les distances de construction du périmètre doivent être positives ou nulles."
            )


def _require_addresses(addresses: pd.DataFrame) -> None:
    missing = {"street_key", "commune_key", "number"} - set(addresses.columns)
    if missing:
        raise AddressError("Base d'adresses non standardisée (utiliser standardize_addresses).")


def rules_frame(rules: Sequence[Rule]) -> pd.DataFrame:
    """Return rules as a table with join keys (``commune_key``, ``street_key``) and bounds.

    Parameters
    ----------
    rules : sequence of Rule

    Returns
    -------
    pandas.DataFrame
        One row per rule: ``qpv``, ``commune_key``, ``street_key``, ``kind``, ``lo``,
        ``hi`` (float, ±inf when open), ``parity`` (0 all, 1 odd, 2 even).
    """
    communes = {c: commune_key(c) for c in {r.commune for r in rules}}
    return pd.DataFrame(
        {
            "qpv": [r.qpv for r in rules],
            "commune_key": [communes[r.commune] for r in rules],
            "street_key": [r.key for r in rules],
            "kind": [r.kind for r in rules],
            "lo": [-np.inf if r.from_number is None else float(r.from_number) for r in rules],
            "hi": [np.inf if r.to_number is None else float(r.to_number) for r in rules],
            "parity": [{"all": 0, "odd": 1, "even": 2}[r.parity] for r in rules],
        }
    )


def evaluate_rules(rules: Sequence[Rule] | pd.DataFrame, addresses: pd.DataFrame) -> pd.DataFrame:
    """Classify addresses by street rules, vectorised.

    Parameters
    ----------
    rules : sequence of Rule or pandas.DataFrame
        Rules (of one or several QPV, told apart by ``Rule.qpv``), or their
        :func:`rules_frame`.
    addresses : pandas.DataFrame
        Columns ``commune_key``, ``street_key`` and ``number`` (nullable integer), as
        given by :func:`geo.perimeters.addressmatch.standardize_addresses`.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``addresses``: ``rule_qpv`` (code of the QPV whose rules take the
        address, ``""`` when none), ``rule_street`` (the street has rules), ``rule_decided``
        (``False`` when the street has only number rules and the address no number) and
        ``rule_ambiguous`` (rules of several QPV take it; the first is kept).
    """
    _require_addresses(addresses)
    table = rules if isinstance(rules, pd.DataFrame) else rules_frame(rules)
    n = len(addresses)
    out_qpv = np.full(n, "", dtype=object)
    out_street = np.zeros(n, dtype=bool)
    out_decided = np.ones(n, dtype=bool)
    out_amb = np.zeros(n, dtype=bool)
    if n and len(table):
        # unique (commune, street) pairs of the addresses that have a ruled street
        ruled = addresses["street_key"].isin(pd.unique(table["street_key"])).to_numpy()
        rows = np.flatnonzero(ruled)
        if len(rows):
            sub = pd.DataFrame({
                "row": rows,
                "commune_key": addresses["commune_key"].to_numpy()[rows],
                "street_key": addresses["street_key"].to_numpy()[rows],
                "number": pd.array(addresses["number"].to_numpy()[rows], dtype="Int64").to_numpy(
                    dtype="float64", na_value=np.nan),
            })
            pairs = sub[["commune_key", "street_key"]].drop_duplicates()
            cand = pairs.merge(table.reset_index(names="rule"), on="street_key", suffixes=("", "_rule"))
            wanted, actual = cand["commune_key_rule"].tolist(), cand["commune_key"].tolist()
            fits = [commune_matches(w, a) for w, a in zip(wanted, actual, strict=True)]
            cand = cand[np.asarray(fits, dtype=bool)]
            joined = sub.merge(cand.drop(columns="commune_key_rule"), on=["commune_key", "street_key"])
            _score(joined, n, out_qpv, out_street, out_decided, out_amb)
    return pd.DataFrame(
        {"rule_qpv": out_qpv, "rule_street": out_street, "rule_decided": out_decided,
         "rule_ambiguous": out_amb},
        index=addresses.index,
    )


def _score(
    joined: pd.DataFrame, n: int, out_qpv: np.ndarray, out_street: np.ndarray,
    out_decided: np.ndarray, out_amb: np.ndarray,
) -> None:
    """Fill the outputs of :func:`evaluate_rules` from (address × rule) rows."""
    if joined.empty:
        return
    num = joined["number"].to_numpy()
    kind = joined["kind"].to_numpy()
    par = joined["parity"].to_numpy()
    known = ~np.isnan(num)
    safe = np.where(known, num, 0.0)
    parity_ok = (par == 0) | ((par == 1) & (safe % 2 == 1)) | ((par == 2) & (safe % 2 == 0))
    in_range = known & parity_ok & (safe >= joined["lo"].to_numpy()) & (safe <= joined["hi"].to_numpy())
    broad = (kind == "whole") | (kind == "partial")
    positive = broad | ((kind == "range") & in_range)
    negative = (kind == "except") & in_range
    frame = pd.DataFrame({"row": joined["row"].to_numpy(), "qpv": joined["qpv"].to_numpy(),
                          "pos": positive, "neg": negative, "broad": broad, "known": known})
    agg = frame.groupby(["row", "qpv"], sort=False).agg(pos=("pos", "any"), neg=("neg", "any"),
                                                         broad=("broad", "any"), known=("known", "first"))
    agg = agg.reset_index()
    out_street[agg["row"].to_numpy()] = True
    undecided = agg.loc[~agg["known"] & ~agg["broad"], "row"].to_numpy()
    out_decided[undecided] = False
    taken = agg[agg["pos"] & ~agg["neg"]]
    counts = taken.groupby("row").size()
    out_amb[counts.index[counts.to_numpy() > 1].to_numpy()] = True
    first = taken.drop_duplicates("row")
    out_qpv[first["row"].to_numpy()] = first["qpv"].to_numpy()


def resolve_rules(
    rules: Sequence[Rule], addresses: pd.DataFrame, *, cutoff: float = 0.85
) -> tuple[list[Rule], pd.DataFrame]:
    """Match the streets of rules to the address base, fixing spellings by fuzzy matching.

    Parameters
    ----------
    rules : sequence of Rule
        Rules as parsed or edited.
    addresses : pandas.DataFrame
        Standardised address base.
    cutoff : float
        Minimum similarity of a fuzzy match.

    Returns
    -------
    rules : list of Rule
        New rules; a street matched by code or fuzzily takes the base's spelling and a
        confidence multiplied by the match score. Unmatched and ambiguous streets are kept
        as they are (they select no address).
    report : pandas.DataFrame
        One row per distinct (commune, street): the :func:`geo.perimeters.addressmatch.match_streets`
        columns plus ``commune``.
    """
    _require_addresses(addresses)
    pairs = list(dict.fromkeys((r.commune, r.street) for r in rules))
    report = match_streets([p[1] for p in pairs], addresses, communes=[p[0] for p in pairs], cutoff=cutoff)
    report.insert(0, "commune", [p[0] for p in pairs])
    fixes: dict[tuple[str, str], tuple[str, float]] = {}
    for (commune, street), (_, row) in zip(pairs, report.iterrows(), strict=True):
        if row["status"] in ("fuzzy", "code") and row["matched_key"] != street_key(street):
            fixes[(commune, street)] = (normalize_street_name(row["matched_name"]), float(row["score"]))
    out = []
    for r in rules:
        fix = fixes.get((r.commune, r.street))
        if fix is not None:
            r = replace(r, street=fix[0], confidence=round(r.confidence * fix[1], 3))
        out.append(r)
    bad = report[report["status"].isin(["unmatched", "ambiguous"])]
    if len(bad):
        logger.warning("%d voie(s) des règles non trouvée(s) ou ambiguë(s) : %s", len(bad),
                       ", ".join(bad["name"].astype(str)))
    return out, report


def _as_geometry(perimeter: Any, *, code: str | None, crs: Any) -> tuple[BaseGeometry, dict[str, Any]]:
    """Return a single polygonal geometry in EPSG:2154 and the attributes of its row."""
    attrs: dict[str, Any] = {}
    if isinstance(perimeter, gpd.GeoDataFrame):
        frame = perimeter
        if code is not None and "code" in frame.columns:
            frame = frame[frame["code"].astype(str) == code]
        elif code is not None and "code_qp" in frame.columns:
            frame = frame[frame["code_qp"].astype(str) == code]
        if len(frame) != 1:
            raise PerimeterRulesError(
                f"Un seul périmètre attendu, {len(frame)} trouvé(s)"
                + (f" pour le code {code}." if code else ".")
            )
        frame, _ = repair_polygons(to_territory_crs(frame, assume=crs))
        attrs = {k: v for k, v in frame.iloc[0].items() if k != frame.geometry.name}
        geom = frame.geometry.iloc[0]
    elif isinstance(perimeter, BaseGeometry):
        series = gpd.GeoSeries([perimeter], crs=crs or TERRITORY_CRS)
        frame, _ = repair_polygons(to_territory_crs(gpd.GeoDataFrame(geometry=series)))
        geom = frame.geometry.iloc[0]
    else:
        raise GeometryError("Le périmètre doit être une GeoDataFrame d'une ligne ou une géométrie.")
    geom = polygonal_part(geom)
    if geom is None:
        raise GeometryError("Le périmètre n'a pas de partie surfacique.")
    return geom, attrs


def _runs(numbers: np.ndarray, inside: np.ndarray) -> list[tuple[int | None, int | None]]:
    """Return the run of consecutive inside numbers → (from, to), ``None`` for an open end."""
    runs: list[tuple[int | None, int | None]] = []
    start = None
    for i, flag in enumerate(inside):
        if flag and start is None:
            start = i
        if start is not None and (not flag or i == len(inside) - 1):
            end = i if flag else i - 1
            lo = None if start == 0 else int(numbers[start])
            hi = None if end == len(inside) - 1 else int(numbers[end])
            runs.append((lo, hi))
            start = None
    return runs


def _street_rules(numbers: np.ndarray, inside: np.ndarray, base: dict[str, Any]) -> list[Rule]:
    """Rules of one street from its (unique, sorted) numbers and their majority label."""
    if not len(numbers):
        return [Rule(kind="whole", **base)]
    both = _runs(numbers, inside)
    if both == [(None, None)]:
        return [Rule(kind="whole", **base)]
    by_side: list[Rule] = []
    sides: tuple[tuple[Parity, int], ...] = (("even", 0), ("odd", 1))
    for parity, rest in sides:
        mask = numbers % 2 == rest
        by_side += [Rule(kind="range", from_number=lo, to_number=hi, parity=parity, **base)
                    for lo, hi in _runs(numbers[mask], inside[mask])]
    plain = [Rule(kind="range", from_number=lo, to_number=hi, **base) for lo, hi in both]
    return by_side if len(by_side) < len(plain) else plain


def reverse_perimeter(
    perimeter: gpd.GeoDataFrame | BaseGeometry,
    addresses: gpd.GeoDataFrame,
    *,
    code: str | None = None,
    crs: Any = None,
) -> list[Rule]:
    """Derive the street list (as rules) of a perimeter polygon from an address base.

    Parameters
    ----------
    perimeter : geopandas.GeoDataFrame or shapely geometry
        One perimeter (a frame of several is filtered by ``code``); invalid polygons are
        repaired. A bare geometry is taken in ``crs`` (EPSG:2154 by default).
    addresses : geopandas.GeoDataFrame
        Standardised address base (:func:`geo.perimeters.addressmatch.standardize_addresses`).
    code : str, optional
        QPV code, to pick the row and to stamp the rules (read from the row otherwise).
    crs : optional
        CRS of ``perimeter`` when it declares none.

    Returns
    -------
    list of Rule
        Sorted by commune and street. A street whose numbered addresses are all inside
        gives a ``whole`` rule; otherwise the runs of inside numbers, on both sides or
        by side when shorter. Addresses sharing a number (bis, ter) count by majority;
        addresses without number follow their street's whole rule only.

    Raises
    ------
    PerimeterRulesError
        When no address falls inside the perimeter.
    """
    _require_addresses(addresses)
    geom, attrs = _as_geometry(perimeter, code=code, crs=crs)
    qpv = code or str(attrs.get("code", attrs.get("code_qp", "")) or "")
    pts = addresses.geometry.to_numpy()
    shapely.prepare(geom)
    inside = shapely.contains_xy(geom, shapely.get_x(pts), shapely.get_y(pts))
    if not inside.any():
        raise PerimeterRulesError(f"Aucune adresse de la base dans le périmètre {qpv}.".replace(" .", "."))
    frame = pd.DataFrame({"ck": addresses["commune_key"].to_numpy(), "sk": addresses["street_key"].to_numpy(),
                          "street": addresses["street"].to_numpy(),
                          "commune": addresses["commune"].to_numpy(),
                          "number": addresses["number"].to_numpy(dtype="float64", na_value=np.nan),
                          "inside": inside})
    frame = frame[frame["sk"] != ""]
    touched = frame.loc[frame["inside"], ["ck", "sk"]].drop_duplicates()
    frame = frame.merge(touched, on=["ck", "sk"])
    rules: list[Rule] = []
    for (_, _), group in frame.groupby(["ck", "sk"], sort=True):
        numbered = group[group["number"].notna()]
        votes = numbered.groupby("number")["inside"].mean().sort_index()
        base = {"commune": str(group["commune"].mode().iat[0]),
                "street": normalize_street_name(str(group["street"].mode().iat[0])), "qpv": qpv,
                "raw": f"déduit du périmètre {qpv}".strip()}
        rules += _street_rules(votes.index.to_numpy(dtype=np.int64), votes.to_numpy() >= 0.5, base)
    logger.info("%s : %d règles pour %d voies", qpv, len(rules), len({r.street for r in rules}))
    return rules


def compile_perimeter(
    rules: Sequence[Rule],
    addresses: gpd.GeoDataFrame,
    *,
    streets: gpd.GeoDataFrame | None = None,
    code: str | None = None,
    name: str = "",
    geography: str = "",
    options: CompileOptions = CompileOptions(),
) -> gpd.GeoDataFrame:
    """Build the perimeter polygon of a rule set from address points (and centrelines).

    Parameters
    ----------
    rules : sequence of Rule
        The rules of one QPV (others are ignored when ``code`` is given).
    addresses : geopandas.GeoDataFrame
        Standardised address base covering the streets of the rules and their surroundings.
    streets : geopandas.GeoDataFrame, optional
        Street centrelines with a name column (``LIB_OFF``, ``nom_voie``, ``name`` or
        ``street``); the lines of the rule streets widen the clip zone by
        ``options.street_buffer_m``, never beyond the Voronoi cells of the selected addresses.
    code : str, optional
        QPV code (default: the ``qpv`` of the first rule).
    name : str
        QPV name for the output row.
    geography : str
        ``2015`` or ``2024`` (guessed from the code when empty: ``QP`` → 2015, ``QN`` → 2024).
    options : CompileOptions
        Clip distance around the selected addresses (70 m), street corridor (15 m), seed
        extent (400 m) and fuzzy matching of the rule streets (on).

    Returns
    -------
    geopandas.GeoDataFrame
        One row (EPSG:2154): ``code``, ``name``, ``geography``, ``source``, ``method``,
        ``n_rules``, ``n_addresses``, ``unmatched_streets``, ``ambiguous_streets`` and the
        MultiPolygon.

    Raises
    ------
    PerimeterRulesError
        When there are no rules or the rules select no address.
    """
    _require_addresses(addresses)
    rules = list(rules)
    if not rules:
        raise PerimeterRulesError("Aucune règle de rue : impossible de construire un périmètre.")
    code = code if code is not None else rules[0].qpv
    rules = [r for r in rules if r.qpv == code] or rules
    rules = [replace(r, qpv=code) for r in rules]
    unmatched: list[str] = []
    ambiguous: list[str] = []
    if options.resolve:
        rules, report = resolve_rules(rules, addresses)
        unmatched = report.loc[report["status"].isin(["unmatched", "empty"]), "name"].astype(str).tolist()
        ambiguous = report.loc[report["status"] == "ambiguous", "name"].astype(str).tolist()
    decision = evaluate_rules(rules, addresses)
    selected = (decision["rule_qpv"] == code).to_numpy()
    if not selected.any():
        raise PerimeterRulesError(f"Les règles du périmètre {code} ne retiennent aucune adresse de la base.")
    pts = addresses.geometry.to_numpy()
    xy = shapely.get_coordinates(pts)
    if len(xy) != len(pts):
        raise GeometryError("La base d'adresses doit contenir des points non vides.")
    sel_xy = xy[selected]
    lo, hi = sel_xy.min(axis=0) - options.extent_m, sel_xy.max(axis=0) + options.extent_m
    near = (xy[:, 0] >= lo[0]) & (xy[:, 0] <= hi[0]) & (xy[:, 1] >= lo[1]) & (xy[:, 1] <= hi[1])
    seeds = near & decision["rule_decided"].to_numpy()
    seed_frame = pd.DataFrame(
        {"x": xy[seeds, 0].round(2), "y": xy[seeds, 1].round(2), "sel": selected[seeds]}
    )
    seed_frame = seed_frame.groupby(["x", "y"], sort=False)["sel"].mean().reset_index()
    seed_pts = cast("NDArray[np.object_]", shapely.points(seed_frame[["x", "y"]].to_numpy()))
    sel_seed = seed_frame["sel"].to_numpy() >= 0.5
    box = shapely.box(lo[0], lo[1], hi[0], hi[1])
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(seed_pts), extend_to=box, ordered=True)
    )
    if len(cells) != len(seed_pts):
        raise GeometryError("Tessellation des adresses incohérente (points confondus ?).")
    cells = shapely.intersection(cells, box)
    inside = shapely.coverage_union_all(cells[sel_seed]) if sel_seed.any() else shapely.Polygon()
    clip = shapely.union_all(shapely.buffer(seed_pts[sel_seed], options.buffer_m, quad_segs=4))
    street_note = ""
    if streets is not None and len(streets):
        corridor = _rule_corridors(rules, streets, options.street_buffer_m)
        if corridor is not None:
            clip = shapely.union(clip, corridor)
            street_note = f" et à {options.street_buffer_m:g} m des axes des voies des règles"
    geom = shapely.intersection(inside, clip)
    geom = _fill_empty_holes(geom, seed_pts[~sel_seed])
    mp = polygonal_part(shapely.make_valid(geom))
    geography = geography or ("2024" if code.startswith("QN") else "2015" if code.startswith("QP") else "")
    row = {
        "code": code, "name": name, "geography": geography,
        "source": f"{len(rules)} règles de rues + {int(near.sum())} points adresses",
        "method": METHOD.format(buffer_m=options.buffer_m, streets=street_note),
        "n_rules": len(rules), "n_addresses": int(selected.sum()),
        "unmatched_streets": " ; ".join(unmatched), "ambiguous_streets": " ; ".join(ambiguous),
    }
    return gpd.GeoDataFrame([row], geometry=[mp], crs=TERRITORY_CRS)


def _rule_corridors(rules: Sequence[Rule], streets: gpd.GeoDataFrame, width: float) -> BaseGeometry | None:
    """Buffer of the centrelines whose name is a street of the rules."""
    column = next((c for c in ("LIB_OFF", "nom_voie", "name", "street", "nom") if c in streets.columns), None)
    if column is None:
        raise PerimeterRulesError("Filaire de voies sans colonne de nom (LIB_OFF, nom_voie, name, street).")
    lines = to_territory_crs(streets)
    wanted = {r.key for r in rules if r.kind != "except"}
    keys = lines[column].astype(object).map(street_key)
    chosen = lines.geometry.to_numpy()[keys.isin(wanted).to_numpy()]
    if not len(chosen):
        return None
    return shapely.union_all(shapely.buffer(chosen, width, quad_segs=4))


def _fill_empty_holes(geom: BaseGeometry, excluded: np.ndarray) -> BaseGeometry:
    """Fill the holes of ``geom`` that contain no excluded address."""
    polys = shapely.get_parts(polygonal_part(geom) or shapely.MultiPolygon())
    out = []
    for poly in polys:
        holes = [shapely.Polygon(r) for r in poly.interiors]
        keep = [h.exterior for h in holes if shapely.contains(h, excluded).any()] if len(excluded) else []
        out.append(shapely.Polygon(poly.exterior, keep))
    return shapely.MultiPolygon(out) if out else shapely.MultiPolygon()
