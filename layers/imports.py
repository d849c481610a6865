"""Imports from a form: the mapping of a file proposed field by field, completed, previewed.

The web page ``/admin/imports`` (and any other front end) shows, for an uploaded file and
a target layer, every field of the layer with the column proposed for it
(:func:`layers.propose.propose_mapping`, or a mapping of ``data/mappings``), lets a person
change each column, decide the source values left « TODO » and the geometry columns, then
previews the first rows as :func:`layers.importer.import_file` would store them. What the
person chose comes back as a :class:`MappingChoices`; :func:`build_mapping` turns it into a
mapping dictionary the importer reads (:func:`layers.mapping.parse_mapping`).
"""

from __future__ import annotations

import copy
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import yaml

from layers.errors import MappingError
from layers.importer import ImportOptions, preview_file
from layers.mapping import MAPPINGS_DIR, TODO, list_mappings, parse_mapping
from layers.propose import propose_mapping
from layers.schema import SYSTEM_FIELD_NAMES, Field, get_schema
from layers.sources import read_source
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: Name of the base mapping proposed from the file's own columns.
PROPOSED = "proposée"
#: Choice of a field that keeps the base mapping's rule (constant, template, value table).
KEEP_RULE = "__regle__"
#: Decision of a date value: read as an unknown date (left empty).
UNKNOWN_DATE = "__inconnue__"
#: Geometry forms a form may choose.
GEOMETRY_FORMS = ("x", "point_dict", "wkt")
CRS_CHOICES = ("EPSG:4326", "EPSG:2154", "EPSG:3857")


@dataclass(frozen=True)
class MappingChoices:
    """What a person chose in the form.

    Attributes
    ----------
    base : str
        :data:`PROPOSED` or the name of a mapping of ``data/mappings`` for the layer.
    columns : dict
        Field → source column, ``""`` (left empty) or :data:`KEEP_RULE`. Fields not listed
        keep the base rule.
    values : dict
        Field → {source value → allowed value, ``""`` (left as is: the row is rejected) or
        :data:`UNKNOWN_DATE`}: the decisions on the values the base left « TODO ».
    geometry : dict or None
        ``{"x": col, "y": col, "crs": …}``, ``{"point_dict": col}`` or ``{"wkt": col, "crs": …}``;
        None keeps the base's.
    identifier : str or None
        The column of the publisher's identifiers (a re-import then recognises each row by it),
        ``""`` for none (rows recognised by their content), None keeps the base's.
    """

    base: str = PROPOSED
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    geometry: dict[str, str] | None = None
    identifier: str | None = None


def file_columns(path: str | Path) -> list[str]:
    """Return the columns of the file at ``path`` (without the geometry column of a vector file)."""
    table = read_source(Path(path))
    geometry_name = table.frame.geometry.name if isinstance(table.frame, gpd.GeoDataFrame) else None
    return [str(c) for c in table.frame.columns if c != geometry_name]


def mapping_names(layer: str) -> list[str]:
    """Names of the mappings of ``data/mappings`` for ``layer``."""
    name = get_schema(layer).name
    return sorted(m.path.stem for m in list_mappings() if m.layer == name and m.path is not None)


def _base_data(path: Path, layer: str, base: str) -> tuple[dict[str, Any], str | None]:
    """Return the base mapping as a dictionary and the recognised layout (if any)."""
    if base == PROPOSED:
        proposal = propose_mapping(path, layer)
        return copy.deepcopy(proposal.data), proposal.layout
    if base not in mapping_names(layer):
        raise MappingError(f"Correspondance « {base} » inconnue pour la couche « {layer} » : "
                           f"{', '.join([PROPOSED, *mapping_names(layer)])} attendu.")
    data = yaml.safe_load((MAPPINGS_DIR / f"{base}.yaml").read_text(encoding="utf-8"))
    return dict(data), None


def _rule_column(rule: Any) -> str | None:
    if isinstance(rule, str):
        return None if rule == TODO else rule
    if isinstance(rule, dict) and isinstance(rule.get("column"), str):
        return str(rule["column"])
    return None


def _rule_label(rule: Any) -> str:
    """French description of a rule that is not a plain column (empty for a plain column)."""
    if rule is None or isinstance(rule, str):
        return ""
    if "value" in rule:
        return f"valeur fixe « {rule['value']} »"
    if "template" in rule:
        return f"composé : {rule['template']}"
    parts = [f"colonne « {rule.get('column')} »"]
    if rule.get("values"):
        parts.append("avec une table de valeurs")
    if rule.get("default") is not None:
        parts.append(f"« {rule['default']} » par défaut")
    return " ".join(parts)


def _todo_values(rule: Any) -> list[str]:
    if not isinstance(rule, dict):
        return []
    return [str(k) for k, v in (rule.get("values") or {}).items() if v == TODO]


