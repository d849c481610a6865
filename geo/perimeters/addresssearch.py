"""Address suggestions for a search box: « 12 bis rue des Pyrénées » → address points.

The index holds the territory's address points (BAN or the town's base) grouped by
street. A query is a number (optionally with its suffix: bis, ter, a, b…) and words of
the street name, in any case and with or without accents; every word must be a word of
the street (the last one may be the beginning of a word, as the user types it), or of
the commune or postcode. No spelling correction: a misspelt street finds nothing rather
than a guess, and a number the street does not have finds nothing either.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.perimeters.streetnames import ARTICLES, STREET_TYPES, normalize_street_name, strip_accents

#: Most suggestions answered.
MAX_SUGGESTIONS = 10
#: BAN suffixes (« rep ») as people write them.
SUFFIXES = {"B": "bis", "BIS": "bis", "T": "ter", "TER": "ter", "Q": "quater", "QUATER": "quater",
            "QUINQUIES": "quinquies"}
_QUERY = re.compile(r"^\s*(\d{1,5})\s*(BIS|TER|QUATER|QUINQUIES|[A-Z])?\b[\s,]*(.*)$")
_WORD = re.compile(r"[^A-Z0-9 ]+")


@dataclass(frozen=True)
class AddressHit:
    """One suggestion: an address point, or a whole street when no number was typed."""

    label: str
    lon: float
    lat: float
    street: str
    number: int | None
    suffix: str | None
    postcode: str | None
    commune: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the suggestion as JSON-ready values."""
        return {"label": self.label, "lon": round(self.lon, 7), "lat": round(self.lat, 7),
                "voie": self.street, "numero": self.number, "indice": self.suffix,
                "code_postal": self.postcode, "commune": self.commune,
                "type": "adresse" if self.number is not None else "voie"}


def _words(text: str) -> list[str]:
    return _WORD.sub(" ", strip_accents(str(text)).upper().replace("'", " ").replace("’", " ")).split()


def _suffix_key(value: Any) -> str:
    """« b », « bis », « B » → ``"BIS"``; a letter stays itself; empty → ``""``."""
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return ""
    word = strip_accents(str(value)).strip().upper()
    return SUFFIXES.get(word, word).upper()


def _suffix_label(value: Any) -> str | None:
    key = _suffix_key(value)
    return key.lower() if key else None


@dataclass(frozen=True)
class _Street:
    name: str
    words: tuple[str, ...]       # normalised words of the street (types expanded), articles dropped
    key: str                     # normalised name, articles dropped, for ranking
    pool: tuple[str, ...]        # its words, then those of the commune and postcode
    rows: np.ndarray             # positions of its address points


