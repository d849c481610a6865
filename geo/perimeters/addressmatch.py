"""Address bases: reading, standardising, matching street names, geocoding text.

Two kinds of address base are understood out of the box, and any table with the
columns named explicitly:

* the Base Adresse Nationale CSV (``numero``, ``rep``, ``nom_voie``, ``nom_commune``,
  ``id_fantoir``, ``x``/``y`` in Lambert-93 or ``lon``/``lat``);
* municipal address points such as Montpellier's (``NUM_VOI``, ``SUF_VOI``, ``LIB_OFF``,
  ``CODE_VOIE``), whatever their declared CRS.

:func:`standardize_addresses` turns them into one frame (EPSG:2154, columns of
:data:`ADDRESS_COLUMNS`); a house number 0 is a placeholder and becomes missing.
:func:`match_streets` matches street names (exact key, FANTOIR / RIVOLI / local code,
then fuzzy) and reports unmatched and ambiguous names; :func:`geocode` finds the point
of free-text addresses (« 12 bis rue de la Paix, 75002 Paris »).
"""

from __future__ import annotations

import difflib
import gzip
import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import TERRITORY_CRS, to_territory_crs
from geo.errors import AddressError
from geo.perimeters.streetnames import LEADING_TYPES, commune_key, street_key, street_keys

logger = logging.getLogger(__name__)

__all__ = [
    "ADDRESS_COLUMNS",
    "ParsedAddress",
    "commune_matches",
    "geocode",
    "match_streets",
    "parse_address",
    "read_addresses",
    "split_commune",
    "standardize_addresses",
]

#: Columns of a standardised address base (plus ``geometry``).
ADDRESS_COLUMNS = ["street", "street_key", "number", "suffix", "commune", "commune_key", "code", "postcode"]

_PROFILES: dict[str, dict[str, str]] = {
    "ban": {"street": "nom_voie", "number": "numero", "suffix": "rep", "commune": "nom_commune",
            "code": "id_fantoir", "postcode": "code_postal"},
    "montpellier": {"street": "LIB_OFF", "number": "NUM_VOI", "suffix": "SUF_VOI", "code": "CODE_VOIE"},
}


def _detect(columns: Iterable[str]) -> str | None:
    cols = set(columns)
    for name, profile in _PROFILES.items():
        if {profile["street"], profile["number"]} <= cols:
            return name
    return None


def _text_column(frame: pd.DataFrame, column: str | None) -> pd.Series:
    if column is None or column not in frame.columns:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column].astype(object)
    return values.where(values.notna(), "").map(lambda v: str(v).strip()).astype(object)


