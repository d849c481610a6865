"""Street lists as towns publish them → structured, editable rules.

A QPV is often known by a list of streets, some only in part (« RUE DE VERDUN pp* »
with the footnote « rue de Verdun jusqu'au n* 38 (AH 547) »). :func:`parse_street_list`
reads such a text, OCR noise and columns run together included, and returns
:class:`Rule` objects; :func:`write_rules` / :func:`read_rules` store them in a YAML
or CSV file a technician can edit, and read them back unchanged.

Rule semantics (used by :mod:`geo.perimeters.rules` and :mod:`geo.perimeters.lookup`): an address
of a street belongs to the perimeter when one positive rule (``whole``, ``range``,
``partial``) of that street matches its number and no ``except`` rule does.

* ``whole``: every number of the street;
* ``range``: numbers from ``from_number`` to ``to_number`` (either end may be open),
  restricted to ``parity`` (``all``, ``even``, ``odd``);
* ``except``: numbers excluded from the street (« sauf … »);
* ``partial``: the street is marked partial but the cut-off is unknown; treated as
  ``whole`` with a low confidence.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import re
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import yaml

from geo.errors import StreetListError
from geo.perimeters.streetnames import (
    LEADING_TYPES,
    STREET_TYPES,
    normalize_street_name,
    street_key,
    strip_accents,
)

logger = logging.getLogger(__name__)

__all__ = [
    "KINDS",
    "PARITIES",
    "Rule",
    "StreetList",
    "format_street_list",
    "parse_street_list",
    "read_rules",
    "rules_from_records",
    "rules_to_records",
    "write_rules",
]

RuleKind = Literal["whole", "range", "except", "partial"]
Parity = Literal["all", "even", "odd"]
KINDS: tuple[str, ...] = ("whole", "range", "except", "partial")
PARITIES: tuple[str, ...] = ("all", "even", "odd")


@dataclass(frozen=True)
class Rule:
    """One line of a perimeter defined by streets.

    Attributes
    ----------
    commune : str
        Commune name as written (``""``: any commune).
    street : str
        Normalised street name (see :func:`geo.perimeters.streetnames.normalize_street_name`).
    kind : str
        ``whole``, ``range``, ``except`` or ``partial``.
    from_number, to_number : int or None
        Inclusive bounds of a ``range`` / ``except`` (``None``: open end).
    parity : str
        ``all``, ``even`` or ``odd``.
    parcel : str
        Cadastral parcel reference quoted by the source (« AH 547 »), ``""`` if none.
    raw : str
        Source text the rule comes from.
    confidence : float
        0–1, lowered for OCR repairs, guessed splits and fuzzy footnote matches.
    qpv : str
        Code of the QPV the rule defines (``""`` when unknown).
    """

    commune: str
    street: str
    kind: RuleKind = "whole"
    from_number: int | None = None
    to_number: int | None = None
    parity: Parity = "all"
    parcel: str = ""
    raw: str = ""
    confidence: float = 1.0
    qpv: str = ""

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if self.kind not in KINDS:
            raise StreetListError(f"Type de règle inconnu « {self.kind} » (attendu : {', '.join(KINDS)}).")
        if self.parity not in PARITIES:
            raise StreetListError(f"Parité inconnue « {self.parity} » (attendu : {', '.join(PARITIES)}).")
        if not str(self.street).strip():
            raise StreetListError("Règle sans nom de voie.")
        lo, hi = self.from_number, self.to_number
        if lo is not None and hi is not None and lo > hi:
            raise StreetListError(
                f"{self.street} : le n° de début ({lo}) est après le n° de fin ({hi})."
            )

    @cached_property
    def key(self) -> str:
        """Join key of the street (see :func:`geo.perimeters.streetnames.street_key`), computed once."""
        return street_key(self.street)

    def matches(self, number: int | None) -> bool:
        """Tell whether a house number falls under this rule (``None``: unknown number).

        Parameters
        ----------
        number : int or None
            House number (suffixes such as *bis* are ignored by rules).

        Returns
        -------
        bool
            ``whole`` / ``partial`` rules match any number, even unknown; a ``range`` or
            ``except`` never matches an unknown number.
        """
        if self.kind in ("whole", "partial"):
            return True
        if number is None:
            return False
        if self.parity == "even" and number % 2:
            return False
        if self.parity == "odd" and not number % 2:
            return False
        if self.from_number is not None and number < self.from_number:
            return False
        return not (self.to_number is not None and number > self.to_number)


@dataclass
class StreetList:
    """The result of :func:`parse_street_list`.

    Attributes
    ----------
    rules : list of Rule
        Rules in the order of the list (a partial street may give several rules).
    qpv : str
        QPV code found in the text (« QP062057 »), ``""`` if none.
    name : str
        QPV name found in the text, ``""`` if none.
    commune : str
        Commune of the rules.
    ignored : list of str
        Non-empty lines that are neither streets nor footnotes (titles…).
    warnings : list of str
        Problems a technician should check (partial street without footnote…).
    """

    rules: list[Rule]
    qpv: str = ""
    name: str = ""
    commune: str = ""
    ignored: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def streets(self) -> list[str]:
        """Distinct streets, in order."""
        return list(dict.fromkeys(r.street for r in self.rules))

    @property
    def partial_streets(self) -> list[str]:
        """Streets with at least one rule other than ``whole``."""
        return list(dict.fromkeys(r.street for r in self.rules if r.kind != "whole"))


# --------------------------------------------------------------------------- parsing

_SPLIT_TYPES = frozenset(
    k for k, v in STREET_TYPES.items()
    if v in LEADING_TYPES and len(k) > 1 and v not in {"COUR", "CLOS", "MAIL", "VILLA", "DOMAINE", "FAUBOURG"}
)
_ARTICLE_TOKENS = frozenset({"DE", "DU", "DES", "LA", "LE", "LES", "L", "D", "AU", "AUX", "ET"})
_PP = re.compile(r"^pp\*?$", re.IGNORECASE)
_NUM = r"n(?:o|um(?:ero)?s?)?\s*[^\w\s]{0,3}\s*(\d+)"
_QUALIFIER_START = re.compile(
    r"\b(jusqu|entre\s+(?:le\s+)?(?:n|\d)|du\s+n|du\s+\d|depuis|a\s+partir|cote|sauf|numeros?\b|n\s*[^\w\s]{0,3}\s*\d|en\s+totalite|entiere)",
)
_CODE = re.compile(r"\bQ[PN]\s?(\d{3})\s?(\d{3}[A-Z0-9]?)\b")
_PARCEL = re.compile(r"\(\s*([0-9A-Za-z]{1,2})\s*[-\s]?\s*(\d{1,4})\s*\)")


def _plain(token: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", strip_accents(token).upper())


def _is_type(token: str, *, split: bool) -> bool:
    plain = _plain(token)
    if split:
        return plain in _SPLIT_TYPES or (plain == "R" and token.endswith("."))
    return plain in STREET_TYPES and STREET_TYPES[plain] in LEADING_TYPES and len(plain) > 1


def _split_columns(line: str) -> list[tuple[list[str], bool, float]]:
    """Split a list line into entries: (tokens, partial mark, confidence)."""
    tokens = line.split()
    entries: list[list[Any]] = []
    for i, tok in enumerate(tokens):
        if _PP.match(tok) or (tok.lower() == "pp" and i + 1 < len(tokens) and tokens[i + 1] == "*"):
            if entries:
                entries[-1][1] = True
            continue
        if tok == "*":
            continue
        current = entries[-1][0] if entries else None
        is_last = i == len(tokens) - 1 or all(_PP.match(t) or t == "*" for t in tokens[i + 1 :])
        next_is_type = i + 1 < len(tokens) and _is_type(tokens[i + 1], split=True)
        if current and _is_type(tok, split=False) and (is_last or next_is_type) and not _is_type(
            current[-1], split=False
        ):
            # a type written last (« SYCOMORES Rés. »): it takes the last word before it
            if len(current) > 2 or (len(current) == 2 and not _is_type(current[0], split=True)):
                word = current.pop()
                entries.append([[word, tok], False, 0.7])
            else:
                current.append(tok)
            continue
        prev = _plain(current[-1]) if current else ""
        starts = _is_type(tok, split=True) and len(current or []) >= 2 and prev not in _ARTICLE_TOKENS
        if current is None or starts:
            entries.append([[tok], False, 1.0])
        else:
            current.append(tok)
    return [(e[0], bool(e[1]), float(e[2])) for e in entries]


def _is_list_line(line: str) -> bool:
    tokens = line.split()
    if not tokens:
        return False
    if _is_type(tokens[0], split=True) or _plain(tokens[0]) in {"R", "CITE", "RES", "RESIDENCE"}:
        return True
    body = [t for t in tokens if not _PP.match(t) and t != "*"]
    return 1 < len(body) <= 4 and _is_type(body[-1], split=False)


def _number(text: str) -> int | None:
    m = re.search(_NUM, text)
    if m:
        return int(m.group(1))
    m = re.search(r"\b(\d+)\b", text)
    return int(m.group(1)) if m else None


def _parse_clause(clause: str) -> tuple[str, int | None, int | None, str] | None:
    """Parse one qualifier clause → (kind, from, to, parity), None when empty."""
    text = clause.strip()
    if not text:
        return None
    kind = "range"
    if re.search(r"\bsauf\b", text):
        kind = "except"
        text = re.sub(r"\bsauf\b", " ", text)
    parity = "all"
    if re.search(r"\bimpairs?\b", text):
        parity = "odd"
    elif re.search(r"\bpairs?\b", text):
        parity = "even"
    text = re.sub(r"\b(cote|numeros?)\s+(im)?pairs?\b|\b(im)?pairs?\b", " ", text)
    lo: int | None = None
    hi: int | None = None
    prefix = "(?:" + _NUM.replace("(\\d+)", "") + ")?"
    m = re.search(r"(?:du|de|entre\s+(?:le)?)\s*" + prefix + r"\s*(\d+)\s*"
                  r"(?:au|a|et(?:\s+le)?|-)\s*" + prefix + r"\s*(\d+)", text)
    m2 = re.search(r"\b(\d+)\s*(?:a|-)\s*(\d+)\b", text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
    elif re.search(r"jusqu", text):
        hi = _number(text[text.index("jusqu") :])
    elif re.search(r"a\s+partir|depuis", text):
        lo = _number(text)
    elif m2:
        lo, hi = int(m2.group(1)), int(m2.group(2))
    elif _number(text) is not None:
        lo = hi = _number(text)
    elif re.search(r"en\s+totalite|entiere", text) and parity == "all":
        return ("whole", None, None, "all")
    if lo is not None and hi is not None and lo > hi:
        lo, hi = hi, lo
    if lo is None and hi is None and parity == "all":
        return None
    return (kind, lo, hi, parity)


def _parse_qualifiers(text: str) -> tuple[list[tuple[str, int | None, int | None, str]], str, bool]:
    """Parse a qualifier text → (clauses, parcel, OCR repaired)."""
    parcel = ""
    pm = _PARCEL.search(text)
    if pm:
        section = pm.group(1).replace("l", "I").upper()
        parcel = f"{section} {int(pm.group(2))}"
        text = text[: pm.start()] + " " + text[pm.end() :]
    plain = strip_accents(text).lower().replace("’", "'").replace("'", " ")
    ocr = bool(re.search(r"n\s*[*®”\"]", plain)) or bool(pm and "l" in pm.group(1))
    parts = re.split(r";|,|\bet\s+(?=du\b|de\b|cote\b|jusqu|a\s+partir|sauf\b)", plain)
    clauses: list[tuple[str, int | None, int | None, str]] = []
    carry_except = False
    for part in parts:
        if carry_except and "sauf" not in part:
            part = "sauf " + part
        parsed = _parse_clause(part)
        if "sauf" in part:
            carry_except = True
        if parsed is not None:
            clauses.append(parsed)
    return clauses, parcel, ocr


def _split_qualified(line: str) -> tuple[str, str] | None:
    """Split « street [:] qualifiers » → (street, qualifiers), None without qualifiers."""
    body = line.lstrip("*• ").strip()
    if ":" in body:
        street, _, rest = body.partition(":")
        if street.strip():
            return street.strip(), rest.strip()
    plain = strip_accents(body).lower().replace("’", "'").replace("'", " ")
    m = _QUALIFIER_START.search(plain)
    if m is None or m.start() == 0:
        return None
    # positions are preserved: the plain text has the same length as the body
    if len(plain) != len(body):
        return body[: m.start()].strip(), body[m.start() :]
    return body[: m.start()].strip(" ,-("), body[m.start() :]


def _header(text: str) -> tuple[str, str, str]:
    """Find the QPV code, name and commune in the title lines."""
    code = name = commune = ""
    m = _CODE.search(text)
    if m:
        code = f"{m.group(0)[:2]}{m.group(1)}{m.group(2)}"
        after = text[m.end() :].splitlines()[0] if text[m.end() :] else ""
        name = after.strip(" »\"”'-—:").strip()
    m = re.search(r"territoire\s+concern\S*\s*[;:]\s*([^\n—–-]+?)\s*[-—–]", text, re.IGNORECASE)
    if m:
        commune = m.group(1).strip()
    else:
        m = re.search(r"\(\s*QPV\s+([^)]+)\)", text, re.IGNORECASE)
        if m:
            commune = m.group(1).strip()
    return code, name, commune


def _attach(
    entries: list[dict[str, Any]], keys: list[str], street: str, quals: str, raw: str, warnings: list[str]
) -> None:
    """Attach a qualifier line to the listed street it names (footnote), or add a new entry."""
    key = street_key(street)
    clauses, parcel, ocr = _parse_qualifiers(quals)
    conf = 0.9 if ocr else 1.0
    target = None
    if key in keys:
        target = entries[keys.index(key)]
    else:
        # a footnote naming a listed partial street with another spelling (never an inline entry)
        partial = [k for k, e in zip(keys, entries, strict=True) if e["partial"] and not e["clauses"]]
        close = difflib.get_close_matches(key, partial, n=2, cutoff=0.8) if ":" not in raw else []
        if len(close) == 1:
            target = entries[keys.index(close[0])]
            conf -= 0.2
            warnings.append(f"Note « {raw} » rattachée à « {target['street']} » par ressemblance.")
    if target is None:
        target = {"street": normalize_street_name(street), "partial": False, "confidence": 1.0,
                  "raw": "", "clauses": None, "parcel": ""}
        entries.append(target)
        keys.append(key)
    target["clauses"] = (target["clauses"] or []) + clauses
    target["parcel"] = parcel or target["parcel"]
    target["confidence"] = min(target["confidence"], conf)
    target["raw"] = (target["raw"] + " | " if target["raw"] else "") + raw


def _is_header_line(line: str, code: str) -> bool:
    """Return the title lines: the one naming the QPV code, « Nom du territoire concerné … »."""
    return bool((code and code in line) or re.search(r"territoire\s+concern", line, re.IGNORECASE))


def _read_entries(text: str, code: str, warnings: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the listed streets in list order, qualifiers attached (→ entries, ignored lines).

    An entry holds ``street``, ``partial``, ``confidence``, ``raw``, ``clauses`` and
    ``parcel``; warnings about fuzzy footnote matches are appended to ``warnings``.
    """
    entries: list[dict[str, Any]] = []
    keys: list[str] = []
    ignored: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if _is_header_line(line, code):
            ignored.append(line)
            continue
        split = _split_qualified(line)
        if split is not None and (line.startswith("*") or _is_list_line(split[0]) or ":" in line):
            _attach(entries, keys, split[0], split[1], line, warnings)
            continue
        if not _is_list_line(line):
            ignored.append(line)
            continue
        for tokens, partial, conf in _split_columns(line):
            street = normalize_street_name(" ".join(tokens))
            entries.append(
                {"street": street, "partial": partial, "confidence": conf,
                 "raw": " ".join(tokens) + (" pp*" if partial else ""), "clauses": None, "parcel": ""}
            )
            keys.append(street_key(street))
    return entries, ignored


