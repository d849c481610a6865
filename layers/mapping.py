"""Declarative field mappings: how the columns of a source file become layer fields.

A mapping is a small YAML file (see ``data/mappings/``)::

    layer: observations
    dataset: dansmarue-paris          # namespace of the stable ids
    title: Dans Ma Rue (Ville de Paris)
    licence: ODbL
    read: {encoding: auto, separator: auto}
    geometry: {point_dict: geo_point_2d, crs: "EPSG:4326"}
    id: id_dmr                        # column holding a stable source id
    fields:
      observed_at: datedecl           # a column
      source: {value: habitant}       # a constant
      description: {template: "{type} — {soustype}"}
      theme: {column: type, values: {"Objets abandonnés": encombrants}, default: autre}
      installed_at: {column: mise_en_service, format: "%d/%m/%y", missing: [inconnue, "#N/A"]}

``values`` translates source values (compared without case and accents), ``patterns``
translates by regular expressions on the folded text, ``missing`` lists the spellings of
« unknown » that become empty values rather than errors. Source column names are matched
without case, accents, spaces or punctuation when the file has no column of that exact name
(:func:`match_column`). A value ``TODO`` anywhere marks a decision left to take (drafts
written by ``qpv correspondance proposer``): such a mapping is refused with the list of what
is left to decide. The full guide is ``docs/correspondances.md``.

Geometry forms: ``{x: COL, y: COL}``, ``{wkt: COL}``, ``{point_dict: COL}`` for CSV
files, nothing (or only ``crs``) for vector files. ``crs`` is the CRS of the
coordinates; for a vector file it overrides a missing or wrong declaration.
"""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from layers.errors import MappingError
from layers.schema import SYSTEM_FIELD_NAMES, get_schema
from layers.validate import fold

logger = logging.getLogger(__name__)

MAPPINGS_DIR = Path(__file__).resolve().parents[1] / "data" / "mappings"
_NAME = re.compile(r"^[a-z0-9_-]+$")
#: The placeholder of a decision left to take in a draft mapping.
TODO = "TODO"


def column_key(name: str) -> str:
    """Return ``name`` folded for matching: no case, accents, spaces nor punctuation."""
    return re.sub(r"[^a-z0-9]+", "", fold(str(name)))


def match_column(name: str, columns: Iterable[str]) -> str | None:
    """Return the column of ``columns`` that ``name`` designates, or None.

    The exact name wins; otherwise the one column equal to ``name`` without case and
    accents, then the one equal once spaces and punctuation are dropped (several such
    columns: None, the name is ambiguous).
    """
    cols = [str(c) for c in columns]
    if name in cols:
        return name
    for key in (lambda t: fold(t), column_key):
        found = [c for c in cols if key(c) == key(name)]
        if len(found) == 1:
            return found[0]
        if found:
            return None
    return None


def column_renames(wanted: Iterable[str], columns: Iterable[str]) -> dict[str, str]:
    """Return ``{file column: wanted name}`` for the wanted columns the file spells otherwise."""
    cols = [str(c) for c in columns]
    renames: dict[str, str] = {}
    for name in wanted:
        found = match_column(name, cols)
        if found is not None and found != name and name not in cols:
            renames[found] = name
    return renames


@dataclass(frozen=True)
class FieldRule:
    """How one layer field is filled: from a column, a constant or a template."""

    name: str
    column: str | None = None
    value: Any = None
    template: str | None = None
    values: Mapping[str, Any] = field(default_factory=dict)
    default: Any = None
    format: str | None = None
    patterns: tuple[tuple[re.Pattern[str], Any], ...] = ()
    missing: frozenset[str] = frozenset()

    def columns(self) -> set[str]:
        """Source columns this rule reads."""
        cols = {self.column} if self.column else set()
        if self.template:
            cols |= {f for _, f, _, _ in string.Formatter().parse(self.template) if f}
        return cols


