"""The streets, numbers and communes of the rows of a lookup (helper of :mod:`geo.perimeters.lookup`).

Rows come either as address columns (street, number, commune) or as free text, parsed
and geocoded against the address base; either way they end up as :class:`Streets`, the
street keys the rules are written with.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import shapely

from geo.perimeters._columnar import Coords, factorize
from geo.perimeters.addressmatch import commune_matches, geocode, parse_address, split_commune
from geo.perimeters.index import AddressColumns, LookupIndex
from geo.perimeters.streetnames import (
    ARTICLES,
    LEADING_TYPES,
    STREET_TYPES,
    TITLES,
    commune_key,
    street_key,
    street_keys,
)

logger = logging.getLogger(__name__)

#: Statuses of :func:`geo.perimeters.addressmatch.geocode`, coded by their position.
GEO_STATUSES = ["", "found", "found_without_suffix", "number_not_found", "no_number", "street_not_found",
                "ambiguous", "empty"]


def _numbers(values: pd.Series) -> np.ndarray:
    """House numbers as floats (« 12 bis » → 12, « 12-14 » → 12, 0 → NaN)."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    else:
        text = values.astype(object).where(values.notna(), "").astype(str)
        num = pd.to_numeric(text.str.extract(r"^\s*(\d{1,6})", expand=False), errors="coerce").to_numpy(
            dtype=float, na_value=np.nan)
    return np.where(num > 0, num, np.nan)


def _abbreviations() -> dict[str, set[str]]:
    """Full word of a street type or title → its abbreviations."""
    reverse: dict[str, set[str]] = {}
    for short, full in {**STREET_TYPES, **TITLES}.items():
        for word in full.split():
            reverse.setdefault(word, set()).add(short)
    return reverse


_ABBREVIATIONS = _abbreviations()


def rule_tokens(rule_keys: frozenset[str]) -> dict[str, list[frozenset[str]]]:
    """Words every spelling of each rule street contains: last name word → all its name words.

    Used to skip the normalisation of the many streets no rule can match (types and titles
    such as ``BD`` / ``BOULEVARD`` are left out, since they are abbreviated in many ways).
    """
    reverse = _ABBREVIATIONS
    tokens: dict[str, list[frozenset[str]]] = {}
    for key in rule_keys:
        words = [w for w in key.split() if w not in ARTICLES]
        if len(words) > 1 and words[0] in LEADING_TYPES:
            words = words[1:]
        plain = [w for w in words if w not in reverse]
        if plain:
            tokens.setdefault(plain[-1], []).append(frozenset(plain))
        else:  # only types and titles: every spelling of every word
            for w in words:
                for spelling in (w, *reverse.get(w, ())):
                    tokens.setdefault(spelling, []).append(frozenset())
    return tokens


def _byte_table() -> bytes:
    """Byte translation keeping capitals, digits and new lines, blanking everything else."""
    keep = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\n")
    return bytes(b if b in keep else ord(" ") for b in range(256))


_BYTES = _byte_table()


@dataclass
class Streets:
    """Street and commune of each row, as codes into small tables of keys."""

    codes: np.ndarray  # per row, index into keys (-1: no street)
    keys: np.ndarray  # street keys of the distinct names ("~": cannot match a rule)
    communes: pd.Series | None  # per row: commune names (or keys when ``keyed``), None: ``commune``
    commune: str  # commune key of rows without commune
    keyed: bool
    numbers: np.ndarray
    geo_status: np.ndarray  # per row: index in GEO_STATUSES ("" or a geocode status)
    outside: np.ndarray | None = None  # per row: commune or postcode outside the territory
    street_ids: np.ndarray | None = None  # per key: id of the street in the compiled rules (-1: none)
    # per row: position of its commune key in the table (read on the ruled streets only), and the table
    commune_codes: np.ndarray | None = None
    commune_table: list[str] | None = None

    def chunk(self, rows: slice) -> Streets:
        """Return the rows ``rows`` (same key tables)."""
        return Streets(
            self.codes[rows], self.keys, None if self.communes is None else self.communes.iloc[rows],
            self.commune, self.keyed, self.numbers[rows], self.geo_status[rows],
            None if self.outside is None else self.outside[rows], self.street_ids,
            None if self.commune_codes is None else self.commune_codes[rows], self.commune_table)