def _entry_rules(entry: dict[str, Any], base: dict[str, Any], warnings: list[str]) -> list[Rule]:
    """Return the rules of one listed street (``base``: the fields every rule of it shares)."""
    clauses = entry["clauses"]
    if not clauses:
        if entry["partial"]:
            warnings.append(f"« {entry['street']} » est marquée partielle (pp*) sans limite trouvée.")
            return [Rule(kind="partial", confidence=min(entry["confidence"], 0.3), **base)]
        return [Rule(kind="whole", confidence=entry["confidence"], **base)]
    rules: list[Rule] = []
    if all(c[0] == "except" for c in clauses):
        rules.append(Rule(kind="whole", confidence=entry["confidence"], **base))
    for kind, lo, hi, parity in clauses:
        rules.append(Rule(kind=kind, from_number=lo, to_number=hi, parity=parity,
                          confidence=entry["confidence"], **base))
    return rules


def parse_street_list(text: str, *, commune: str | None = None, qpv: str | None = None) -> StreetList:
    """Parse a street list as a town publishes it into rules.

    Parameters
    ----------
    text : str
        The list: one or several streets per line (columns run together are split at
        street types), ``pp*`` marks for partial streets, footnotes or inline
        qualifiers (« jusqu'au n° 38 (AH 547) », « du n° 2 au n° 40 côté pair »,
        « sauf n° 3 à 9 », « RUE X : … »), OCR noise (``n*``, ``n®``, ``Al`` for ``AI``).
    commune : str, optional
        Commune of the streets; found in the title (« Nom du territoire concerné ;
        LILLERS - … ») when not given.
    qpv : str, optional
        QPV code; found in the text (« QP062057 ») when not given.

    Returns
    -------
    StreetList
        Rules in list order, with header information, ignored lines and warnings.

    Raises
    ------
    StreetListError
        When the text contains no street at all.
    """
    if not isinstance(text, str):
        raise StreetListError("La liste de rues doit être un texte.")
    code, name, found_commune = _header(text)
    commune = commune if commune is not None else found_commune
    qpv = qpv if qpv is not None else code
    warnings: list[str] = []
    if not commune:
        warnings.append("Commune non trouvée dans le texte : les règles valent pour toute commune.")
    entries, ignored = _read_entries(text, code, warnings)
    if not entries:
        raise StreetListError(
            "Aucune rue reconnue dans la liste (une ligne doit commencer par RUE, BD, PLACE…)."
        )
    rules: list[Rule] = []
    for e in entries:
        base = {"commune": commune, "street": e["street"], "raw": e["raw"], "qpv": qpv,
                "parcel": e["parcel"]}
        rules += _entry_rules(e, base, warnings)
    logger.debug("street list parsed: %d rules, %d ignored lines", len(rules), len(ignored))
    return StreetList(rules=rules, qpv=qpv, name=name, commune=commune, ignored=ignored, warnings=warnings)