def _field_entry(f: Field, rule: Any) -> dict[str, Any]:
    return {"nom": f.name, "libelle": f.label, "type": f.type, "obligatoire": f.required,
            "defaut": f.default, "valeurs_permises": list(f.choices or ()),
            "colonne": _rule_column(rule), "regle": _rule_label(rule),
            "a_decider": _todo_values(rule), "manquant": rule == TODO}


def mapping_form(path: str | Path, layer: str, *, base: str = PROPOSED) -> dict[str, Any]:
    """Describe the mapping form of the file at ``path`` into ``layer``.

    Returns
    -------
    dict
        ``couche``, ``base``, ``correspondances`` (bases to choose from), ``colonnes`` of the
        file, ``champs`` (one entry per field: name, label, type, required, allowed values,
        proposed ``colonne``, ``regle`` when the base rule is not a plain column,
        ``a_decider`` values), ``geometrie``, ``identifiant`` and ``format_reconnu``.

    Raises
    ------
    SourceFileError, MappingError, UnknownLayerError
        File unreadable, unknown base or layer (French messages).
    """
    path = Path(path)
    schema = get_schema(layer)
    data, layout = _base_data(path, schema.name, base)
    rules = data.get("fields") or {}
    fields = [_field_entry(f, rules.get(f.name)) for f in schema.fields
              if f.name not in SYSTEM_FIELD_NAMES]
    return {"couche": schema.name, "libelle_couche": schema.label, "base": base,
            "correspondances": [PROPOSED, *mapping_names(schema.name)], "colonnes": file_columns(path),
            "champs": fields, "geometrie": dict(data.get("geometry") or {}),
            "identifiant": data.get("id"), "format_reconnu": layout,
            "vectoriel": read_source(path).kind == "vector"}


def _checked_column(column: str, columns: list[str], where: str) -> str:
    if column not in columns:
        raise MappingError(f"{where} : colonne « {column} » absente du fichier.")
    return column


def _field_rule(name: str, choice: str, base_rule: Any, columns: list[str]) -> Any:
    """Return the rule of field ``name`` for the form's ``choice`` (None: field left empty)."""
    if choice == "":
        return None
    if choice == KEEP_RULE:
        if base_rule is None or base_rule == TODO:
            raise MappingError(f"Champ « {name} » : la correspondance de base n'a pas de règle à garder.")
        return base_rule
    _checked_column(choice, columns, f"Champ « {name} »")
    if _rule_column(base_rule) == choice:
        return base_rule  # the same column: its value table and format are kept
    return choice


def _decide(name: str, rule: Any, decisions: dict[str, str], f: Field) -> Any:
    """Apply the person's decisions to the « TODO » values of ``rule``."""
    if not isinstance(rule, dict) or not rule.get("values"):
        return rule
    rule = dict(rule)
    table = dict(rule["values"])
    missing = list(rule.get("missing") or [])
    for value, target in list(table.items()):
        if target != TODO:
            continue
        decided = decisions.get(value, "")
        if decided == UNKNOWN_DATE and f.type in ("date", "datetime"):
            missing.append(value)
            del table[value]
        elif decided == "":
            del table[value]  # left as is: validation rejects the rows that carry it
        elif f.choices is not None and decided in f.choices:
            table[value] = decided
        else:
            raise MappingError(f"Champ « {name} », valeur « {value} » : « {decided} » n'est pas une "
                               f"valeur permise ({', '.join(f.choices or ())}).")
    rule["values"] = table
    if missing:
        rule["missing"] = missing
    if not table:
        del rule["values"]
    return rule if set(rule) != {"column"} else rule["column"]


def _geometry(spec: dict[str, str], columns: list[str]) -> dict[str, str]:
    forms = [k for k in GEOMETRY_FORMS if spec.get(k)]
    if len(forms) != 1:
        raise MappingError("Géométrie : choisissez les colonnes x et y, ou une colonne de point, ou une "
                           "colonne WKT.")
    out = {}
    for key in ("x", "y") if forms[0] == "x" else (forms[0],):
        out[key] = _checked_column(str(spec.get(key) or ""), columns, f"Géométrie ({key})")
    crs = spec.get("crs") or "EPSG:4326"
    if crs not in CRS_CHOICES:
        raise MappingError(f"Géométrie : système de coordonnées « {crs} » ; "
                           f"{', '.join(CRS_CHOICES)} attendu.")
    if forms[0] != "point_dict":
        out["crs"] = crs
    return out


