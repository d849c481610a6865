"""Normalisation of French street names: accents, articles, street types, keys.

Town halls, the BAN and municipal address bases spell the same street in many ways
(« BD DE PARIS », « Boulevard de Paris », « bd. de paris »). Two forms are derived here:

* the **normalised name** (:func:`normalize_street_name`): upper case, no accents,
  apostrophes and punctuation turned into spaces, street types and titles expanded
  (``BD`` → ``BOULEVARD``, ``DR`` → ``DOCTEUR``), a type written last moved first
  (« SYCOMORES Rés. » → ``RESIDENCE SYCOMORES``). It is what a rule file shows.
* the **key** (:func:`street_key`): the normalised name without articles and
  prepositions (``RUE DE LA GARE`` → ``RUE GARE``), used to join rules and addresses.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable

import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "ARTICLES",
    "STREET_TYPES",
    "commune_key",
    "normalize_street_name",
    "split_street_type",
    "street_key",
    "street_keys",
    "strip_accents",
]

#: Street types: abbreviation or variant → full form. Applied to the first word only
#: (or the last word when the type is written last), never inside the name.
STREET_TYPES: dict[str, str] = {
    "R": "RUE", "RUE": "RUE", "RUES": "RUE",
    "BD": "BOULEVARD", "BLD": "BOULEVARD", "BVD": "BOULEVARD", "BOUL": "BOULEVARD",
    "BOULEVARD": "BOULEVARD",
    "AV": "AVENUE", "AVE": "AVENUE", "AVEN": "AVENUE", "AVENUE": "AVENUE",
    "PL": "PLACE", "PLA": "PLACE", "PLACE": "PLACE",
    "IMP": "IMPASSE", "IMPASSE": "IMPASSE",
    "ALL": "ALLEE", "AL": "ALLEE", "ALLEE": "ALLEE", "ALLEES": "ALLEES",
    "CHE": "CHEMIN", "CHEM": "CHEMIN", "CH": "CHEMIN", "CHEMIN": "CHEMIN",
    "RTE": "ROUTE", "RT": "ROUTE", "ROUTE": "ROUTE",
    "QU": "QUAI", "QUAI": "QUAI",
    "SQ": "SQUARE", "SQUARE": "SQUARE",
    "CRS": "COURS", "COURS": "COURS",
    "PAS": "PASSAGE", "PASS": "PASSAGE", "PSG": "PASSAGE", "PASSAGE": "PASSAGE",
    "RES": "RESIDENCE", "RESID": "RESIDENCE", "RESIDENCE": "RESIDENCE",
    "CITE": "CITE", "CI": "CITE",
    "LOT": "LOTISSEMENT", "LOTISSEMENT": "LOTISSEMENT",
    "HAM": "HAMEAU", "HAMEAU": "HAMEAU",
    "VC": "VOIE COMMUNALE", "VOIE": "VOIE",
    "SENT": "SENTIER", "SEN": "SENTIER", "SENTIER": "SENTIER",
    "ESP": "ESPLANADE", "ESPLANADE": "ESPLANADE",
    "PRV": "PARVIS", "PARVIS": "PARVIS",
    "PROM": "PROMENADE", "PROMENADE": "PROMENADE",
    "FG": "FAUBOURG", "FBG": "FAUBOURG", "FAUBOURG": "FAUBOURG",
    "RPT": "ROND POINT", "RDPT": "ROND POINT",
    "CAR": "CARREFOUR", "CARREFOUR": "CARREFOUR",
    "VLA": "VILLA", "VILLA": "VILLA",
    "CHS": "CHAUSSEE", "CHAUSSEE": "CHAUSSEE",
    "TRA": "TRAVERSE", "TRAVERSE": "TRAVERSE",
    "MTE": "MONTEE", "MONTEE": "MONTEE",
    "PARC": "PARC", "DOM": "DOMAINE", "DOMAINE": "DOMAINE",
    "ZA": "ZONE ARTISANALE", "ZI": "ZONE INDUSTRIELLE", "ZAC": "ZAC",
    "GR": "GRANDE RUE", "GRANDE": "GRANDE",
    "PTR": "PETITE RUE", "PONT": "PONT", "PT": "PONT",
    "PORT": "PORT", "CLOS": "CLOS", "COUR": "COUR", "MAIL": "MAIL", "QUARTIER": "QUARTIER",
    "QUA": "QUARTIER", "ROC": "ROCADE", "ROCADE": "ROCADE", "RLE": "RUELLE", "RUELLE": "RUELLE",
}

#: Types that may start a street in a street list (used to split columns run together).
LEADING_TYPES = frozenset(
    {
        "RUE", "BOULEVARD", "AVENUE", "PLACE", "IMPASSE", "ALLEE", "ALLEES", "CHEMIN", "ROUTE",
        "QUAI", "SQUARE", "COURS", "PASSAGE", "RESIDENCE", "CITE", "LOTISSEMENT", "HAMEAU",
        "SENTIER", "ESPLANADE", "PARVIS", "PROMENADE", "FAUBOURG", "ROND POINT", "VILLA",
        "CHAUSSEE", "TRAVERSE", "MONTEE", "DOMAINE", "RUELLE", "MAIL", "CLOS", "COUR", "VOIE",
    }
)

#: Titles and common words abbreviated anywhere in a name.
TITLES: dict[str, str] = {
    "ST": "SAINT", "STE": "SAINTE", "STS": "SAINTS", "DR": "DOCTEUR", "DOC": "DOCTEUR",
    "MAL": "MARECHAL", "MAR": "MARECHAL", "GAL": "GENERAL", "GEN": "GENERAL",
    "PR": "PROFESSEUR", "PROF": "PROFESSEUR", "CDT": "COMMANDANT", "CNE": "CAPITAINE",
    "LT": "LIEUTENANT", "COL": "COLONEL", "PDT": "PRESIDENT", "ABBE": "ABBE", "MGR": "MONSEIGNEUR",
    "NOTRE-DAME": "NOTRE DAME", "ND": "NOTRE DAME",
}

#: Articles and prepositions dropped from keys.
ARTICLES = frozenset({"DE", "DU", "DES", "LA", "LE", "LES", "L", "D", "AU", "AUX", "ET", "A", "EN", "SUR"})

_PUNCT = re.compile(r"[^A-Z0-9 ]+")


def strip_accents(text: str) -> str:
    """Return ``text`` without diacritics (« Élysée » → « Elysee », « œ » → « oe »).

    Parameters
    ----------
    text : str
        Any text.

    Returns
    -------
    str
        The text with accents removed and ligatures expanded.
    """
    if text.isascii():
        return text
    text = text.replace("œ", "oe").replace("Œ", "OE").replace("æ", "ae").replace("Æ", "AE")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _words(name: str) -> list[str]:
    """Upper-case words of ``name`` without accents or punctuation."""
    text = str(name).upper()
    if not text.isascii():
        text = text.replace("Œ", "OE").replace("Æ", "AE").replace("’", " ")
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _PUNCT.sub(" ", text).split()


def split_street_type(name: str) -> tuple[str, str]:
    """Split a street name into its expanded type and the rest.

    Parameters
    ----------
    name : str
        A street name in any spelling (« BD DE PARIS », « Sycomores Rés. »).

    Returns
    -------
    (str, str)
        The type in full (``"BOULEVARD"``; ``""`` when none is recognised) and the
        rest of the normalised name (``"DE PARIS"``).
    """
    words = _words(name)
    if not words:
        return "", ""
    first = STREET_TYPES.get(words[0])
    # "R" or "AL" alone are only types when something follows.
    if first is not None and len(words) > 1:
        return first, " ".join(_expand_titles(words[1:]))
    last = STREET_TYPES.get(words[-1])
    if last is not None and len(words) > 1 and last in LEADING_TYPES and len(words[-1]) > 1:
        return last, " ".join(_expand_titles(words[:-1]))
    return "", " ".join(_expand_titles(words))


def _expand_titles(words: list[str]) -> list[str]:
    out = []
    for i, w in enumerate(words):
        full = TITLES.get(w)
        # "DR M LAVERSIN": expand; but keep a lone "ST" that ends the name as is.
        if full is not None and (i < len(words) - 1 or len(w) > 2):
            out.append(full)
        else:
            out.append(w)
    return out


def normalize_street_name(name: str | None) -> str:
    """Normalise a French street name for display in rule files and comparisons.

    Parameters
    ----------
    name : str or None
        A street name as written by a town hall, the BAN or an OCR
        (« RUE DU DR M LAVERSIN », « Bd de Paris », « SYCOMORES  Rés. »).

    Returns
    -------
    str
        Upper case, no accents, single spaces, type and titles expanded, type first:
        ``"RUE DU DOCTEUR M LAVERSIN"``, ``"BOULEVARD DE PARIS"``,
        ``"RESIDENCE SYCOMORES"``. ``""`` for an empty name.
    """
    if name is None or (isinstance(name, float) and name != name):
        return ""
    kind, rest = split_street_type(str(name))
    return f"{kind} {rest}".strip()


def street_key(name: str | None) -> str:
    """Return the join key of a street name: normalised, without articles.

    Parameters
    ----------
    name : str or None
        A street name in any spelling.

    Returns
    -------
    str
        ``"RUE GARE"`` for « Rue de la Gare », ``"BOULEVARD PARIS"`` for « BD DE PARIS »;
        ``""`` for an empty name.
    """
    words = normalize_street_name(name).split()
    kept = [w for w in words if w not in ARTICLES]
    return " ".join(kept if kept else words)


def commune_key(name: str | None) -> str:
    """Return the join key of a commune name (« Saint-Étienne » → ``"SAINT ETIENNE"``).

    Parameters
    ----------
    name : str or None
        A commune name, or ``None``.

    Returns
    -------
    str
        Upper case, no accents, ``ST`` expanded, articles kept; ``""`` when empty.
    """
    if name is None or (isinstance(name, float) and name != name):
        return ""
    return " ".join(_expand_titles(_words(str(name))))


def street_keys(names: Iterable[str | None] | pd.Series) -> pd.Series:
    """Vectorised :func:`street_key`: each distinct name is normalised once.

    Parameters
    ----------
    names : iterable of str or pandas.Series
        Street names (missing values allowed).

    Returns
    -------
    pandas.Series
        Keys as Python strings (``""`` for missing names), indexed like ``names``
        when it is a Series.
    """
    series = names if isinstance(names, pd.Series) else pd.Series(list(names), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    keys = [street_key(u) for u in uniques] + [""]
    arr = pd.Series(keys, dtype=object).to_numpy()[codes]
    return pd.Series(arr, index=series.index, dtype=object)