def _street_keys_for_rules(names: pd.Series | np.ndarray, index: LookupIndex) -> np.ndarray:
    """Street keys of distinct names: ``""`` when blank, ``"~"`` when no rule can match.

    All names are upper-cased, unaccented and cleaned in one pass over one big string;
    only the names holding all the name words of a rule street are normalised in full.
    """
    texts = ["" if not isinstance(v, str) else v.replace("\n", " ")
             for v in np.asarray(names, dtype=object).tolist()]
    n = len(texts)
    keys = np.full(n, "~", dtype=object)
    if not n:
        return keys
    big = "\n".join(texts).upper().replace("Œ", "OE").replace("Æ", "AE")
    lines = unicodedata.normalize("NFKD", big).encode("ascii", "ignore").translate(_BYTES).decode("ascii")
    split = pd.Series(lines.split("\n"), dtype=object).str.split()
    words = split.explode()
    keys[words.index[words.isna().to_numpy()].unique().to_numpy()] = ""
    tokens = index.tokens
    if not tokens:
        return keys
    hit = words.isin(list(tokens)).to_numpy()
    for i in np.unique(words.index.to_numpy()[hit]).tolist():
        line_words = set(cast(list[str], split.iat[i]))
        if any(need <= line_words for t in line_words if t in tokens for need in tokens[t]):
            keys[i] = street_key(texts[i])
    return keys


def streets_from_columns(data: pd.DataFrame, index: LookupIndex, columns: AddressColumns,
                          commune: str | None, *, located: np.ndarray | None = None) -> Streets:
    """Streets, communes and numbers of the rows, from the address columns.

    ``located`` marks the rows with a point: without rules, their street, number and
    commune cannot change the answer, so only the other rows are read (none at all when
    every row has a point).
    """
    n = len(data)
    ruled = index.compiled is not None
    read = np.arange(n) if ruled or located is None else np.flatnonzero(~located)
    full = len(read) == n
    codes: np.ndarray = np.broadcast_to(np.intp(-1), (n,))  # no street read: a read-only view
    keys = np.array([], dtype=object)
    if columns.street is not None and len(read):
        street = data[columns.street]
        sub_codes, uniques = factorize(street if full else street.iloc[read])
        if full:
            codes = sub_codes.astype(np.intp, copy=False)
        else:
            codes = np.full(n, -1, dtype=np.intp)
            codes[read] = sub_codes
        keys = _street_keys_for_rules(uniques, index)
    communes = data[columns.commune] if columns.commune is not None else None
    numbers: np.ndarray = np.broadcast_to(np.nan, (n,))
    street_ids = commune_codes = commune_table = None
    compiled = index.compiled
    if compiled is not None and len(keys):
        # numbers and communes only matter on the streets the rules name: read them there, once
        ids = compiled.street_ids
        street_ids = np.array([ids.get(k, -1) for k in keys.tolist()], dtype=np.int64)
        rows = np.flatnonzero(np.append(street_ids >= 0, False)[codes])
        if columns.number is not None and len(rows):
            numbers = np.full(n, np.nan)
            numbers[rows] = _numbers(data[columns.number].iloc[rows])
        default = commune_key(commune)
        commune_table = [default]
        if communes is not None and len(rows):
            ccodes, cnames = factorize(communes.iloc[rows])
            table = [commune_key(c) for c in cnames.tolist()]
            commune_table = [k or default for k in [*table, default]]
            commune_codes = np.full(n, -1, dtype=np.int64)
            commune_codes[rows] = np.where(ccodes < 0, len(table), ccodes)
    outside = None
    territory = index.territory
    if territory is not None:
        outside = np.zeros(n, dtype=bool)
        if communes is not None and len(read):
            ccodes, cnames = factorize(communes if full else communes.iloc[read])
            lut = [territory.commune_outside(commune_key(c) or commune_key(commune)) for c in cnames]
            fallback = territory.commune_outside(commune_key(commune))
            outside[read] = np.append(np.array(lut, dtype=bool), fallback)[ccodes]
        elif communes is None and commune:
            outside[:] = territory.commune_outside(commune_key(commune))
    return Streets(codes, keys, communes, commune_key(commune), False, numbers,
                    np.broadcast_to(np.int8(0), (n,)), outside, street_ids, commune_codes, commune_table)


@dataclass
class TextRows:
    """What text addresses tell, per row, before the rules and polygons answer."""

    street_keys: np.ndarray
    commune_keys: np.ndarray  # commune searched or found ("" when unknown)
    typed: np.ndarray  # commune key the text (or the default commune) names
    postcodes: np.ndarray
    numbers: np.ndarray
    status: np.ndarray  # geocode status ("" without address base)
    match: np.ndarray
    score: np.ndarray
    note: np.ndarray
    found: np.ndarray  # geocoded point (or None)