def standardize_addresses(
    data: pd.DataFrame,
    *,
    commune: str | None = None,
    street_column: str | None = None,
    number_column: str | None = None,
    suffix_column: str | None = None,
    commune_column: str | None = None,
    code_column: str | None = None,
    crs: Any = None,
) -> gpd.GeoDataFrame:
    """Turn an address base into the standard frame used by matching, rules and lookup.

    Parameters
    ----------
    data : pandas.DataFrame or geopandas.GeoDataFrame
        A BAN table, municipal address points, or any table with a street and a number
        column. Without geometry, points are built from ``x``/``y`` (Lambert-93) or
        ``lon``/``lat`` (WGS84).
    commune : str, optional
        Commune of every address when the base has no commune column (Montpellier).
    street_column, number_column, suffix_column, commune_column, code_column : str, optional
        Column names, when the base is neither the BAN nor Montpellier's points.
    crs : optional
        CRS to assume when a GeoDataFrame declares none.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed like ``data``, in EPSG:2154, with :data:`ADDRESS_COLUMNS`: ``number`` is
        a nullable integer (0 and unreadable numbers become missing), ``suffix`` is
        lower case (``bis``, ``ter``, ``b``), keys are those of :mod:`geo.perimeters.streetnames`.

    Raises
    ------
    AddressError
        When the street or number column cannot be found, or no coordinates exist.
    """
    profile = dict(_PROFILES.get(_detect(data.columns) or "", {}))
    for key, value in (("street", street_column), ("number", number_column), ("suffix", suffix_column),
                       ("commune", commune_column), ("code", code_column)):
        if value is not None:
            profile[key] = value
    for key in ("street", "number"):
        if profile.get(key) not in data.columns:
            raise AddressError(
                f"Base d'adresses : colonne de {'voie' if key == 'street' else 'numéro'} introuvable "
                f"(colonnes : {', '.join(map(str, data.columns[:12]))}…)."
            )
    if isinstance(data, gpd.GeoDataFrame) and data.geometry.name in data.columns:
        geo = to_territory_crs(gpd.GeoDataFrame(geometry=data.geometry, crs=data.crs), assume=crs)
        geometry = geo.geometry
    elif {"x", "y"} <= set(data.columns):
        geometry = gpd.GeoSeries.from_xy(pd.to_numeric(data["x"], errors="coerce"),
                                         pd.to_numeric(data["y"], errors="coerce"),
                                         index=data.index, crs=TERRITORY_CRS)
    elif {"lon", "lat"} <= set(data.columns):
        geometry = gpd.GeoSeries.from_xy(pd.to_numeric(data["lon"], errors="coerce"),
                                         pd.to_numeric(data["lat"], errors="coerce"),
                                         index=data.index, crs="EPSG:4326").to_crs(TERRITORY_CRS)
    else:
        raise AddressError("Base d'adresses sans géométrie ni colonnes x/y ou lon/lat.")
    street = _text_column(data, profile["street"])
    number = pd.to_numeric(data[profile["number"]], errors="coerce")
    number = number.where((number > 0) & (number == number.round())).astype("Int64")
    if commune_column is None and profile.get("commune") not in data.columns:
        communes = pd.Series(commune or "", index=data.index, dtype=object)
    else:
        communes = _text_column(data, profile.get("commune"))
    out = gpd.GeoDataFrame(
        {
            "street": street,
            "street_key": street_keys(street),
            "number": number,
            "suffix": _text_column(data, profile.get("suffix")).str.lower(),
            "commune": communes,
            "commune_key": communes.map(commune_key).astype(object),
            "code": _text_column(data, profile.get("code")),
            "postcode": _text_column(data, profile.get("postcode")),
        },
        geometry=geometry.to_numpy(),
        index=data.index,
        crs=TERRITORY_CRS,
    )
    return out