def build_mapping(path: str | Path, layer: str, choices: MappingChoices) -> dict[str, Any]:
    """Return the mapping dictionary of ``choices`` for the file at ``path`` into ``layer``.

    Raises
    ------
    MappingError
        A column absent from the file, a value not allowed, or decisions left « TODO »
        (French, naming the field).
    """
    path = Path(path)
    schema = get_schema(layer)
    data, _layout = _base_data(path, schema.name, choices.base)
    columns = file_columns(path)
    rules = dict(data.get("fields") or {})
    for name, choice in choices.columns.items():
        try:
            schema.field(name)
        except KeyError:
            raise MappingError(f"Champ « {name} » inconnu dans la couche « {schema.name} ».") from None
        rule = _field_rule(name, choice, rules.get(name), columns)
        if rule is None:
            rules.pop(name, None)
        else:
            rules[name] = rule
    for name, rule in list(rules.items()):
        if name in schema.field_names:
            rules[name] = _decide(name, rule, choices.values.get(name, {}), schema.field(name))
    data["fields"] = rules
    if choices.geometry is not None and read_source(path).kind != "vector":
        data["geometry"] = _geometry(choices.geometry, columns)
    if choices.identifier is not None:
        chosen = choices.identifier
        data["id"] = _checked_column(chosen, columns, "Identifiant") if chosen else None
    if not isinstance(data.get("id"), str) or data["id"] not in columns:
        data.pop("id", None)
    parse_mapping(data, where=f"Correspondance de {path.name}")  # refuses what is left to decide
    return data


_MIDNIGHT = re.compile(r"\d{4}-\d{2}-\d{2}T00:00(?::00)?")
#: Most reject lines a preview lists.
MAX_REJECTS = 200


def reject_lines(rejects: pd.DataFrame, limit: int = MAX_REJECTS) -> list[dict[str, Any]]:
    """Return the first ``limit`` reject lines as pages list them: row, field, value, French reason."""
    head = rejects.head(limit)
    return [{"ligne": row, "champ": str(fld), "valeur": str(value), "motif": str(reason)}
            for row, fld, value, reason in zip(head["row"].astype(int).tolist(), head["field"].tolist(),
                                               head["value"].tolist(), head["reason"].tolist(), strict=True)]


def _cell(value: Any) -> Any:
    """Return a stored value as the page shows it (JSON-able; None for missing)."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and _MIDNIGHT.fullmatch(value):
        return value[:10]
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat(timespec="minutes") if value.time() != datetime.min.time() \
            else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, str | int | float | bool) else str(value)


def preview_import(store: LayerStore, path: str | Path, layer: str, mapping: dict[str, Any], *,
                   limit: int = 20, territory_margin_m: float | None = 20_000) -> dict[str, Any]:
    """Preview the first ``limit`` rows of the file as the import would store or reject them.

    Nothing is written. The counts cover the whole file (``rejetees`` is what the import
    would reject; new and already stored rows are told apart only by the import).

    Returns
    -------
    dict
        ``lues``, ``valides``, ``rejetees``, ``champs`` (the fields shown, with labels),
        ``lignes`` (the first rows: ``ligne`` number, ``etat`` « valide » or « rejetée »,
        ``valeurs`` as stored, ``motifs`` of a rejected row), ``rejets`` (every reject line of
        the file, :data:`MAX_REJECTS` at most) and ``colonnes_inutilisees``.
    """
    schema = get_schema(layer)
    parsed = parse_mapping(mapping, where=f"Correspondance de {Path(path).name}")
    result = preview_file(store, path, layer=schema.name,
                          options=ImportOptions(mapping=parsed, territory_margin_m=territory_margin_m))
    report = result.report
    shown = [f for f in schema.fields if f.name not in SYSTEM_FIELD_NAMES or f.name == "source_id"]
    lines: dict[int, dict[str, Any]] = {}
    first = result.valid_rows.sort_values().head(limit)
    for index, row in zip(first.index, first.astype(int).tolist(), strict=True):
        values = result.valid.loc[index]
        lines[row] = {"ligne": row, "etat": "valide",
                           "valeurs": {f.name: _cell(values.get(f.name)) for f in shown}, "motifs": []}
    rejects = report.rejects
    for key, group in rejects.groupby("row", sort=True):
        row = int(str(key))
        if len(lines) >= limit and row > max(lines):
            break
        lines[row] = {"ligne": row, "etat": "rejetée", "valeurs": {}, "motifs": reject_lines(group)}
    ordered = [lines[k] for k in sorted(lines)][:limit]
    used = {k for line in ordered for k, v in line["valeurs"].items() if v is not None}
    return {"lues": report.n_read, "valides": len(result.valid), "rejetees": report.n_rejected,
            "champs": [{"nom": f.name, "libelle": f.label} for f in shown if f.name in used],
            "lignes": ordered, "rejets": reject_lines(rejects),
            "colonnes_inutilisees": report.unused_columns}
