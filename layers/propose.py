"""Draft mappings proposed from a file's columns and sample values (``qpv correspondance proposer``).

:func:`propose_mapping` reads the file, recognises a known published layout when it can
(:mod:`layers.layouts`), and otherwise matches each field of the target layer to a column
by its normalised name, its French label and a table of usual synonyms, checking that the
column's values fit the field's type. For each field with allowed values it lists the
distinct source values with the value proposed for each, or ``TODO`` when none fits for
sure. Dates that cannot be read become ``TODO`` too, spellings of « unknown » go to
``missing``. The draft is YAML with comments; a draft still holding ``TODO`` is refused by
the importer with the list of what is left to decide.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.layouts import recognise
from layers.mapping import TODO, Mapping_, column_key, detect_geometry, match_column, todo_left
from layers.schema import SYSTEM_FIELD_NAMES, Field, LayerSchema, get_schema
from layers.sources import SourceTable, read_source
from layers.validate import fold, parse_datetimes

logger = logging.getLogger(__name__)

#: Most distinct values listed for a field with allowed values.
MAX_VALUES = 60
#: Least similarity of two normalised names taken as a match.
NAME_CUTOFF = 0.82
_UNKNOWN = {"inconnu", "inconnue", "n/a", "#n/a", "na", "nd", "n.d.", "n.c.", "nc", "-", "?", "??",
            "sans objet", "non renseigne", "non renseignee", "null", "none", "aucun", "aucune"}
_STOP = {"et", "de", "des", "du", "la", "le", "les", "d", "l", "a", "au", "aux", "en"}
_ID_NAMES = ("id", "identifiant", "objectid", "fid", "gid", "uid", "idarc", "id_refp", "code", "numero",
             "num", "ref", "reference")

#: Usual column names of each field (any case, accents, spaces or punctuation).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("nom", "name", "libelle", "lib", "intitule", "designation", "nom_site", "patrlib", "lib_qp",
             "nom_qp", "lib_off", "nom_voie", "nom_de_la_voie", "nom_rue", "libelle_voie", "lib_voie",
             "denomination", "appellation", "street_name", "nom_1_g"),
    "address": ("adresse", "address", "adr", "implantation", "localisation", "lieu", "emplacement"),
    "street": ("nom_voie", "lib_off", "voie", "rue", "street", "libelle_voie", "nomvoie"),
    "number": ("numero", "num", "num_voi", "no", "housenumber", "numvoie", "numero_voie"),
    "suffix": ("rep", "suffixe", "suf_voi", "indice", "indice_repetition", "btq"),
    "postcode": ("code_postal", "cp", "postcode", "codepostal", "zip"),
    "commune": ("nom_commune", "commune", "ville", "city", "lib_com", "nom_com"),
    "communes": ("communes", "commune_qp", "lib_com", "nom_commune", "commune", "insee_com"),
    "insee": ("code_insee", "insee", "insee_com", "citycode", "codgeo", "code_commune"),
    "street_code": ("id_fantoir", "fantoir", "rivoli", "rivoli_dgi", "code_voie", "code_fantoir",
                    "code_rivoli"),
    "street_type": ("typvoi", "type_voie", "type_voi", "highway"),
    "observed_at": ("date", "datedecl", "date_signalement", "date_constat", "date_creation",
                    "date_observation", "date_declaration", "created_at"),
    "theme": ("theme", "type", "categorie", "category", "nature", "type_signalement"),
    "subtheme": ("sous_theme", "soustype", "sous_type", "sous_categorie", "subcategory"),
    "description": ("description", "commentaire", "observation", "detail", "remarque", "texte"),
    "status": ("statut", "status", "etat", "state"),
    "pilote": ("pilote", "intervenant", "service", "responsable"),
    "installed_at": ("date_de_mise_en_service", "mise_en_service", "date_installation",
                     "date_mise_en_service", "installation"),
    "owner": ("proprietaire", "owner"),
    "manager": ("gestionnaire", "exploitant", "manager"),
    "kind": ("type", "nature", "kind", "categorie", "class", "type_lante", "genre"),
    "flux": ("flux", "type", "type_dechet", "dechet", "type_flux"),
    "capacity_l": ("capacite", "capacity", "volume", "capacite_l"),
    "domanialite": ("domanialite", "domanialit", "domaine", "statut_juridique", "gestion", "gestionnaire"),
    "level": ("niveau", "layer", "pos_sol", "level"),
    "direction": ("sens_circu", "sens", "sens_circulation", "oneway"),
    "length_m": ("longueur", "length", "len", "long", "longueur_m"),
    "code": ("code_qp", "code", "code_quartier", "code_qpv"),
    "quartier": ("quartier", "libquart", "nom_quartier", "lib_quartier"),
    "first_seen": ("date", "date_reperage", "premiere_observation"),
    "dwellings": ("logements", "nb_logements", "nombre_logements"),
    "phase": ("phase", "avancement", "etat"),
}


@dataclass
class FieldChoice:
    """What the draft says about one field: its rule and the comment beside it."""

    rule: Any
    comment: str = ""


@dataclass
class Proposal:
    """A draft mapping and what is left to decide.

    Attributes
    ----------
    layer : str
        Target layer.
    data : dict
        The mapping as a dictionary (what :func:`layers.mapping.parse_mapping` reads).
    comments : dict
        Field name → French comment written beside it.
    unused : list of str
        Source columns the draft does not use.
    layout : str or None
        The known layout recognised, if any.
    """

    layer: str
    data: dict[str, Any]
    comments: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)
    layout: str | None = None
    source_name: str = ""

    @property
    def todo(self) -> list[str]:
        """The decisions left (French), empty when the draft is ready to use."""
        return todo_left(self.data)

    def to_yaml(self) -> str:
        """Return the draft as commented YAML."""
        return _render(self)


def _sample(values: pd.Series, n: int = 500) -> pd.Series:
    text = values.dropna().astype("string").str.strip()
    return text[text.ne("")].head(n)


def _fits(f: Field, values: pd.Series) -> bool:
    """Whether the non-blank sample values mostly fit the type of ``f``."""
    sample = _sample(values)
    if sample.empty:
        return False
    if f.type in ("int", "float"):
        nums = pd.to_numeric(sample.str.replace(",", ".", regex=False), errors="coerce")
        return bool(nums.notna().mean() >= 0.8)
    if f.type in ("date", "datetime"):
        if pd.api.types.is_datetime64_any_dtype(values):
            return True
        return bool(parse_datetimes(sample).notna().mean() >= 0.5)
    if f.choices is not None:  # at least one of its frequent values is an allowed one
        frequent = sample.value_counts().index[:MAX_VALUES]
        return any(propose_value(str(v), f.choices)[0] is not None for v in frequent)
    return True


def _name_score(f: Field, column: str) -> float:
    """How well ``column`` names field ``f`` (1 exact name, label or first synonym; 0 unrelated)."""
    key = column_key(column)
    targets = [column_key(f.name), column_key(f.label)] + [column_key(s) for s in SYNONYMS.get(f.name, ())]
    best = 0.0
    for rank, target in enumerate(t for t in targets if t):
        if key == target:
            best = max(best, 1.0 - 0.01 * rank)
        else:
            ratio = difflib.SequenceMatcher(None, key, target).ratio()
            if ratio >= NAME_CUTOFF:
                best = max(best, 0.9 * ratio - 0.005 * rank)
    return best


def _match_fields(schema: LayerSchema, frame: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    """Field → column, greedily by best name score, each column used once, types checked."""
    fields = [f for f in schema.fields if f.name not in SYSTEM_FIELD_NAMES]
    scored = sorted(((score, f.name, c) for f in fields for c in columns
                     if (score := _name_score(f, c)) > 0), reverse=True)
    chosen: dict[str, str] = {}
    used: set[str] = set()
    for _score, name, column in scored:
        if name in chosen or column in used or not _fits(schema.field(name), frame[column]):
            continue
        chosen[name] = column
        used.add(column)
    return chosen


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.split(r"[^a-z0-9]+", fold(text)) if w and w not in _STOP}


def propose_value(value: str, choices: tuple[str, ...]) -> tuple[str | None, str]:
    """Propose the allowed value for a source value; None with the reason when none is sure."""
    folded = fold(value)
    exact = [c for c in choices if fold(c) == folded]
    if exact:
        return exact[0], ""
    words = _words(value)
    inside = [c for c in choices if _words(c) and _words(c) <= words]
    if len(inside) == 1:
        return inside[0], ""
    if len(inside) > 1:
        return None, "plusieurs possibles : " + ", ".join(inside)
    close = difflib.get_close_matches(folded, [fold(c) for c in choices], n=1, cutoff=0.85)
    if close:
        return next(c for c in choices if fold(c) == close[0]), ""
    around = [c for c in choices if words and words <= _words(c)]
    if len(around) == 1:
        return around[0], ""
    return None, ""


def _choice_rule(f: Field, column: str, values: pd.Series) -> FieldChoice:
    """Return a column rule with its ``values`` table: proposed target or TODO per distinct value."""
    counts = _sample(values, n=len(values)).value_counts()
    table: dict[str, str] = {}
    notes: list[str] = []
    choices = f.choices or ()
    for value in counts.index[:MAX_VALUES]:
        target, why = propose_value(str(value), choices)
        if target is None:
            table[str(value)] = TODO
            if why:
                notes.append(f"« {value} » : {why}")
        elif fold(target) != fold(str(value)):
            table[str(value)] = target
    comment = f"{f.label} ← « {column} » ; valeurs possibles : {', '.join(choices)}"
    if len(counts) > MAX_VALUES:
        comment += f" ; {len(counts) - MAX_VALUES} autres valeurs non listées (voir patterns)"
    if notes:
        comment += " ; " + " ; ".join(notes)
    if not table:
        return FieldChoice(column, comment)
    return FieldChoice({"column": column, "values": table}, comment)


def _date_rule(f: Field, column: str, values: pd.Series) -> FieldChoice:
    """Return the rule of a date column; values that are not dates go to ``missing`` (unknown) or TODO."""
    comment = f"{f.label} ← « {column} »"
    if pd.api.types.is_datetime64_any_dtype(values):
        return FieldChoice(column, comment)
    distinct = pd.Series(_sample(values, n=len(values)).unique(), dtype="string")
    bad = distinct[parse_datetimes(distinct).isna()]
    if bad.empty:
        return FieldChoice(column, comment)
    unknown = [str(v) for v in bad if fold(str(v)) in _UNKNOWN]
    others = [str(v) for v in bad if fold(str(v)) not in _UNKNOWN][:MAX_VALUES]
    rule: dict[str, Any] = {"column": column}
    if unknown:
        rule["missing"] = unknown
        comment += " ; « missing » : valeurs lues comme inconnues (date laissée vide)"
    if others:
        rule["values"] = dict.fromkeys(others, TODO)
        comment += " ; valeurs qui ne sont pas des dates : donnez AAAA-MM-JJ ou ajoutez-les à missing"
    return FieldChoice(rule, comment)


def _field_choices(schema: LayerSchema, table: SourceTable, columns: list[str]) -> dict[str, FieldChoice]:
    frame = table.frame
    matched = _match_fields(schema, frame, columns)
    out: dict[str, FieldChoice] = {}
    for f in schema.fields:
        if f.name in SYSTEM_FIELD_NAMES:
            continue
        column = matched.get(f.name)
        if column is None:
            if f.required and f.default is None:
                out[f.name] = FieldChoice(
                    TODO, f"{f.label} (obligatoire) : aucune colonne reconnue ; choisissez-en une "
                          "ou donnez {value: …}")
            continue
        if f.choices is not None:
            out[f.name] = _choice_rule(f, column, frame[column])
        elif f.type in ("date", "datetime"):
            out[f.name] = _date_rule(f, column, frame[column])
        else:
            out[f.name] = FieldChoice(column, f"{f.label} ← « {column} »")
    return out


def _numbers(values: pd.Series) -> pd.Series:
    text = values.dropna().astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").dropna()


def _geometry(table: SourceTable, columns: list[str]) -> tuple[dict[str, Any], str]:
    """Return the ``geometry`` section and a comment: columns of a CSV, CRS fix of a vector file."""
    if table.kind == "vector":
        gdf = table.frame
        if table.crs is None or not isinstance(gdf, gpd.GeoDataFrame):
            return {"crs": TODO}, "le fichier ne déclare pas de système de coordonnées"
        xmin, ymin, xmax, ymax = gdf.total_bounds
        if gdf.crs is not None and gdf.crs.is_geographic and (abs(xmax) > 180 or abs(ymax) > 90) \
                and xmin > 50_000 and xmax < 1_300_000 and ymin > 6_000_000 and ymax < 7_200_000:
            return {"crs": "EPSG:2154"}, ("coordonnées en mètres dans l'étendue du Lambert 93 alors que "
                                          "le fichier se déclare en degrés : EPSG:2154")
        return {}, ""
    spec = detect_geometry(columns)
    if "x" in spec:
        xs, ys = _numbers(table.frame[spec["x"]]), _numbers(table.frame[spec["y"]])
        degrees = not xs.empty and bool((xs.abs() <= 180).mean() > 0.9 and (ys.abs() <= 90).mean() > 0.9)
        spec["crs"] = "EPSG:4326" if degrees else "EPSG:2154"
        return spec, f"coordonnées « {spec['x']} », « {spec['y']} » ({spec['crs']})"
    if spec:
        return spec, ""
    return {"x": TODO, "y": TODO, "crs": "EPSG:4326"}, "colonnes de coordonnées non reconnues"


def _id_column(frame: pd.DataFrame, columns: list[str]) -> str | None:
    """Return a column named like an identifier whose values are all present and distinct."""
    keys = {c: column_key(c) for c in columns}
    ranked = [c for name in _ID_NAMES for c in columns if keys[c] == column_key(name)]
    ranked += [c for c in columns if c not in ranked and (keys[c].startswith("id") or keys[c].endswith("id"))]
    for column in ranked:
        values = frame[column].astype("string").str.strip()
        if values.notna().all() and values.ne("").all() and values.is_unique:
            return column
    return None


def _from_layout(mapping: Mapping_) -> dict[str, Any]:
    """Return a recognised layout's mapping as a dictionary (columns and constants)."""
    fields: dict[str, Any] = {}
    for rule in mapping.fields:
        fields[rule.name] = rule.column if rule.column is not None else {"value": rule.value}
    data: dict[str, Any] = {"layer": mapping.layer, "dataset": mapping.dataset, "title": mapping.title}
    if mapping.read:
        data["read"] = dict(mapping.read)
    if mapping.geometry:
        data["geometry"] = dict(mapping.geometry)
    if mapping.id:
        data["id"] = mapping.id
    data["fields"] = fields
    return data