@dataclass(frozen=True)
class Mapping_:
    """A parsed mapping file (see module docstring)."""

    layer: str
    dataset: str
    fields: tuple[FieldRule, ...]
    geometry: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    read: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    licence: str = ""
    simulated: bool = False
    filter: Mapping[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def columns(self) -> set[str]:
        """Every source column the mapping needs."""
        cols: set[str] = set()
        for rule in self.fields:
            cols |= rule.columns()
        for key in ("x", "y", "wkt", "point_dict"):
            if key in self.geometry:
                cols.add(str(self.geometry[key]))
        if self.id:
            cols.add(self.id)
        return cols | {str(k) for k in self.filter}


_SCALAR = (str, int, float, bool)


def _bad_type(where: str, key: str, expected: str) -> MappingError:
    return MappingError(f"{where} : « {key} » doit être {expected}.")


def _is_text(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def _check_types(data: Mapping[str, Any], where: str) -> None:
    """Refuse values of the wrong YAML type (a list where a name is expected...) by key."""
    _check_top_level_types(data, where)
    _check_section_types(data, where)


def _check_top_level_types(data: Mapping[str, Any], where: str) -> None:
    """Names are texts, sections are dictionaries, ``simulated`` is a boolean."""
    for key in ("layer", "dataset", "title", "licence", "id"):
        if data.get(key) is not None and not _is_text(data[key]):
            raise _bad_type(where, key, "un texte")
    for key in ("fields", "geometry", "read", "filter"):
        if data.get(key) is not None and not isinstance(data[key], dict):
            raise _bad_type(where, key, "un dictionnaire")
    if not isinstance(data.get("simulated", False), bool):
        raise _bad_type(where, "simulated", "true ou false")


def _check_section_types(data: Mapping[str, Any], where: str) -> None:
    """Return the entries of ``geometry``, ``read``, ``filter`` and the names of ``fields``."""
    for section in ("geometry", "read"):
        for key, value in (data.get(section) or {}).items():
            if not isinstance(key, str) or (value is not None and not _is_text(value)):
                raise _bad_type(where, f"{section}.{key}", "un texte")
    for key, value in (data.get("filter") or {}).items():
        values = value if isinstance(value, list) else [value]
        if not isinstance(key, str) or not all(isinstance(v, _SCALAR) for v in values):
            raise _bad_type(where, f"filter.{key}", "une valeur ou une liste de valeurs")
    for name in data.get("fields") or {}:
        if not isinstance(name, str):
            raise _bad_type(where, f"fields.{name}", "un nom de champ")


def _check_template(template: str, name: str, where: str) -> None:
    """Templates only insert columns: ``{col}``, no conversion, format spec nor attribute."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise MappingError(f"{where} : gabarit invalide pour « {name} » ({exc}).") from exc
    for _, field_name, spec, conversion in parts:
        if field_name is None:
            continue
        plain = bool(field_name) and not field_name.isdigit() and not set(field_name) & set(".[]")
        if not plain or spec or conversion:
            raise MappingError(
                f"{where} : gabarit de « {name} » : seules des colonnes {{nom}} sont permises "
                f"(« {{{field_name}}} » refusé)."
            )


def _check_rule_values(spec: Mapping[str, Any], name: str, where: str) -> None:
    """Check the values of a field rule have the right types (texts, lists, simple values)."""
    for key in ("column", "template", "format"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise MappingError(f"{where} : « {key} » de « {name} » doit être un texte.")
    if spec.get("template") is not None:
        _check_template(spec["template"], name, where)
    if spec.get("missing") is not None and not (
            isinstance(spec["missing"], list) and all(isinstance(v, _SCALAR) for v in spec["missing"])):
        raise MappingError(f"{where} : « missing » de « {name} » doit être une liste de valeurs.")
    if spec.get("patterns") is not None and not isinstance(spec["patterns"], list):
        raise MappingError(f"{where} : « patterns » de « {name} » doit être une liste.")
    for key in ("value", "default"):
        if spec.get(key) is not None and not isinstance(spec[key], _SCALAR):
            raise MappingError(f"{where} : « {key} » de « {name} » doit être une valeur simple.")


def _check_rule_keys(spec: Mapping[str, Any], name: str, where: str) -> None:
    """Check a field rule has known keys, one source (column, value or template), a ``values`` dictionary."""
    unknown = set(spec) - {"column", "value", "template", "values", "default", "format",
                           "patterns", "missing"}
    if unknown:
        raise MappingError(f"{where} : clé inconnue « {sorted(unknown)[0]} » pour « {name} ».")
    if sum(k in spec for k in ("column", "value", "template")) != 1:
        raise MappingError(f"{where} : « {name} » doit avoir une seule de column, value ou template.")
    if not isinstance(spec.get("values") or {}, dict):
        raise MappingError(f"{where} : « values » de « {name} » doit être un dictionnaire.")


def _rule_patterns(items: list[Any], name: str, where: str) -> tuple[tuple[re.Pattern[str], Any], ...]:
    """Compile the ``patterns`` of a field rule (``{match, value}`` items)."""
    patterns = []
    for item in items:
        if not isinstance(item, dict) or set(item) != {"match", "value"}:
            raise MappingError(f"{where} : « patterns » de « {name} » : {{match, value}} attendu.")
        try:
            patterns.append((re.compile(str(item["match"])), item["value"]))
        except re.error as exc:
            raise MappingError(f"{where} : expression invalide pour « {name} » : {exc}.") from exc
    return tuple(patterns)


def _field_rule(name: str, spec: Any, *, where: str) -> FieldRule:
    if isinstance(spec, str):
        return FieldRule(name=name, column=spec)
    if not isinstance(spec, dict):
        raise MappingError(f"{where} : règle invalide pour « {name} ».")
    _check_rule_values(spec, name, where)
    _check_rule_keys(spec, name, where)
    values = spec.get("values") or {}
    return FieldRule(
        name=name,
        patterns=_rule_patterns(spec.get("patterns") or [], name, where),
        missing=frozenset(fold(str(v)) for v in spec.get("missing") or []),
        column=spec.get("column"),
        value=spec.get("value"),
        template=spec.get("template"),
        values={fold(str(k)): v for k, v in values.items()},
        default=spec.get("default"),
        format=spec.get("format"),
    )


def _is_todo(value: Any) -> bool:
    return isinstance(value, str) and value.strip().upper() == TODO


def _todo_in_rule(name: str, spec: Any) -> list[str]:
    """Return the decisions left in one field rule."""
    if _is_todo(spec):
        return [f"{name} : colonne à choisir"]
    if not isinstance(spec, dict):
        return []
    left = [f"{name} : « {key} » à choisir" for key in ("column", "value", "template", "default")
            if _is_todo(spec.get(key))]
    values = spec.get("values")
    if isinstance(values, dict):
        left += [f"{name} : valeur pour « {src} »" for src, target in values.items() if _is_todo(target)]
    return left


def todo_left(data: Mapping[str, Any]) -> list[str]:
    """List the ``TODO`` placeholders of a mapping given as a dictionary, in French."""
    left: list[str] = []
    if _is_todo(data.get("id")):
        left.append("id : colonne d'identifiant à choisir (ou retirez la ligne)")
    for key, value in (data.get("geometry") or {}).items():
        if _is_todo(value):
            left.append(f"geometry : « {key} » à choisir")
    for name, spec in (data.get("fields") or {}).items():
        left += _todo_in_rule(str(name), spec)
    return left


def _refuse_todo(data: Mapping[str, Any], where: str) -> None:
    """Refuse a draft mapping that still holds ``TODO`` placeholders, listing them all."""
    left = todo_left(data)
    if left:
        raise MappingError(
            f"{where} : brouillon de correspondance, il reste {len(left)} décision(s) à prendre "
            f"(remplacez chaque TODO) : " + " ; ".join(left) + "."
        )


def parse_mapping(data: Mapping[str, Any], *, where: str = "mapping", path: Path | None = None) -> Mapping_:
    """Check and parse a mapping given as a dictionary.

    Raises
    ------
    MappingError
        When a key is missing or unknown, or a field is not in the layer schema.
    """
    if not isinstance(data, dict):
        raise MappingError(f"{where} : le fichier doit contenir un dictionnaire YAML.")
    for key in ("layer", "dataset"):
        if not data.get(key):
            raise MappingError(f"{where} : clé « {key} » manquante.")
    allowed = {"layer", "dataset", "fields", "geometry", "id", "read", "title", "licence",
               "simulated", "filter", "source", "notes"}
    unknown = set(data) - allowed
    if unknown:
        raise MappingError(f"{where} : clé inconnue « {sorted(unknown)[0]} ».")
    _check_types(data, where)
    _refuse_todo(data, where)
    schema = get_schema(str(data["layer"]))
    if not _NAME.match(str(data["dataset"])):
        raise MappingError(f"{where} : « dataset » doit être en minuscules sans espaces.")
    rules = []
    for name, spec in (data.get("fields") or {}).items():
        if name in SYSTEM_FIELD_NAMES - {"source_id"}:
            raise MappingError(f"{where} : le champ système « {name} » ne se mappe pas.")
        try:
            schema.field(name)
        except KeyError:
            raise MappingError(
                f"{where} : le champ « {name} » n'existe pas dans la couche « {schema.name} »."
            ) from None
        rules.append(_field_rule(name, spec, where=where))
    geometry = data.get("geometry") or {}
    if not isinstance(geometry, dict):
        raise MappingError(f"{where} : « geometry » doit être un dictionnaire.")
    forms = [k for k in ("x", "wkt", "point_dict") if k in geometry]
    if len(forms) > 1 or ("x" in geometry) != ("y" in geometry):
        raise MappingError(f"{where} : géométrie : donnez x et y, ou wkt, ou point_dict.")
    return Mapping_(
        layer=schema.name,
        dataset=str(data["dataset"]),
        fields=tuple(rules),
        # column names as text: YAML reads « id: 2019 » or « x: 1 » as numbers
        geometry={k: str(v) if k in ("x", "y", "wkt", "point_dict") else v for k, v in geometry.items()},
        id=str(data["id"]) if data.get("id") is not None else None,
        read=data.get("read") or {},
        title=str(data.get("title") or ""),
        licence=str(data.get("licence") or ""),
        simulated=bool(data.get("simulated", False)),
        filter=data.get("filter") or {},
        path=path,
    )


def load_mapping(name_or_path: str | Path) -> Mapping_:
    """Load a mapping by file path or by name in ``data/mappings``.

    Raises
    ------
    MappingError
        When the file is missing or invalid.
    """
    path = Path(name_or_path)
    if not path.exists():
        candidate = MAPPINGS_DIR / f"{name_or_path}.yaml"
        if not candidate.exists():
            known = ", ".join(sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml")))
            raise MappingError(f"Correspondance introuvable : {name_or_path} (connues : {known}).")
        path = candidate
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingError(f"{path.name} : YAML invalide ({exc}).") from exc
    return parse_mapping(data, where=path.name, path=path)


#: Coordinate column pairs recognised without a mapping (x first), with their CRS.
COORDINATE_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("lon", "lat", "EPSG:4326"), ("lng", "lat", "EPSG:4326"), ("longitude", "latitude", "EPSG:4326"),
    ("long", "lat", "EPSG:4326"), ("x", "y", "EPSG:2154"),
)


def detect_geometry(columns: list[str]) -> dict[str, Any]:
    """Find the geometry columns of a CSV without mapping (names compared without case)."""
    for x, y, crs in COORDINATE_PAIRS:
        cx, cy = match_column(x, columns), match_column(y, columns)
        if cx and cy:
            return {"x": cx, "y": cy, "crs": crs}
    for name in ("geo_point_2d", "geo_point", "point"):
        found = match_column(name, columns)
        if found:
            return {"point_dict": found}
    for wkt in ("wkt", "geometry", "geom", "the_geom"):
        found = match_column(wkt, columns)
        if found:
            return {"wkt": found}
    return {}


def identity_mapping(layer: str, columns: list[str], *, dataset: str) -> Mapping_:
    """Return a mapping for a file whose columns carry the layer's field names (any case)."""
    schema = get_schema(layer)
    names = [n for n in schema.field_names if n not in SYSTEM_FIELD_NAMES - {"source_id", "simulated"}]
    rules = []
    for name in names:
        found = match_column(name, columns)
        if found is not None:
            rules.append(FieldRule(name=name, column=found))
    source_id = match_column("source_id", columns)
    return Mapping_(layer=layer, dataset=dataset,
                    fields=tuple(r for r in rules if r.name != "source_id"),
                    geometry=detect_geometry(columns), id=source_id)


def list_mappings() -> list[Mapping_]:
    """Every mapping shipped in ``data/mappings``."""
    return [load_mapping(p) for p in sorted(MAPPINGS_DIR.glob("*.yaml"))]