# --------------------------------------------------------------------------- writing

_PARITY_TEXT = {"even": "côté pair", "odd": "côté impair"}


def _clause_text(rule: Rule) -> str:
    lo, hi = rule.from_number, rule.to_number
    if lo is not None and hi is not None:
        text = f"n° {lo}" if lo == hi else f"du n° {lo} au n° {hi}"
    elif hi is not None:
        text = f"jusqu'au n° {hi}"
    elif lo is not None:
        text = f"à partir du n° {lo}"
    else:
        text = ""
    if rule.parity != "all":
        text = f"{text} {_PARITY_TEXT[rule.parity]}".strip()
    return f"sauf {text}" if rule.kind == "except" else text


def format_street_list(rules: list[Rule], *, title: str | None = None) -> str:
    """Write rules as a town hall publishes a street list (one street per line).

    Parameters
    ----------
    rules : list of Rule
        Rules of one perimeter.
    title : str, optional
        A first line (« QP034005 Mosson — Montpellier »).

    Returns
    -------
    str
        « RUE DE VERDUN : jusqu'au n° 38 (AH 547) », « AVENUE X : du n° 2 au n° 40 côté
        pair ; du n° 1 au n° 15 côté impair », or the bare street name when whole. The
        text parses back to the same rules with :func:`parse_street_list`.
    """
    by_street: dict[str, list[Rule]] = {}
    for r in rules:
        by_street.setdefault(r.street, []).append(r)
    lines = [title] if title else []
    for street, group in by_street.items():
        clauses = [_clause_text(r) for r in group if r.kind in ("range", "except")]
        parcel = next((r.parcel for r in group if r.parcel), "")
        suffix = f" ({parcel})" if parcel else ""
        if any(r.kind == "partial" for r in group) and not clauses:
            lines.append(f"{street} pp*{suffix}")
        elif clauses:
            lines.append(f"{street} : {' ; '.join(clauses)}{suffix}")
        else:
            lines.append(f"{street}{suffix}")
    return "\n".join(lines) + "\n"