def propose_mapping(path: str | Path, layer: str) -> Proposal:
    """Propose a draft mapping of the file at ``path`` into ``layer``.

    Parameters
    ----------
    path : str or Path
        The source file (any format :func:`layers.sources.read_source` reads).
    layer : str
        The target layer.

    Returns
    -------
    Proposal
        The draft; its :attr:`Proposal.todo` lists what is left to decide.

    Raises
    ------
    SourceFileError, UnknownLayerError
        When the file cannot be read or the layer does not exist.
    """
    path = Path(path)
    schema = get_schema(layer)
    table = read_source(path)
    geometry_name = table.frame.geometry.name if isinstance(table.frame, gpd.GeoDataFrame) else None
    columns = [str(c) for c in table.frame.columns if c != geometry_name]
    layout = recognise(schema.name, columns)
    if layout is not None:
        mapping = layout.to_mapping(columns)
        data = _from_layout(mapping)
        used = mapping.columns()
        return Proposal(layer=schema.name, data=data, layout=layout.name, source_name=path.name,
                        unused=[c for c in columns if c not in used],
                        comments={"": f"format reconnu : {layout.label} "
                                          "(l'import sans -m le reconnaît aussi)"})
    choices = _field_choices(schema, table, columns)
    geometry, geometry_note = _geometry(table, columns)
    dataset = re.sub(r"[^a-z0-9_-]+", "-", fold(path.name.split(".")[0])).strip("-") or "source"
    data = {"layer": schema.name, "dataset": dataset, "title": path.name}
    if table.kind == "csv":
        data["read"] = {"encoding": "auto", "separator": table.separator or "auto"}
    if geometry:
        data["geometry"] = geometry
    ident = _id_column(table.frame, columns)
    if ident is not None:
        data["id"] = ident
    data["fields"] = {name: c.rule for name, c in choices.items()}
    used = {str(v) for v in geometry.values()} | {ident or ""}
    for c in choices.values():
        rule = c.rule
        used.add(rule if isinstance(rule, str) else str(rule.get("column", "")))
    comments = {name: c.comment for name, c in choices.items()}
    if geometry_note:
        comments["geometry"] = geometry_note
    return Proposal(layer=schema.name, data=data, comments=comments, source_name=path.name,
                    unused=[c for c in columns if c not in used and match_column(c, list(used)) is None])