def _text_rows(texts: pd.Series, index: LookupIndex, commune: str | None) -> TextRows:
    """Parse (and geocode, when the index has an address base) free-text addresses."""
    known = index.known_communes()
    default = commune_key(commune)
    n = len(texts)
    if index.addresses is not None:
        coded = geocode(texts, index.addresses, commune=commune, communes=known or None)
        typed = coded["typed_commune"].to_numpy(dtype=object)
        matched = coded["commune_key"].to_numpy(dtype=object)
        cands = coded["candidates"].to_numpy(dtype=object)
        notes = coded["approximation"].to_numpy(dtype=object).copy()
        status = coded["status"].to_numpy(dtype=object)
        for i in np.flatnonzero((status == "street_not_found") | (status == "ambiguous")).tolist():
            if cands[i]:
                label = ("voies proches" if status[i] == "street_not_found"
                         else "voie trouvée dans plusieurs communes")
                notes[i] = f"{label} : {cands[i]}"
        return TextRows(
            street_keys=coded["street_key"].to_numpy(dtype=object),
            commune_keys=np.where(matched != "", matched, np.where(typed != "", typed, default)),
            typed=np.where(typed != "", typed, default), postcodes=coded["postcode"].to_numpy(dtype=object),
            numbers=coded["number"].to_numpy(dtype=float, na_value=np.nan), status=status,
            match=coded["matched_address"].to_numpy(dtype=object),
            score=coded["score"].to_numpy(dtype=float), note=notes, found=coded.geometry.to_numpy(),
        )
    parsed = [split_commune(parse_address(t), known, streets=index.rule_keys) for t in texts.tolist()]
    typed = np.array([commune_key(p.commune) or default for p in parsed], dtype=object)
    return TextRows(
        street_keys=street_keys([p.street for p in parsed]).to_numpy(dtype=object),
        commune_keys=typed.copy(), typed=typed,
        postcodes=np.array([p.postcode for p in parsed], dtype=object),
        numbers=np.array([np.nan if p.number is None else float(p.number) for p in parsed]),
        status=np.array(["empty" if not p.street and p.number is None else "" for p in parsed], dtype=object),
        match=np.full(n, "", dtype=object), score=np.full(n, np.nan), note=np.full(n, "", dtype=object),
        found=np.full(n, None, dtype=object),
    )


def _commune_label(index: LookupIndex, key: str) -> str:
    return index.commune_names.get(key) or key.title()


def _resolve_communes(rows: TextRows, index: LookupIndex) -> None:
    """Rows naming no commune: the street's communes (rules, address base) decide, or it is ambiguous.

    Changes ``rows`` in place: the commune assumed, the ``ambiguous`` status, the notes.
    """
    for i in np.flatnonzero(rows.typed == "").tolist():
        skey = rows.street_keys[i]
        if not skey or rows.status[i] in ("ambiguous", "empty"):
            continue
        found = rows.commune_keys[i]
        ruled = [c for c in sorted(index.rule_communes.get(skey, ())) if c]
        others = [c for c in ruled
                  if not (found and (commune_matches(c, found) or commune_matches(found, c)))]
        communes = ([found] if found else []) + others
        if len(communes) > 1:
            rows.status[i] = "ambiguous"
            names = " ; ".join(_commune_label(index, c) for c in communes)
            rows.note[i] = f"voie présente dans plusieurs communes : {names} (précisez la commune)"
        elif others:
            rows.commune_keys[i] = others[0]
            note = (f"commune supposée : {_commune_label(index, others[0])} "
                    "(seule liste de rues où figure la voie)")
            rows.note[i] = f"{rows.note[i]} | {note}" if rows.note[i] else note


def streets_from_text(
    texts: pd.Series, index: LookupIndex, commune: str | None, xy: Coords
) -> tuple[Streets, Coords, TextRows]:
    """Streets, numbers, geocoding status and points of free-text addresses (``xy`` is not modified)."""
    rows = _text_rows(texts, index, commune)
    _resolve_communes(rows, index)
    found = ~shapely.is_missing(rows.found) & np.isnan(xy.x)
    xy = Coords(xy.x.copy(), xy.y.copy())
    if found.any():
        xy.x[found], xy.y[found] = shapely.get_x(rows.found[found]), shapely.get_y(rows.found[found])
    outside = None
    if index.territory is not None:
        territory = index.territory
        outside = np.array([territory.commune_outside(c, pc) for c, pc in
                            zip(rows.typed.tolist(), rows.postcodes.tolist(), strict=True)], dtype=bool)
    codes, keys = pd.factorize(pd.Series(rows.street_keys, dtype=object), use_na_sentinel=True)
    geo_codes = np.array([GEO_STATUSES.index(str(v)) if v in GEO_STATUSES else 0 for v in rows.status],
                         dtype=np.int8)
    nums = rows.numbers
    streets = Streets(np.asarray(codes), np.asarray(keys, dtype=object),
                       pd.Series(rows.commune_keys, dtype=object), commune_key(commune), True,
                       np.where(nums > 0, nums, np.nan), geo_codes, outside)
    return streets, xy, rows