_COLUMNS = [f.name for f in fields(Rule)]


def rules_to_records(rules: list[Rule]) -> list[dict[str, Any]]:
    """Return the rules as plain dictionaries (one per rule, every field present)."""
    return [asdict(r) for r in rules]


def _opt_int(value: Any, where: str) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float) and value != value:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise StreetListError(f"{where} : numéro « {value} » illisible.") from exc
    if number != int(number):
        raise StreetListError(f"{where} : numéro « {value} » non entier.")
    return int(number)


def rules_from_records(records: list[dict[str, Any]]) -> list[Rule]:
    """Build rules from dictionaries (as read from YAML or CSV).

    Parameters
    ----------
    records : list of dict
        Keys among the :class:`Rule` fields; ``street`` is required, the others default.

    Returns
    -------
    list of Rule

    Raises
    ------
    StreetListError
        On an unknown field, a missing street or an unreadable value.
    """
    rules = []
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            raise StreetListError(f"Règle n° {i} : une règle doit être un ensemble de champs.")
        unknown = set(rec) - set(_COLUMNS)
        if unknown:
            raise StreetListError(f"Règle n° {i} : champ(s) inconnu(s) {', '.join(sorted(unknown))}.")
        where = f"Règle n° {i}"

        def text(name: str, rec: dict[str, Any] = rec) -> str:
            value = rec.get(name)
            if value is None or (isinstance(value, float) and value != value):
                return ""
            return str(value)

        conf_text = text("confidence")
        try:
            confidence = float(conf_text) if conf_text else 1.0
        except ValueError as exc:
            raise StreetListError(f"{where} : confiance « {conf_text} » illisible.") from exc
        rules.append(
            Rule(
                commune=text("commune"),
                street=text("street"),
                kind=text("kind") or "whole",  # type: ignore[arg-type]
                from_number=_opt_int(rec.get("from_number"), where),
                to_number=_opt_int(rec.get("to_number"), where),
                parity=text("parity") or "all",  # type: ignore[arg-type]
                parcel=text("parcel"),
                raw=text("raw"),
                confidence=confidence,
                qpv=text("qpv"),
            )
        )
    return rules


