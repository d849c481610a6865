"""The validation rules of a schema field, defined once for both validation entry points.

:func:`layers.validate.validate_frame` (vectorised, imports) and
:func:`layers.validate.validate_record` (scalar, one record written from a form or an
API call) both take from here what a field accepts and how a refusal is worded: the
canonical choices, the accepted spellings of booleans, the date formats and window,
the bounds and their French explanation. Only the way values are traversed differs.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from layers.schema import Field

TRUE = frozenset({"1", "true", "vrai", "oui", "yes", "o", "y", "t", "x"})
FALSE = frozenset({"0", "false", "faux", "non", "no", "n", "f", ""})
#: Day-first forms tried in turn after ISO 8601.
DATE_FORMATS = ("%d/%m/%Y", "%d/%m/%y", "%d-%m-%Y", "%Y/%m/%d", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S")
#: Years a date may fall in (outside: invalid).
YEAR_MIN, YEAR_MAX = 1900, 2100
#: A time zone at the end of an ISO text.
AWARE = r"(?:Z|[+-]\d\d:?\d\d)$"
#: An ISO date at the start of a text.
ISO_START = r"^\d{4}-\d\d-\d\d"
#: Spreadsheet serial day numbers (``42058`` is 2015-02-23).
SERIAL = r"[1-6]\d{4}"
#: Excel's day zero.
SERIAL_EPOCH = "1899-12-30"
#: Digit-group separators inside numbers (« 1 234,5 »).
DIGIT_GROUP = r"(?<=\d)[\s\u202f\u00a0](?=\d)"
REQUIRED_REASON = "champ obligatoire manquant"
GEOMETRY_MISSING = "géométrie manquante ou vide"
GEOMETRY_TYPE_IDS = {
    "Point": frozenset({0}),
    "LineString": frozenset({1, 5}),
    "MultiPolygon": frozenset({3, 6}),
    "Geometry": frozenset({0, 1, 3, 4, 5, 6}),
}

_AWARE = re.compile(AWARE)
_ISO_START = re.compile(ISO_START)
_SERIAL = re.compile(SERIAL)
_DIGIT_GROUP = re.compile(DIGIT_GROUP)


def fold(text: str) -> str:
    """Lower-case ``text`` and strip accents, for forgiving comparisons."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", stripped.replace("’", "'")).strip().lower()


def message(name: str, reason: str) -> str:
    """Return the French message of a refusal of field ``name``."""
    return f"« {name} » : {reason}"


def geometry_type_reason(kind: str | None) -> str:
    """Return the refusal of a geometry of the wrong type."""
    return f"type de géométrie incorrect (attendu : {kind})"


@dataclass(frozen=True)
class FieldRule:
    """What a field accepts and how a refusal is explained (see :func:`rule_for`).

    Attributes
    ----------
    field : Field
        The schema field.
    reason : str
        French explanation of a present but invalid value.
    canon : mapping or None
        Folded spelling → allowed value, for fields with choices.
    pattern : re.Pattern or None
        What a text must match entirely.
    """

    field: Field
    reason: str
    canon: Mapping[str, str] | None
    pattern: re.Pattern[str] | None

    def choice(self, text: str) -> str | None:
        """Return the allowed value ``text`` stands for (None: not allowed)."""
        assert self.canon is not None  # only called on fields with choices
        return self.canon.get(fold(text))

    def out_of_bounds(self, number: float) -> bool:
        """Tell whether ``number`` (not NaN) breaks the field's bounds or integrality."""
        f = self.field
        if f.type == "int" and math.isfinite(number) and math.floor(number) != number:
            return True
        below = f.minimum is not None and number < f.minimum
        return below or (f.maximum is not None and number > f.maximum)


def _number_reason(f: Field) -> str:
    reason = "nombre entier attendu" if f.type == "int" else "nombre attendu"
    if f.minimum is not None and f.maximum is not None:
        reason += f" entre {f.minimum:g} et {f.maximum:g}"
    elif f.minimum is not None:
        reason += f" supérieur ou égal à {f.minimum:g}"
    elif f.maximum is not None:
        reason += f" inférieur ou égal à {f.maximum:g}"
    return reason


@lru_cache(maxsize=512)
def rule_for(f: Field) -> FieldRule:
    """Return the rule of field ``f`` (built once per field)."""
    canon = None
    pattern = None
    reason = ""
    if f.type == "str":
        if f.choices is not None:
            canon = {fold(c): c for c in f.choices}
            reason = f"valeur non autorisée (valeurs possibles : {', '.join(f.choices)})"
        elif f.pattern is not None:
            pattern = re.compile(f.pattern)
            reason = f"format invalide (attendu : {f.pattern})"
    elif f.type in ("int", "float"):
        reason = _number_reason(f)
    elif f.type == "bool":
        reason = "oui/non attendu"
    elif f.type in ("date", "datetime"):
        reason = "date invalide (attendu AAAA-MM-JJ ou JJ/MM/AAAA)"
    else:
        reason = "JSON invalide"
    return FieldRule(f, reason, canon, pattern)


def number_text(text: str) -> str:
    """Return a number as written by people (« 1 234,5 ») in the form parsers read."""
    return _DIGIT_GROUP.sub("", text.strip().replace(",", "."))


def is_aware(text: str) -> bool:
    """Tell whether an ISO text ends with a time zone."""
    return _AWARE.search(text) is not None


def is_iso(text: str) -> bool:
    """Tell whether a text starts with an ISO date."""
    return _ISO_START.match(text) is not None


def is_serial(text: str) -> bool:
    """Tell whether a text is a spreadsheet serial day number."""
    return _SERIAL.fullmatch(text) is not None