def _scalar(value: Any) -> str:
    if value == TODO:
        return TODO
    if isinstance(value, (bool, int, float, np.integer, np.floating)) and not isinstance(value, str):
        return json.dumps(value.item() if hasattr(value, "item") else value)
    return json.dumps(str(value), ensure_ascii=False)


def _inline(value: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {_scalar(v)}" for k, v in value.items()) + "}"


def _rule_lines(name: str, rule: Any, comment: str) -> list[str]:
    note = f"  # {comment}" if comment else ""
    if not isinstance(rule, dict):
        return [f"  {name}: {_scalar(rule)}{note}"]
    lines = [f"  {name}:{note}"]
    for key, value in rule.items():
        if isinstance(value, dict):
            lines.append(f"    {key}:")
            lines += [f"      {_scalar(src)}: {_scalar(target)}" for src, target in value.items()]
        elif isinstance(value, list):
            lines.append(f"    {key}: [{', '.join(_scalar(v) for v in value)}]")
        else:
            lines.append(f"    {key}: {_scalar(value)}")
    return lines


def _render(p: Proposal) -> str:
    todo = p.todo
    lines = [
        f"# Brouillon de correspondance proposé par « qpv correspondance proposer » pour {p.source_name}.",
        "# Relisez chaque ligne (guide : docs/correspondances.md)."
        + (f" Il reste {len(todo)} TODO à remplacer avant l'import." if todo else ""),
    ]
    if p.comments.get(""):
        lines.append(f"# {p.comments['']}")
    for key in ("layer", "dataset", "title"):
        lines.append(f"{key}: {_scalar(p.data[key])}")
    if "read" in p.data:
        lines.append(f"read: {_inline(p.data['read'])}")
    if "geometry" in p.data:
        note = p.comments.get("geometry")
        lines.append(f"geometry: {_inline(p.data['geometry'])}" + (f"  # {note}" if note else ""))
    if "id" in p.data:
        lines.append(f"id: {_scalar(p.data['id'])}  # identifiant stable : réimporter n'ajoute rien")
    lines.append("fields:")
    for name, rule in p.data["fields"].items():
        lines += _rule_lines(name, rule, p.comments.get(name, ""))
    if p.unused:
        lines.append(f"# Colonnes non utilisées : {', '.join(p.unused)}")
    return "\n".join(lines) + "\n"