def _bad_format(path: Path) -> str:
    return f"Format de fichier de règles inconnu « {path.suffix} » (attendu : .yaml ou .csv)."


def write_rules(rules: list[Rule], path: str | Path) -> Path:
    """Write rules to a human-editable file, YAML (``.yaml``/``.yml``) or CSV (``.csv``).

    Parameters
    ----------
    rules : list of Rule
        The rules.
    path : str or Path
        Destination; the suffix chooses the format.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    StreetListError
        For another suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    records = rules_to_records(rules)
    if suffix in (".yaml", ".yml"):
        doc = {"rules": [{k: v for k, v in rec.items() if v not in (None, "")} for rec in records]}
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    elif suffix == ".csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for rec in records:
            writer.writerow({k: ("" if v is None else v) for k, v in rec.items()})
        path.write_text(buf.getvalue(), encoding="utf-8")
    else:
        raise StreetListError(_bad_format(path))
    return path


def read_rules(path: str | Path) -> list[Rule]:
    """Read rules written by :func:`write_rules` (or edited by hand).

    Parameters
    ----------
    path : str or Path
        A ``.yaml``/``.yml`` file with a ``rules`` list, or a ``.csv`` file with the
        :class:`Rule` field names as header (``,`` or ``;`` separated).

    Returns
    -------
    list of Rule

    Raises
    ------
    StreetListError
        When the file is missing, of another format or malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise StreetListError(f"Fichier de règles introuvable : {path}.")
    text = path.read_text(encoding="utf-8-sig")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise StreetListError(f"Fichier YAML illisible ({path.name}) : {exc}.") from exc
        records = doc.get("rules") if isinstance(doc, dict) else doc
        if not isinstance(records, list):
            raise StreetListError(f"{path.name} : une liste « rules » est attendue.")
        return rules_from_records(records)
    if suffix == ".csv":
        first = text.splitlines()[0] if text else ""
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        return rules_from_records([dict(row) for row in reader])
    raise StreetListError(_bad_format(path))