def read_addresses(path: str | Path, *, commune: str | None = None, **columns: str) -> gpd.GeoDataFrame:
    """Read an address file (BAN CSV, ``.csv.gz``, shapefile in a ``.zip``, GeoPackage…).

    Parameters
    ----------
    path : str or Path
        The file. CSV separators ``;`` and ``,`` are both recognised.
    commune : str, optional
        Commune of every address when the file has none.
    **columns : str
        Column names passed to :func:`standardize_addresses`.

    Returns
    -------
    geopandas.GeoDataFrame
        The standardised base (see :func:`standardize_addresses`).

    Raises
    ------
    AddressError
        When the file is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise AddressError(f"Fichier d'adresses introuvable : {path}.")
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz", ".txt")):
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as fh:
            first = fh.readline()
        sep = ";" if first.count(";") >= first.count(",") else ","
        frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
        return standardize_addresses(frame, commune=commune, **columns)
    source = f"zip://{path}" if name.endswith(".zip") else str(path)
    try:
        frame = gpd.read_file(source)
    except Exception as exc:
        raise AddressError(f"Fichier d'adresses illisible ({path.name}) : {exc}.") from exc
    return standardize_addresses(frame, commune=commune, **columns)


def commune_matches(wanted: str, actual: str) -> bool:
    """Tell whether an address commune key fits a wanted commune key.

    ``""`` fits everything, and « PARIS » fits « PARIS 20E ARRONDISSEMENT » (also Lyon,
    Marseille).
    """
    return not wanted or actual == wanted or actual.startswith(wanted + " ")


# --------------------------------------------------------------------------- street matching


def _street_table(addresses: pd.DataFrame) -> pd.DataFrame:
    """One row per (commune key, street key): first spelling, codes, count."""
    frame = addresses[["commune_key", "street_key", "street", "code"]]
    frame = frame[frame["street_key"] != ""]
    grouped = frame.groupby(["commune_key", "street_key"], sort=False)
    table = grouped["street"].agg(["first", "size"]).rename(columns={"first": "name", "size": "n"})
    codes = frame[frame["code"] != ""].drop_duplicates(["commune_key", "street_key", "code"])
    code_sets = codes.groupby(["commune_key", "street_key"], sort=False)["code"].agg(frozenset)
    table["codes"] = code_sets.reindex(table.index)
    table["codes"] = table["codes"].map(lambda c: c if isinstance(c, frozenset) else frozenset())
    return table.reset_index()


def match_streets(
    names: Sequence[str] | pd.Series,
    addresses: pd.DataFrame,
    *,
    communes: Sequence[str] | str | None = None,
    cutoff: float = 0.85,
) -> pd.DataFrame:
    """Match street names (or FANTOIR / RIVOLI / local codes) against an address base.

    Parameters
    ----------
    names : sequence of str or pandas.Series
        Street names in any spelling, or street codes.
    addresses : pandas.DataFrame
        A base standardised by :func:`standardize_addresses`.
    communes : str or sequence of str, optional
        Commune of each name (or one for all); ``""`` / ``None``: any commune.
    cutoff : float
        Minimum similarity (0–1) of a fuzzy match.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``names``: ``name``, ``key``, ``status`` (``exact``, ``code``,
        ``fuzzy``, ``ambiguous``, ``unmatched``, ``empty``), ``matched_key``,
        ``matched_name``, ``matched_commune``, ``score``, ``candidates`` (« ; »-joined)
        and ``n_addresses``.

    Raises
    ------
    AddressError
        When ``addresses`` is not standardised.
    """
    missing = {"street_key", "commune_key", "street", "code"} - set(addresses.columns)
    if missing:
        raise AddressError("Base d'adresses non standardisée (utiliser standardize_addresses).")
    series = names if isinstance(names, pd.Series) else pd.Series(list(names), dtype=object)
    if communes is None or isinstance(communes, str):
        commune_list = [communes or ""] * len(series)
    else:
        commune_list = list(communes)
    table = _street_table(addresses)
    by_key: dict[str, list[int]] = {}
    for i, key in enumerate(table["street_key"]):
        by_key.setdefault(key, []).append(i)
    by_code: dict[str, list[int]] = {}
    for i, codes in enumerate(table["codes"]):
        for c in codes:
            by_code.setdefault(str(c), []).append(i)
    rows = []
    for name, commune in zip(series.tolist(), commune_list, strict=True):
        rows.append(_match_one(name, commune_key(commune), table, by_key, by_code, cutoff))
    return pd.DataFrame(rows, index=series.index)


def _match_one(
    name: Any, ckey: str, table: pd.DataFrame, by_key: dict[str, list[int]],
    by_code: dict[str, list[int]], cutoff: float,
) -> dict[str, Any]:
    text = "" if name is None or (isinstance(name, float) and name != name) else str(name).strip()
    key = street_key(text)
    row: dict[str, Any] = {"name": text, "key": key, "status": "unmatched", "matched_key": "",
                           "matched_name": "", "matched_commune": "", "score": 0.0, "candidates": "",
                           "n_addresses": 0}
    if not text:
        row["status"] = "empty"
        return row
    communes = table["commune_key"].to_numpy()

    def fits(idx: list[int]) -> list[int]:
        # an address without commune (a municipal file) answers for the commune asked
        return [i for i in idx if not communes[i] or commune_matches(ckey, communes[i])]

    status = "exact"
    hits = fits(by_key.get(key, []))
    if not hits and text in by_code:
        hits, status = fits(by_code[text]), "code"
    score = 1.0
    if not hits:
        pool = fits(list(range(len(table))))
        keys = table["street_key"].to_numpy()
        matcher = difflib.SequenceMatcher()
        matcher.set_seq2(key)
        candidates = []
        for i in pool:
            matcher.set_seq1(keys[i])
            if matcher.real_quick_ratio() >= 0.6 and matcher.quick_ratio() >= 0.6:
                candidates.append((matcher.ratio(), i))
        scored = sorted(candidates, reverse=True)[:5]
        good = [(s, i) for s, i in scored if s >= cutoff]
        if good:
            score = good[0][0]
            hits = [i for s, i in good if s >= score - 0.02]
            status = "fuzzy"
        row["candidates"] = " ; ".join(f"{table['name'].iat[i]} ({s:.2f})" for s, i in scored[:3] if s >= 0.6)
    if not hits:
        return row
    if len(hits) > 1:
        row.update(status="ambiguous", score=score, candidates=" ; ".join(
            f"{table['name'].iat[i]} — {cast(str, table['commune_key'].iat[i]) or '?'}" for i in hits))
        return row
    i = hits[0]
    row.update(status=status, matched_key=table["street_key"].iat[i], matched_name=table["name"].iat[i],
               matched_commune=table["commune_key"].iat[i], score=score,
               n_addresses=int(cast(int, table["n"].iat[i])))
    return row


# --------------------------------------------------------------------------- text addresses


@dataclass(frozen=True)
class ParsedAddress:
    """A free-text address split into parts.

    Attributes
    ----------
    number : int or None
        First house number (« 12-14 » → 12, « 12 bis » → 12).
    suffix : str
        ``bis``, ``ter``, ``quater``, a letter, or ``""``.
    number_to : int or None
        Second number of a span such as « 12-14 », else ``None``.
    street : str
        Street part as written.
    postcode : str
        Five-digit postcode, ``""`` if none.
    commune : str
        Commune part, ``""`` if none.
    """

    number: int | None
    suffix: str
    number_to: int | None
    street: str
    postcode: str
    commune: str


_SUFFIXES = r"bis|ter|quater|quinquies|[a-h]"
_ADDRESS = re.compile(
    rf"^\s*(?:(?P<num>\d{{1,5}})\s*(?P<suf>(?:{_SUFFIXES})\b)?\s*(?:[-/à]\s*(?P<to>\d{{1,5}})\s*(?:{_SUFFIXES})?\b)?)?"
    r"\s*,?\s*(?P<rest>.*)$",
    re.IGNORECASE,
)


def parse_address(text: str | None) -> ParsedAddress:
    """Split a free-text French address into number, suffix, street, postcode and commune.

    Parameters
    ----------
    text : str or None
        « 12 bis rue de la Paix, 75002 Paris », « 12-14 RUE X », « 118, Rue Bernard Blier ».

    Returns
    -------
    ParsedAddress
        Empty parts are ``None`` / ``""``; an empty text gives an empty street.
    """
    raw = "" if text is None or (isinstance(text, float) and text != text) else str(text)
    raw = re.sub(r"\s+", " ", raw).strip()
    m = _ADDRESS.match(raw)
    if not raw or m is None:
        return ParsedAddress(None, "", None, "", "", "")
    rest = m.group("rest")
    postcode = commune = ""
    pm = re.search(r"\b(\d{5})\b\s*(.*)$", rest)
    if pm:
        postcode, commune = pm.group(1), pm.group(2).strip(" ,")
        rest = rest[: pm.start()]
    elif "," in rest:
        rest, _, commune = rest.rpartition(",")
    number = int(m.group("num")) if m.group("num") else None
    to = int(m.group("to")) if m.group("to") else None
    suffix = (m.group("suf") or "").lower()
    return ParsedAddress(number, suffix, to, rest.strip(" ,"), postcode, commune.strip())


#: Words a street name cannot end with: a commune name after them belongs to the street (« rue de Paris »).
_LINKS = frozenset({"de", "du", "des", "d", "la", "le", "les", "l", "à", "a", "au", "aux", "en", "sur", "et"})


def split_commune(
    parsed: ParsedAddress, communes: Collection[str], *, streets: Collection[str] = ()
) -> ParsedAddress:
    """Recognise a known commune written at the end of the street (« 12 rue de Verdun Lillers »).

    Parameters
    ----------
    parsed : ParsedAddress
        From :func:`parse_address`; left as is when it already names a commune.
    communes : collection of str
        Commune keys (:func:`geo.perimeters.streetnames.commune_key`) that may end the text;
        « PARIS » is recognised for « PARIS 20E ARRONDISSEMENT ».
    streets : collection of str
        Known street keys: a street that is one of them as written is not split
        (« rue du Faubourg Saint-Denis » stays whole even when Saint-Denis is known).

    Returns
    -------
    ParsedAddress
        With the commune moved out of the street, or ``parsed`` unchanged.
    """
    if parsed.commune or not communes or not parsed.street:
        return parsed
    if streets and street_key(parsed.street) in streets:
        return parsed
    words = parsed.street.split()
    tails = []
    for k in range(min(5, len(words) - 2), 0, -1):  # at least « rue X » left
        head, tail = words[:-k], " ".join(words[-k:])
        key = commune_key(tail)
        if not key or head[-1].lower().strip("'’") in _LINKS:
            continue
        if any(commune_matches(key, c) for c in communes):
            return ParsedAddress(parsed.number, parsed.suffix, parsed.number_to, " ".join(head).strip(" ,"),
                                 parsed.postcode, tail)
        tails.append((head, key))
    # a misspelt commune (« Montpelier »): the one known commune it is close to
    for head, key in tails:
        close = _close_commune(key, communes)
        if close:
            return ParsedAddress(parsed.number, parsed.suffix, parsed.number_to, " ".join(head).strip(" ,"),
                                 parsed.postcode, close)
    return parsed


#: Similarity (difflib ratio) from which a word ending an address is taken for a known commune.
COMMUNE_CUTOFF = 0.88


def _close_commune(key: str, communes: Collection[str]) -> str:
    """Return the known commune key closest to ``key`` when only one is that close (else ``""``)."""
    if len(key) < 5:
        return ""
    close = difflib.get_close_matches(key, [c for c in communes if c], n=2, cutoff=COMMUNE_CUTOFF)
    return close[0] if len(close) == 1 else ""


def _resolve_commune(parsed: ParsedAddress, addresses: pd.DataFrame) -> ParsedAddress:
    """Use the postcode to name the commune, and drop a commune name left in the street."""
    if not parsed.postcode:
        return parsed
    keys = addresses.loc[addresses["postcode"] == parsed.postcode, "commune_key"].unique()
    if len(keys) != 1:
        return parsed
    ckey = str(keys[0])
    street = parsed.street
    words = street.split()
    while len(words) > 2 and commune_key(words[-1]) and ckey.startswith(commune_key(words[-1])):
        words.pop()
    if not parsed.commune or commune_matches(commune_key(parsed.commune), ckey):
        return ParsedAddress(parsed.number, parsed.suffix, parsed.number_to, " ".join(words), parsed.postcode,
                             ckey)
    return parsed


def _approximation(typed_key: str, matched_key: str) -> str:
    """French note on a fuzzy street match: another street type, or another spelling."""
    def body(key: str) -> list[str]:
        words = key.split()
        return words[1:] if len(words) > 1 and words[0] in LEADING_TYPES else words

    typed, matched = typed_key.split(), matched_key.split()
    if body(typed_key) == body(matched_key) and typed[:1] != matched[:1]:
        return "type de voie différent"
    return "orthographe approchée"


def _label(number: Any, suffix: str, street: str, postcode: str, commune: str) -> str:
    """« 10 bis Rue Félix Terrier 75020 Paris 20e Arrondissement »."""
    head = " ".join(x for x in (str(number) if number is not None else "", suffix, street) if x)
    place = " ".join(x for x in (postcode, commune) if x)
    return f"{head} {place}".strip() if place else head


@dataclass(frozen=True)
class _Base:
    """The address base prepared for :func:`geocode`: (commune, street, number) → rows."""

    index: dict[tuple[str, str, int], list[int]]
    suffixes: np.ndarray
    geoms: np.ndarray
    postcodes: np.ndarray
    communes: np.ndarray


def _prepare_base(addresses: pd.DataFrame, wanted: set[str]) -> _Base:
    base = addresses[addresses["number"].notna() & addresses["street_key"].isin(wanted)]
    index: dict[tuple[str, str, int], list[int]] = {}
    triples = zip(base["commune_key"], base["street_key"], base["number"], strict=True)
    for pos, (ck, sk, num) in enumerate(triples):
        index.setdefault((ck, sk, int(num)), []).append(pos)
    post = base["postcode"].to_numpy(dtype=object) if "postcode" in base.columns else \
        np.full(len(base), "", dtype=object)
    return _Base(index, base["suffix"].to_numpy(), base.geometry.to_numpy(), post,
                 base["commune"].to_numpy(dtype=object))


def geocode(
    texts: Sequence[str | None] | pd.Series,
    addresses: pd.DataFrame,
    *,
    commune: str | None = None,
    cutoff: float = 0.85,
    communes: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """Find the point of free-text addresses in a standardised address base.

    Parameters
    ----------
    texts : sequence of str or pandas.Series
        Addresses as typed by a user.
    addresses : geopandas.GeoDataFrame
        A base standardised by :func:`standardize_addresses`.
    commune : str, optional
        Commune to assume when a text names none.
    cutoff : float
        Minimum similarity of a fuzzy street match.
    communes : collection of str, optional
        Commune keys recognised at the end of a text written without postcode or comma
        (« 12 boulevard Davout Paris »; see :func:`split_commune`); by default those of
        the base.

    Returns
    -------
    geopandas.GeoDataFrame
        Indexed like ``texts`` (EPSG:2154): ``number``, ``suffix``, ``street_key``,
        ``commune_key``, ``matched_name``, ``street_status`` (see :func:`match_streets`),
        ``status`` and the point (empty when not found). ``status`` is ``found``,
        ``found_without_suffix`` (« 12 ter » when only 12 exists), ``number_not_found``
        (known street, unknown number, e.g. beyond its last address: no point, but rules
        still apply), ``no_number``, ``street_not_found``, ``ambiguous`` or ``empty``.
        Also: ``typed_commune`` (commune key the text names, ``""`` if none),
        ``postcode`` (as typed), ``matched_address`` (the address of the base that
        answers, « 10 Rue Félix Terrier 75020 Paris 20e Arrondissement », ``""`` when
        none), ``score`` (similarity of the street names, 1 when exact, NaN when not
        matched), ``approximation`` (French note: « type de voie différent »,
        « orthographe approchée », « indice … absent de la base », ``""`` when exact)
        and ``candidates`` (« ; »-joined, for ambiguous or unmatched streets).
    """
    series = texts if isinstance(texts, pd.Series) else pd.Series(list(texts), dtype=object)
    known = set(communes) if communes is not None else set(pd.unique(addresses["commune_key"])) - {""}
    streets = set(pd.unique(addresses["street_key"]))
    parsed = [_resolve_commune(split_commune(parse_address(t), known, streets=streets), addresses)
              for t in series.tolist()]
    typed = [commune_key(p.commune) for p in parsed]
    matches = match_streets([p.street for p in parsed], addresses,
                            communes=[p.commune or commune or "" for p in parsed], cutoff=cutoff)
    base = _prepare_base(addresses, set(matches["matched_key"]) - {""})
    out_geom: list[Any] = []
    records = []
    for p, ckey, (_, m) in zip(parsed, typed, matches.iterrows(), strict=True):
        rec, point = _geocode_one(p, m, base)
        rec["typed_commune"] = ckey
        records.append(rec)
        out_geom.append(point)
    frame = pd.DataFrame(records, index=series.index)
    frame["number"] = frame["number"].astype("Int64")
    frame["score"] = frame["score"].astype(float)
    return gpd.GeoDataFrame(frame, geometry=np.array(out_geom, dtype=object), crs=TERRITORY_CRS)


def _geocode_one(p: ParsedAddress, m: pd.Series, base: _Base) -> tuple[dict[str, Any], Any]:
    """One parsed address and its street match → output record and point."""
    status = m["status"]
    fuzzy = status == "fuzzy"
    rec: dict[str, Any] = {
        "number": p.number, "suffix": p.suffix, "street_key": m["matched_key"] or m["key"],
        "commune_key": m["matched_commune"], "matched_name": m["matched_name"], "street_status": status,
        "postcode": p.postcode, "matched_address": "", "score": np.nan,
        "approximation": _approximation(m["key"], m["matched_key"]) if fuzzy else "",
        "candidates": m["candidates"],
    }
    point = None
    if status == "empty" and p.number is None:
        rec["status"] = "empty"
        return rec, point
    if status in ("unmatched", "empty"):
        rec["status"] = "street_not_found"
        return rec, point
    rec["score"] = float(m["score"])
    if status == "ambiguous":
        rec["status"] = "ambiguous"
        return rec, point
    if p.number is None:
        rec["status"] = "no_number"
        rec["matched_address"] = _label(None, "", m["matched_name"], "", m["matched_commune"].title())
        return rec, point
    hits = base.index.get((m["matched_commune"], m["matched_key"], p.number), [])
    exact = [h for h in hits if base.suffixes[h] == p.suffix]
    if exact:
        pick, rec["status"] = exact[0], "found"
    elif hits:
        pick = ([h for h in hits if not base.suffixes[h]] or hits)[0]
        rec["status"] = "found_without_suffix"
        note = f"indice « {p.suffix} » absent de la base"
        rec["approximation"] = f"{rec['approximation']}, {note}" if rec["approximation"] else note
    else:
        rec["status"] = "number_not_found"
        rec["matched_address"] = _label(None, "", m["matched_name"], "", m["matched_commune"].title())
        return rec, point
    point = base.geoms[pick]
    rec["matched_address"] = _label(p.number, str(base.suffixes[pick] or ""), m["matched_name"],
                                    str(base.postcodes[pick] or ""), str(base.communes[pick] or ""))
    return rec, point
