"""Perimeters and QPV lookups backed by the store: compile, reverse, look up.

This module glues the pure functions of :mod:`geo.perimeters.rules` and :mod:`geo.perimeters.lookup`
to a :class:`~layers.store.base.LayerStore`:

* :func:`compile_to_store` turns street rules and the store's ``adresses`` (and
  ``voies`` when present) into a perimeter polygon stored in ``perimetres``, with its
  provenance and method written in ``source``; the rules are kept in the store
  settings so that later lookups can also answer « by street rule »;
* :func:`reverse_from_store` reads a stored perimeter back into a street list;
* :func:`save_street_list` stores a perimeter known only by its street list (code, name,
  commune, geography, the rules and their source): it answers lookups from its rules
  alone, and :func:`compile_to_store` can later draw its polygon;
* :func:`lookup_index_from_store` prepares the lookup index from the stored perimeters
  (with their geography version), the stored or given street rules, the addresses and
  the territory they cover (:func:`store_territory`): a point or an address elsewhere
  is « hors territoire », never « hors QPV ».

The CLI (``qpv rues``, ``qpv localiser``) and the JSON endpoint ``/api/lookup`` call them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.crs import TERRITORY_CRS
from geo.errors import QPVError
from geo.perimeters.addressmatch import commune_matches, standardize_addresses
from geo.perimeters.lookup import LookupIndex, LookupResult, build_index, lookup_address, lookup_point
from geo.perimeters.rules import CompileOptions, compile_perimeter, reverse_perimeter
from geo.perimeters.streetlist import Rule, format_street_list, rules_from_records, rules_to_records
from geo.perimeters.streetnames import commune_key
from geo.perimeters.territory import Territory, build_territory
from layers.errors import PerimeterStoreError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = [
    "PerimeterSpec",
    "PerimeterStoreError",
    "StreetListPerimeter",
    "agreement",
    "compile_to_store",
    "lookup_from_store",
    "lookup_index_from_store",
    "lookup_revision",
    "perimeter_uid",
    "result_dict",
    "reverse_from_store",
    "save_street_list",
    "store_addresses",
    "store_territory",
    "stored_rules",
    "street_list_perimeters",
]

#: Prefix of the store settings holding the street rules of a compiled perimeter.
RULES_META_PREFIX = "regles_rues:"
#: Store setting listing the codes whose rules are kept.
RULES_META_INDEX = "regles_rues"
#: Prefix of the store settings describing a perimeter known by its street list.
LIST_META_PREFIX = "perimetre_liste:"


# --------------------------------------------------------------------------- addresses


def store_addresses(
    store: LayerStore, *, commune: str | None = None, bbox: tuple[float, float, float, float] | None = None
) -> gpd.GeoDataFrame:
    """Read the store's ``adresses`` as a standardised address base.

    Parameters
    ----------
    store : LayerStore
        The store.
    commune : str, optional
        Keep the addresses of this commune only (« Paris 20e », « Montpellier »; the
        commune matching of :func:`geo.perimeters.addressmatch.commune_matches` applies).
    bbox : tuple of float, optional
        Keep the addresses in this Lambert-93 box.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns of :data:`geo.perimeters.addressmatch.ADDRESS_COLUMNS` and the points, EPSG:2154.

    Raises
    ------
    PerimeterStoreError
        When the store holds no address (for the commune).
    """
    raw = store.read("adresses", bbox=bbox)
    if raw.empty:
        raise PerimeterStoreError(
            "L'entrepôt ne contient aucune adresse : importez d'abord une base d'adresses "
            "(qpv importer adresses …)."
        )
    base = standardize_addresses(raw, street_column="street", number_column="number", suffix_column="suffix",
                                 commune_column="commune", code_column="street_code")
    # the postcode is not among the explicit columns of standardize_addresses
    post = raw["postcode"].astype(object)
    base["postcode"] = post.where(post.notna(), "").map(lambda v: str(v).strip()).astype(object)
    if commune:
        wanted = commune_key(commune)
        keys = pd.Series(base["commune_key"].unique())
        ok = {k for k in keys if commune_matches(wanted, str(k))}
        base = base[base["commune_key"].isin(ok)]
        if base.empty:
            known = ", ".join(sorted({str(c) for c in raw["commune"].dropna().unique()})[:10])
            raise PerimeterStoreError(
                f"Aucune adresse de la commune « {commune} » dans l'entrepôt (communes : {known})."
            )
    return base


# --------------------------------------------------------------------------- rules kept in the store


def _rules_key(code: str) -> str:
    return f"{RULES_META_PREFIX}{code}"


def _save_rules(store: LayerStore, code: str, rules: Sequence[Rule]) -> None:
    codes = set(json.loads(store.get_meta(RULES_META_INDEX, "[]") or "[]"))
    codes.add(code)
    store.set_meta(_rules_key(code), json.dumps(rules_to_records(list(rules)), ensure_ascii=False))
    store.set_meta(RULES_META_INDEX, json.dumps(sorted(codes)))


@dataclass(frozen=True, kw_only=True)
class StreetListPerimeter:
    """A perimeter known by its street list, as stored by :func:`save_street_list`.

    Attributes
    ----------
    code, name, commune, geography, kind : str
        As in :class:`PerimeterSpec` (the commune is required here).
    source : str
        Where the list comes from (file name, convention…).
    n_rules : int
        Number of rules kept.
    """

    code: str
    name: str
    commune: str
    geography: str = "2015"
    kind: str = "qpv"
    source: str = ""
    n_rules: int = 0


def save_street_list(
    store: LayerStore, rules: Sequence[Rule], *, perimeter: PerimeterSpec, source: str = ""
) -> StreetListPerimeter:
    """Store a perimeter known only by its street list; lookups then answer from its rules.

    Parameters
    ----------
    store : LayerStore
        The store.
    rules : sequence of Rule
        The rules (their ``qpv`` and ``commune`` are set to the perimeter's).
    perimeter : PerimeterSpec
        Code, name, commune (required), geography and kind.
    source : str
        Where the list comes from (kept with it).

    Returns
    -------
    StreetListPerimeter

    Raises
    ------
    PerimeterStoreError
        When no rule is given, the commune is missing, or a perimeter of this code
        imported from a file already exists.
    """
    rules = list(rules)
    if not rules:
        raise PerimeterStoreError("Aucune règle de rue : la liste est vide.")
    commune = (perimeter.commune or "").strip()
    if not commune:
        named = {r.commune for r in rules if r.commune}
        commune = named.pop() if len(named) == 1 else ""
    if not commune:
        raise PerimeterStoreError(
            f"Commune de la liste de rues {perimeter.code} inconnue : précisez --commune."
        )
    existing = store.read("perimetres", where={"code": perimeter.code})
    imported = existing[existing["source_dataset"].astype(str) != "liste de rues"] if not existing.empty \
        else existing
    if not imported.empty:
        raise PerimeterStoreError(
            f"Le périmètre {perimeter.code} existe déjà dans l'entrepôt avec son polygone "
            f"(source : {imported['source'].iat[0]}) ; choisissez un autre code."
        )
    rules = [replace(r, qpv=perimeter.code, commune=commune) for r in rules]
    record = StreetListPerimeter(code=perimeter.code, name=perimeter.name, commune=commune,
                                 geography=perimeter.geography, kind=perimeter.kind, source=source,
                                 n_rules=len(rules))
    with store.transaction():
        _save_rules(store, perimeter.code, rules)
        store.set_meta(f"{LIST_META_PREFIX}{perimeter.code}",
                       json.dumps(record.__dict__, ensure_ascii=False))
    logger.info("street list of %s stored (%d rules, commune %s)", perimeter.code, len(rules), commune)
    return record


def street_list_perimeters(store: LayerStore) -> dict[str, StreetListPerimeter]:
    """Return the perimeters stored by :func:`save_street_list`, by code."""
    out: dict[str, StreetListPerimeter] = {}
    for code in json.loads(store.get_meta(RULES_META_INDEX, "[]") or "[]"):
        text = store.get_meta(f"{LIST_META_PREFIX}{code}")
        if text:
            fields = json.loads(text)
            out[code] = StreetListPerimeter(**{k: v for k, v in fields.items()
                                               if k in StreetListPerimeter.__dataclass_fields__})
    return out


def stored_rules(store: LayerStore, codes: Sequence[str] | None = None) -> list[Rule]:
    """Return the street rules kept in the store by :func:`compile_to_store` or :func:`save_street_list`.

    Parameters
    ----------
    store : LayerStore
        The store.
    codes : sequence of str, optional
        Only the rules of these perimeters (all by default).

    Returns
    -------
    list of Rule
        The rules, each with its ``qpv`` code; those of compiled perimeters no longer
        stored are left out (a street-list perimeter needs no polygon).
    """
    kept = json.loads(store.get_meta(RULES_META_INDEX, "[]") or "[]")
    wanted = set(codes) if codes is not None else None
    present = set(store.read("perimetres")["code"].astype(str)) | set(street_list_perimeters(store))
    rules: list[Rule] = []
    for code in kept:
        if (wanted is not None and code not in wanted) or code not in present:
            continue
        text = store.get_meta(_rules_key(code))
        if text:
            rules += [replace(r, qpv=code) for r in rules_from_records(json.loads(text))]
    return rules


# --------------------------------------------------------------------------- compile / reverse


def perimeter_uid(code: str, geography: str) -> str:
    """Stable uid of a compiled perimeter (one per code and geography version)."""
    return hashlib.sha1(f"perimetre-compile|{code}|{geography}".encode()).hexdigest()[:20]


@dataclass(frozen=True, kw_only=True)
class PerimeterSpec:
    """The perimeter :func:`compile_to_store` builds: who it is and where its streets are.

    Attributes
    ----------
    code, name : str
        Code (« QP062057 », a 2024 « QN… » code or a local code) and name of the perimeter.
    commune : str or None
        Commune of the streets (restricts the address base); ``None``: the commune of
        the rules when they all name the same one, else every address.
    geography : str
        ``2015`` or ``2024``.
    kind : str
        ``qpv``, ``veille active`` or ``quartier``.
    """

    code: str
    name: str
    commune: str | None
    geography: str = "2015"
    kind: str = "qpv"


def compile_to_store(
    store: LayerStore,
    rules: Sequence[Rule],
    *,
    perimeter: PerimeterSpec,
    streets_layer: str | None = "voies",
    replace_existing: bool = False,
    buffer_m: float = 70.0,
    actor: str | None = None,
) -> str:
    """Build the perimeter of street rules from the store's addresses and store it.

    Parameters
    ----------
    store : LayerStore
        Holds ``adresses`` (and ``voies``); receives the ``perimetres`` record.
    rules : sequence of Rule
        The rules of the perimeter (from :func:`geo.perimeters.streetlist.parse_street_list` or
        :func:`geo.perimeters.streetlist.read_rules`).
    perimeter : PerimeterSpec
        Code, name, commune, geography and kind of the perimeter.
    streets_layer : str or None
        Centreline layer widening the perimeter along the rule streets (skipped when
        empty or ``None``).
    replace_existing : bool
        Replace a perimeter of the same code and geography compiled before; otherwise
        that is an error. Perimeters imported from a file are never replaced.
    buffer_m : float
        Maximum distance of the perimeter from a selected address (metres).
    actor : str, optional
        Who compiles (kept in the store).

    Returns
    -------
    str
        The uid of the stored perimeter.

    Raises
    ------
    PerimeterStoreError
        When no rule is given, a perimeter with this code already exists, or the rules
        select no address of the store.
    """
    code, name, geography = perimeter.code, perimeter.name, perimeter.geography
    rules = list(rules)
    if not rules:
        raise PerimeterStoreError("Aucune règle de rue : rien à compiler.")
    uid = perimeter_uid(code, geography)
    existing = store.read("perimetres", where={"code": code, "geography": geography})
    if not existing.empty:
        others = existing[existing["uid"] != uid]
        if not others.empty:
            raise PerimeterStoreError(
                f"Le périmètre {code} (géographie {geography}) existe déjà dans l'entrepôt "
                f"(source : {others['source'].iat[0]}) ; choisissez un autre code."
            )
        if not replace_existing:
            raise PerimeterStoreError(
                f"Le périmètre {code} (géographie {geography}) a déjà été compilé ; "
                "utilisez --remplacer pour le recalculer."
            )
    commune = perimeter.commune
    if commune is None:
        named = {r.commune for r in rules if r.commune}
        commune = named.pop() if len(named) == 1 else None
    addresses = store_addresses(store, commune=commune)
    rules = [replace(r, qpv=code, commune=r.commune or (commune or "")) for r in rules]
    streets = None
    if streets_layer:
        xmin, ymin, xmax, ymax = addresses.total_bounds
        streets = store.read(streets_layer, bbox=(xmin - 500, ymin - 500, xmax + 500, ymax + 500))
        if streets.empty:
            streets = None
    try:
        out = compile_perimeter(rules, addresses, streets=streets, code=code, name=name,
                                geography=geography, options=CompileOptions(buffer_m=buffer_m))
    except QPVError as exc:
        raise PerimeterStoreError(str(exc)) from exc
    row = out.iloc[0]
    notes = []
    if row["unmatched_streets"]:
        notes.append(f"voies introuvables : {row['unmatched_streets']}")
    if row["ambiguous_streets"]:
        notes.append(f"voies ambiguës : {row['ambiguous_streets']}")
    source = (
        f"compilé depuis une liste de rues ({len(rules)} règles, "
        f"{int(row['n_addresses'])} adresses retenues ; "
        f"{row['source']} ; méthode : {row['method']})"
        + (f" ; {' ; '.join(notes)}" if notes else "")
    )
    record = gpd.GeoDataFrame(
        {"uid": [uid], "code": [code], "name": [name], "communes": [commune or ""], "geography": [geography],
         "kind": [perimeter.kind], "source": [source], "source_dataset": ["liste de rues"],
         "source_id": [code]},
        geometry=out.geometry.to_numpy(), crs=out.crs,
    )
    with store.transaction():
        if not existing.empty:
            store.delete("perimetres", [uid])
        store.write("perimetres", record, actor=actor)
        _save_rules(store, code, rules)
    logger.info("perimeter %s compiled from %d rules (%d addresses)", code, len(rules),
                int(row["n_addresses"]))
    return uid


def reverse_from_store(store: LayerStore, code: str, *, commune: str | None = None) -> tuple[list[Rule], str]:
    """Derive the street list of a stored perimeter from the store's addresses.

    Parameters
    ----------
    store : LayerStore
        Holds the perimeter and the addresses.
    code : str
        Perimeter code.
    commune : str, optional
        Only the addresses of this commune.

    Returns
    -------
    rules : list of Rule
        The rules (whole streets, « jusqu'au », « à partir du », ranges, by side).
    text : str
        The list written as a town hall would (:func:`geo.perimeters.streetlist.format_street_list`).

    Raises
    ------
    PerimeterStoreError
        When the perimeter is unknown or holds no address.
    """
    per = store.read("perimetres", where={"code": code})
    if per.empty:
        raise PerimeterStoreError(f"Périmètre « {code} » absent de l'entrepôt.")
    row = per.iloc[[0]]
    xmin, ymin, xmax, ymax = row.total_bounds
    addresses = store_addresses(store, commune=commune, bbox=(xmin - 50, ymin - 50, xmax + 50, ymax + 50))
    try:
        rules = reverse_perimeter(row, addresses, code=code)
    except QPVError as exc:
        raise PerimeterStoreError(str(exc)) from exc
    title = (f"{code} {row['name'].iat[0]} — liste des rues déduite du périmètre "
             f"(géographie {row['geography'].iat[0]})")
    return rules, format_street_list(rules, title=title)


# --------------------------------------------------------------------------- lookup


def store_territory(
    store: LayerStore,
    *,
    perimeters: gpd.GeoDataFrame | None = None,
    addresses: gpd.GeoDataFrame | None = None,
    rules: Sequence[Rule] = (),
) -> Territory:
    """Return the territory the store knows: communes and area of its perimeters, lists and addresses.

    Parameters
    ----------
    store : LayerStore
        The store.
    perimeters : geopandas.GeoDataFrame, optional
        Its perimeters, when already read (read here otherwise).
    addresses : geopandas.GeoDataFrame, optional
        Its standardised address base, when already read (read here otherwise).
    rules : sequence of Rule
        Street rules (stored and given): their communes belong to the territory.

    Returns
    -------
    geo.perimeters.territory.Territory
        See :func:`geo.perimeters.territory.build_territory` for how the area is drawn.
    """
    if perimeters is None:
        perimeters = store.read("perimetres")
    if addresses is None and store.count("adresses"):
        raw = store.read("adresses")
        addresses = gpd.GeoDataFrame(
            {"commune": raw["commune"].astype(object).where(raw["commune"].notna(), ""),
             "commune_key": raw["commune"].map(commune_key).astype(object),
             "postcode": raw["postcode"].astype(object).where(raw["postcode"].notna(), "").map(str)},
            geometry=raw.geometry.to_numpy(), crs=raw.crs)
    return build_territory(perimeters=perimeters, addresses=addresses,
                           rule_communes=[r.commune for r in rules if r.commune],
                           rule_codes=[r.qpv for r in rules if r.qpv])


def lookup_index_from_store(
    store: LayerStore,
    *,
    rules: Sequence[Rule] | None = None,
    stored: bool = True,
    geography: str | None = None,
    kinds: Sequence[str] | None = ("qpv",),
    addresses: bool = True,
    max_distance_m: float = 500.0,
) -> LookupIndex:
    """Prepare the lookup index from the stored perimeters, rules, addresses and territory.

    Parameters
    ----------
    store : LayerStore
        The store.
    rules : sequence of Rule, optional
        Extra street rules (a ``regles.yaml`` file), each naming its QPV.
    stored : bool
        Also use the rules kept by :func:`compile_to_store` and :func:`save_street_list`.
    geography : str, optional
        Only the perimeters of this geography version (``2015`` / ``2024``).
    kinds : sequence of str, optional
        Perimeter kinds looked up (QPV only by default: a « quartier » such as a whole
        arrondissement overlaps them); ``None``: every kind.
    addresses : bool
        Load the address base, needed to look up text addresses.
    max_distance_m : float
        Boundary distances beyond this are not computed.

    Returns
    -------
    geo.perimeters.lookup.LookupIndex
        With the store's territory (:func:`store_territory`).

    Raises
    ------
    PerimeterStoreError
        When the store holds no perimeter, no street list and no rule is given.
    """
    where: dict[str, Any] = {"geography": geography} if geography else {}
    if kinds is not None:
        where["kind"] = list(kinds)
    perimeters = store.read("perimetres", where=where or None)
    all_rules = list(rules or [])
    lists = street_list_perimeters(store) if stored else {}
    if stored:
        all_rules += stored_rules(store)
    if geography:
        all_rules = [r for r in all_rules if lists.get(r.qpv) is None or lists[r.qpv].geography == geography]
    if perimeters.empty and not all_rules:
        raise PerimeterStoreError(
            "Aucun périmètre dans l'entrepôt : importez un périmètre, compilez-le "
            "(qpv rues compiler) ou enregistrez sa liste de rues (qpv rues enregistrer)."
        )
    base = None
    if addresses and store.count("adresses"):
        base = store_addresses(store)
    territory = store_territory(store, perimeters=store.read("perimetres"), addresses=base, rules=all_rules)
    names = {code: item.name for code, item in lists.items()}
    frame = perimeters[["code", "name", "geography", "geometry"]] if not perimeters.empty else None
    return build_index(frame, rules=all_rules, addresses=base, max_distance_m=max_distance_m,
                       territory=territory, rule_names=names)


#: The layers :func:`lookup_index_from_store` reads (with the street rules kept in the settings).
LOOKUP_LAYERS = ("perimetres", "adresses")


def lookup_revision(store: LayerStore) -> tuple[str | None, str]:
    """Return what the index of :func:`lookup_index_from_store` depends on, as a comparable marker.

    The revision of the layers it reads (:data:`LOOKUP_LAYERS`, see
    :meth:`LayerStore.layer_revision`) and a digest of the street rules and lists kept in
    the settings: writes to other layers (constats, events…) leave it unchanged, so a cache
    of the index keyed by it survives them.
    """
    index = store.get_meta(RULES_META_INDEX, "[]") or "[]"
    digest = hashlib.sha256(f"{store.crs}\x00{index}".encode())
    try:
        codes = json.loads(index)
    except ValueError:
        codes = []
    for code in codes if isinstance(codes, list) else []:
        for key in (_rules_key(str(code)), f"{LIST_META_PREFIX}{code}"):
            digest.update(f"\x00{key}\x00{store.get_meta(key) or ''}".encode())
    return store.layer_revision(LOOKUP_LAYERS), digest.hexdigest()


def lookup_from_store(
    index: LookupIndex,
    *,
    address: str | None = None,
    lon: float | None = None,
    lat: float | None = None,
    commune: str | None = None,
) -> LookupResult:
    """Look up one address or one WGS84 point with an index from :func:`lookup_index_from_store`.

    Raises
    ------
    PerimeterStoreError
        When neither an address nor both coordinates are given.
    """
    if lon is not None and lat is not None:
        return lookup_point((lon, lat), index, crs="EPSG:4326")
    if address is not None:
        return lookup_address(address, index, commune=commune)
    raise PerimeterStoreError("Donnez une adresse ou un point (longitude et latitude).")


STATUS_FR = {
    "inside": "dans un QPV",
    "outside": "hors QPV",
    "ambiguous": "ambigu",
    "not_found": "introuvable",
    "empty": "vide",
    "out_of_territory": "hors territoire : aucun périmètre connu ici",
}
#: French status codes (CSV column ``qpv_statut``, JSON key ``qpv_statut``).
STATUS_CODES = {
    "inside": "dans_qpv",
    "outside": "hors_qpv",
    "ambiguous": "ambigu",
    "not_found": "introuvable",
    "empty": "vide",
    "out_of_territory": "hors_territoire",
}
REASON_FR = {"both": "les deux", "polygon": "polygone", "street_rule": "règle de rue", "": ""}
#: French reason codes (CSV column ``qpv_motif``).
REASON_CODES = {"both": "polygone_et_liste", "polygon": "polygone", "street_rule": "liste_de_rues", "": ""}


def _side(code: str | None) -> str:
    return f"dans {code}" if code else "hors QPV"


def agreement(result: LookupResult) -> str:
    """Both answers side by side when the polygon and the street list both answered.

    Returns
    -------
    str
        « polygone : dans QP062057 ; liste de rues : dans QP062057 — concordants »
        (or « — discordants »); ``""`` when only one source answered.
    """
    if result.polygon is None or result.rule is None:
        return ""
    verdict = "discordants" if result.disagree or result.polygon != result.rule else "concordants"
    return f"polygone : {_side(result.polygon)} ; liste de rues : {_side(result.rule)} — {verdict}"


def lonlat(x: float, y: float) -> tuple[float, float] | None:
    """WGS84 longitude and latitude of a Lambert-93 point (``None`` when unknown)."""
    if x != x or y != y:
        return None
    point = gpd.GeoSeries(gpd.points_from_xy([x], [y]), crs=TERRITORY_CRS).to_crs("EPSG:4326").iat[0]
    return round(float(point.x), 7), round(float(point.y), 7)


def result_dict(result: LookupResult) -> dict[str, Any]:
    """Return a lookup result as a JSON-ready mapping (French labels beside the codes).

    Returns
    -------
    dict
        ``code``, ``nom``, ``geographie``, ``statut`` (English code, kept for
        compatibility) / ``qpv_statut`` (French code: ``dans_qpv``, ``hors_qpv``,
        ``hors_territoire``, ``introuvable``, ``ambigu``, ``vide``) / ``statut_libelle``,
        ``motif`` / ``motif_libelle``, ``polygone``, ``regle``, ``desaccord``,
        ``concordance`` (both answers, or ``None``), ``distance_m`` (``None`` when
        unknown), ``detail``, and for the place that answers: ``adresse_trouvee``,
        ``score``, ``approchee`` (bool), ``remarque``, ``lon``, ``lat`` (``None`` when
        unknown).
    """
    dist = result.distance_m
    ll = lonlat(result.x, result.y)
    return {
        "code": result.code or None,
        "nom": result.name or None,
        "geographie": result.geography or None,
        "statut": result.status,
        "qpv_statut": STATUS_CODES.get(result.status, result.status),
        "statut_libelle": STATUS_FR.get(result.status, result.status),
        "motif": result.reason or None,
        "motif_libelle": REASON_FR.get(result.reason, result.reason) or None,
        "polygone": result.polygon,
        "regle": result.rule,
        "desaccord": bool(result.disagree),
        "concordance": agreement(result) or None,
        "distance_m": None if dist != dist else round(float(dist), 1),
        "detail": result.detail,
        "adresse_trouvee": result.match or None,
        "score": None if result.score != result.score else round(float(result.score), 2),
        "approchee": bool(result.approximate),
        "remarque": result.match_note or None,
        "lon": None if ll is None else ll[0],
        "lat": None if ll is None else ll[1],
    }