class AddressIndex:
    """Address points of a territory, searchable by number and street words.

    Parameters
    ----------
    addresses : GeoDataFrame
        Layer ``adresses`` (``number``, ``suffix``, ``street``, ``postcode``, ``commune``),
        in any projected or geographic CRS.
    """

    def __init__(self, addresses: gpd.GeoDataFrame) -> None:
        gdf = addresses[addresses.geometry.notna() & ~addresses.geometry.is_empty]
        gdf = gdf[gdf["street"].notna()].reset_index(drop=True)
        wgs = gdf.geometry.to_crs("EPSG:4326") if gdf.crs is not None else gdf.geometry
        self._lon = wgs.x.to_numpy(dtype=float)
        self._lat = wgs.y.to_numpy(dtype=float)
        self._number = pd.to_numeric(gdf["number"], errors="coerce").to_numpy(dtype=float)
        self._suffix = np.array([_suffix_key(v) for v in gdf["suffix"]], dtype=object)
        self._suffix_raw = gdf["suffix"].astype("object").to_numpy()
        self._postcode = gdf["postcode"].astype("object").to_numpy()
        self._commune = gdf["commune"].astype("object").to_numpy()
        streets = []
        communes = gdf["commune"].astype("object").where(gdf["commune"].notna(), "").astype(str)
        groups = gdf.groupby([gdf["street"].astype(str), communes], sort=True).indices
        for (name, commune), rows in groups.items():
            normal = normalize_street_name(name).split()
            kept = tuple(w for w in normal if w not in ARTICLES) or tuple(normal)
            codes = {str(c) for c in self._postcode[rows] if c is not None and c == c}
            place = tuple(_words(commune)) + tuple(sorted(codes))
            streets.append(_Street(name, kept, " ".join(kept), kept + place, np.asarray(rows)))
        # ranked once: shorter names first, then in alphabetical order
        streets.sort(key=lambda st: (len(st.words), st.key, st.name))
        self._streets = streets
        by_word: dict[str, set[int]] = {}
        for i, st in enumerate(streets):
            for w in st.pool:
                by_word.setdefault(w, set()).add(i)
        self._by_word = by_word
        self._vocab = sorted(by_word)

    def __len__(self) -> int:
        """Return the number of address points."""
        return len(self._lon)

    def search(self, query: str, *, limit: int = MAX_SUGGESTIONS) -> list[AddressHit]:
        """Return at most ``limit`` suggestions for ``query``, best first (none on no match)."""
        number, suffix, words = _parse(query)
        if not words:
            return []
        ids = self._candidates(words)
        wanted = " ".join(w for w in words if w not in ARTICLES)
        ranked = sorted(ids, key=lambda i: (not self._streets[i].key.startswith(wanted), i))
        hits: list[AddressHit] = []
        for street in (self._streets[i] for i in ranked):
            hits.extend(self._hits(street, number, suffix, limit - len(hits)))
            if len(hits) >= limit:
                break
        return hits

    def _candidates(self, words: list[str]) -> set[int]:
        """Streets having every word (articles aside); the last word may be a word's beginning."""
        sets: list[set[int]] = []
        for w in words[:-1]:
            if w not in ARTICLES:
                sets.append(self._by_word.get(w, set()))
        last = words[-1]
        if last not in ARTICLES:
            lo = bisect.bisect_left(self._vocab, last)
            hi = bisect.bisect_left(self._vocab, last + "\U0010ffff")
            sets.append(set().union(*(self._by_word[v] for v in self._vocab[lo:hi])))
        if not sets:  # only articles: no street is named by them
            return set()
        sets.sort(key=len)
        return sets[0].intersection(*sets[1:])

    def _hits(self, street: _Street, number: int | None, suffix: str, room: int) -> list[AddressHit]:
        rows = street.rows
        if number is None:  # the street itself, at its middle address point
            mid = rows[np.argsort(self._number[rows], kind="stable")][len(rows) // 2]
            return [self._hit(street, int(mid), with_number=False)]
        at = rows[self._number[rows] == number]
        if suffix:
            at = at[self._suffix[at] == suffix]
        else:  # « 12 » lists 12 first, then 12 bis, 12 ter…
            at = at[np.argsort([len(str(s)) for s in self._suffix[at]], kind="stable")]
        return [self._hit(street, int(i), with_number=True) for i in at[:room]]

    def _hit(self, street: _Street, i: int, *, with_number: bool) -> AddressHit:
        postcode = self._postcode[i] if self._postcode[i] == self._postcode[i] else None
        commune = self._commune[i] if self._commune[i] == self._commune[i] else None
        num = int(self._number[i]) if with_number and np.isfinite(self._number[i]) else None
        suffix = _suffix_label(self._suffix_raw[i]) if num is not None else None
        head = f"{num}{' ' + suffix if suffix else ''} " if num is not None else ""
        tail = " ".join(str(x) for x in (postcode, commune) if x)
        label = f"{head}{street.name}" + (f", {tail}" if tail else "")
        return AddressHit(label, float(self._lon[i]), float(self._lat[i]), street.name, num, suffix,
                          str(postcode) if postcode else None, str(commune) if commune else None)


def _parse(query: str) -> tuple[int | None, str, list[str]]:
    """Split a query into its number, suffix key and normalised street words."""
    text = " ".join(_words(query))
    number: int | None = None
    suffix = ""
    m = _QUERY.match(text)
    if m:
        number = int(m.group(1))
        letter, rest = m.group(2) or "", m.group(3)
        following = rest.split()[0] if rest else ""
        if letter in STREET_TYPES and following and following not in STREET_TYPES:
            letter, rest = "", f"{letter} {rest}"  # « 10 r de la Roquette »: R is the street type
        suffix = SUFFIXES.get(letter, letter).upper()
        text = rest
    words = normalize_street_name(text).split() if text else []
    return number, suffix, words
