"""The GUSP conventions as data: orientations, objectives, fiches action, axes and tables.

A convention is a YAML file in ``data/conventions/`` transcribed from the signed document
(its ``source`` names the file and sections it comes from)::

    code: pays-de-montbeliard-2025-2030
    titre: Gestion urbaine et sociale de proximité (GUSP) - Convention 2025 / 2030
    territoire: Pays de Montbéliard Agglomération
    periode: {debut: 2025, fin: 2030}
    source: {fichier: 000_cb19a58d724bdb01.txt, sections: {orientations: "6.2. ..."}}
    axes: [{code: "1", titre: ..., libelle_suivi: ...}]
    orientations:
    - code: "1"
      axe: "1"
      titre: ...
      objectifs_generaux:
      - code: "1.1"
        titre: ...
        objectifs_operationnels: [{code: "1.1.1", titre: ...}]
    fiches_action: [{numero: 1, axe: "1", orientation: "1", intitule: ...,
                     objectifs_operationnels: ["1.1.1"], partenaires: [...], indicateurs: [...]}]
    partenaires: [{nom: ..., type: bailleur}]
    types_reponse: [{code: gestion, libelle: Réponse gestion}]
    tableaux: [{code: plan_actions, titre: "Annexe 1 : ...", colonnes: [{libelle: ..., groupe: ...}]}]
    tfpb_axes: [{code: "1", titre: ..., sous_actions: [...]}]

Codes are strings (quote them: ``5.10`` unquoted would be the number 5.1). An objective's
code starts with its parent's code and a dot. The column headings of ``tableaux`` are, in
order, those of the convention's annexes: the exporters write them as they are.
:func:`load_convention` checks all of this and names the offending key in French.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import yaml

from layers.errors import ConventionError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = [
    "CONVENTIONS_DIR",
    "Axis",
    "Column",
    "Convention",
    "GeneralObjective",
    "OperationalObjective",
    "Orientation",
    "Partner",
    "ResponseType",
    "Sheet",
    "Source",
    "Table",
    "TfpbAxis",
    "convention_to_dict",
    "import_convention",
    "list_conventions",
    "load_convention",
    "stored_conventions",
]

CONVENTIONS_DIR = Path(__file__).resolve().parents[1] / "data" / "conventions"

_TOP_KEYS = frozenset({"code", "titre", "territoire", "periode", "source", "axes", "orientations",
                       "fiches_action", "partenaires", "types_reponse", "tableaux", "tfpb_axes"})


@dataclass(frozen=True)
class Source:
    """Where the transcription comes from: the seed file and its sections by topic."""

    fichier: str
    sections: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Axis:
    """An axe (stratégique or d'intervention); ``libelle_suivi`` is its label in a suivi table."""

    code: str
    titre: str
    libelle_suivi: str | None = None


@dataclass(frozen=True)
class OperationalObjective:
    """An objectif opérationnel."""

    code: str
    titre: str


@dataclass(frozen=True)
class GeneralObjective:
    """An objectif général and its objectifs opérationnels."""

    code: str
    titre: str
    objectifs_operationnels: tuple[OperationalObjective, ...]


@dataclass(frozen=True)
class Orientation:
    """An orientation stratégique, its axe and its objectifs généraux."""

    code: str
    titre: str
    axe: str | None
    objectifs_generaux: tuple[GeneralObjective, ...]


@dataclass(frozen=True)
class Sheet:
    """A fiche action: the objectives it serves, its partners and its indicateurs de suivi."""

    numero: int
    intitule: str
    orientation: str | None
    axe: str | None
    objectifs_operationnels: tuple[str, ...]
    partenaires: tuple[str, ...]
    indicateurs: tuple[str, ...]


@dataclass(frozen=True)
class Partner:
    """A signatory of the convention."""

    nom: str
    type: str | None = None


@dataclass(frozen=True)
class ResponseType:
    """A type of response (réponse gestion, usage, conception / aménagement)."""

    code: str
    libelle: str


@dataclass(frozen=True)
class Column:
    """A column heading of an annexe table; ``groupe`` is the merged heading above it."""

    libelle: str
    groupe: str | None = None


@dataclass(frozen=True)
class Table:
    """An annexe table (plan d'actions, tableau de suivi) with its columns in order."""

    code: str
    titre: str
    colonnes: tuple[Column, ...]

    @property
    def headings(self) -> tuple[str, ...]:
        """The column headings, in the annexe's order."""
        return tuple(column.libelle for column in self.colonnes)


@dataclass(frozen=True)
class TfpbAxis:
    """An axe of the TFPB abattement programme and its sous-actions."""

    code: str
    titre: str
    sous_actions: tuple[str, ...]


@dataclass(frozen=True)
class Convention:
    """A GUSP convention as data, read by :func:`load_convention`."""

    code: str
    titre: str
    territoire: str
    periode: tuple[int, int]
    source: Source
    axes: tuple[Axis, ...]
    orientations: tuple[Orientation, ...]
    fiches_action: tuple[Sheet, ...]
    partenaires: tuple[Partner, ...]
    types_reponse: tuple[ResponseType, ...]
    tableaux: tuple[Table, ...]
    tfpb_axes: tuple[TfpbAxis, ...]

    def general_objectives(self) -> Iterator[GeneralObjective]:
        """Every objectif général, in the convention's order."""
        for orientation in self.orientations:
            yield from orientation.objectifs_generaux

    def operational_objectives(self) -> Iterator[OperationalObjective]:
        """Every objectif opérationnel, in the convention's order."""
        for general in self.general_objectives():
            yield from general.objectifs_operationnels

    def table(self, code: str) -> Table:
        """Return the annexe table ``code`` (``plan_actions``, ``tableau_suivi``...)."""
        for table in self.tableaux:
            if table.code == code:
                return table
        known = ", ".join(t.code for t in self.tableaux) or "aucun"
        raise ConventionError(f"La convention « {self.code} » n'a pas de tableau « {code} » "
                              f"(tableaux : {known}).")


# -- reading -----------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice in the same mapping."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConventionError(f"clé « {key} » écrite deux fois (ligne {key_node.start_mark.line + 1})")
        seen.add(key)
    return dict(loader.construct_pairs(node))


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class _Reader:
    """Typed access to the parsed YAML; every error names the key path."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConventionError:
        return ConventionError(f"Convention {self.path.name} : clé « {key} » : {problem}.")

    def mapping(self, value: Any, key: str, *, allowed: frozenset[str] | None = None) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(key, "un dictionnaire (clé: valeur) est attendu")
        if allowed is not None:
            unknown = sorted(str(k) for k in value if k not in allowed)
            if unknown:
                raise self.fail(key, f"clé(s) inconnue(s) {', '.join(unknown)} "
                                     f"(clés possibles : {', '.join(sorted(allowed))})")
        return value

    def text(self, parent: Mapping[str, Any], name: str, where: str, *, required: bool = True) -> str | None:
        key = f"{where}.{name}" if where else name
        value = parent.get(name)
        if value is None:
            if required:
                raise self.fail(key, "valeur manquante")
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"texte attendu (entre guillemets), trouvé {value!r}")
        if not value.strip():
            raise self.fail(key, "valeur vide")
        return value.strip()

    def req(self, parent: Mapping[str, Any], name: str, where: str) -> str:
        value = self.text(parent, name, where)
        if value is None:  # pragma: no cover - text() raises first when required
            raise self.fail(f"{where}.{name}" if where else name, "valeur manquante")
        return value

    def items(self, parent: Mapping[str, Any], name: str, where: str) -> list[tuple[str, Any]]:
        key = f"{where}.{name}" if where else name
        value = parent.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list):
            raise self.fail(key, "une liste est attendue")
        return [(f"{key}[{i}]", item) for i, item in enumerate(value)]

    def texts(self, parent: Mapping[str, Any], name: str, where: str) -> tuple[str, ...]:
        out = []
        for key, item in self.items(parent, name, where):
            if not isinstance(item, str) or not item.strip():
                raise self.fail(key, f"texte non vide attendu, trouvé {item!r}")
            out.append(item.strip())
        return tuple(out)

    def unique(self, codes: list[tuple[str, str]], what: str) -> set[str]:
        seen: dict[str, str] = {}
        for key, code in codes:
            if code in seen:
                raise self.fail(key, f"{what} « {code} » en double (déjà en {seen[code]})")
            seen[code] = key
        return set(seen)


def _objectives(r: _Reader, raw: Mapping[str, Any], where: str, parent: str) -> GeneralObjective:
    node = r.mapping(raw, where, allowed=frozenset({"code", "titre", "objectifs_operationnels"}))
    code = r.req(node, "code", where)
    _check_prefix(r, code, parent, f"{where}.code")
    operational = []
    for key, item in r.items(node, "objectifs_operationnels", where):
        op = r.mapping(item, key, allowed=frozenset({"code", "titre"}))
        op_code = r.req(op, "code", key)
        _check_prefix(r, op_code, code, f"{key}.code")
        operational.append(OperationalObjective(code=op_code, titre=r.req(op, "titre", key)))
    return GeneralObjective(code=code, titre=r.req(node, "titre", where),
                            objectifs_operationnels=tuple(operational))


def _check_prefix(r: _Reader, code: str, parent: str, key: str) -> None:
    if not code.startswith(parent + "."):
        raise r.fail(key, f"le code « {code} » doit commencer par « {parent}. », le code de son parent")


def _orientation(r: _Reader, raw: Any, where: str) -> Orientation:
    node = r.mapping(raw, where, allowed=frozenset({"code", "titre", "axe", "objectifs_generaux"}))
    code = r.req(node, "code", where)
    generals = tuple(_objectives(r, item, key, code)
                     for key, item in r.items(node, "objectifs_generaux", where))
    return Orientation(code=code, titre=r.req(node, "titre", where),
                       axe=r.text(node, "axe", where, required=False), objectifs_generaux=generals)


def _sheet(r: _Reader, raw: Any, where: str) -> Sheet:
    node = r.mapping(raw, where, allowed=frozenset({"numero", "intitule", "orientation", "axe",
                                                    "objectifs_operationnels", "partenaires", "indicateurs"}))
    numero = node.get("numero")
    if not isinstance(numero, int) or isinstance(numero, bool) or numero < 1:
        raise r.fail(f"{where}.numero", f"entier positif attendu, trouvé {numero!r}")
    return Sheet(numero=numero, intitule=r.req(node, "intitule", where),
                 orientation=r.text(node, "orientation", where, required=False),
                 axe=r.text(node, "axe", where, required=False),
                 objectifs_operationnels=r.texts(node, "objectifs_operationnels", where),
                 partenaires=r.texts(node, "partenaires", where),
                 indicateurs=r.texts(node, "indicateurs", where))


def _table(r: _Reader, raw: Any, where: str) -> Table:
    node = r.mapping(raw, where, allowed=frozenset({"code", "titre", "colonnes"}))
    columns = []
    for key, item in r.items(node, "colonnes", where):
        col = r.mapping(item, key, allowed=frozenset({"libelle", "groupe"}))
        columns.append(Column(libelle=r.req(col, "libelle", key),
                              groupe=r.text(col, "groupe", key, required=False)))
    if not columns:
        raise r.fail(f"{where}.colonnes", "au moins une colonne est attendue")
    r.unique([(f"{where}.colonnes[{i}].libelle", c.libelle) for i, c in enumerate(columns)], "colonne")
    return Table(code=r.req(node, "code", where), titre=r.req(node, "titre", where), colonnes=tuple(columns))


def _source(r: _Reader, raw: Any) -> Source:
    node = r.mapping(raw, "source", allowed=frozenset({"fichier", "sections"}))
    sections = r.mapping(node.get("sections") or {}, "source.sections")
    pairs = []
    for name, value in sections.items():
        if not isinstance(value, str) or not value.strip():
            raise r.fail(f"source.sections.{name}", "texte non vide attendu")
        pairs.append((str(name), value.strip()))
    return Source(fichier=r.req(node, "fichier", "source"), sections=tuple(pairs))


def _period(r: _Reader, raw: Any) -> tuple[int, int]:
    node = r.mapping(raw, "periode", allowed=frozenset({"debut", "fin"}))
    years = []
    for name in ("debut", "fin"):
        value = node.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1990 <= value <= 2100:
            raise r.fail(f"periode.{name}", f"année attendue (ex. 2025), trouvé {value!r}")
        years.append(value)
    if years[1] < years[0]:
        raise r.fail("periode.fin", f"l'année de fin {years[1]} précède l'année de début {years[0]}")
    return years[0], years[1]


def _simple(r: _Reader, doc: Mapping[str, Any]) -> dict[str, Any]:
    """Read the flat lists: axes, partners, response types, TFPB axes."""
    axes = []
    for key, item in r.items(doc, "axes", ""):
        node = r.mapping(item, key, allowed=frozenset({"code", "titre", "libelle_suivi"}))
        axes.append(Axis(code=r.req(node, "code", key), titre=r.req(node, "titre", key),
                         libelle_suivi=r.text(node, "libelle_suivi", key, required=False)))
    partners = []
    for key, item in r.items(doc, "partenaires", ""):
        node = r.mapping(item, key, allowed=frozenset({"nom", "type"}))
        partners.append(Partner(nom=r.req(node, "nom", key), type=r.text(node, "type", key, required=False)))
    responses = []
    for key, item in r.items(doc, "types_reponse", ""):
        node = r.mapping(item, key, allowed=frozenset({"code", "libelle"}))
        responses.append(ResponseType(code=r.req(node, "code", key), libelle=r.req(node, "libelle", key)))
    tfpb = []
    for key, item in r.items(doc, "tfpb_axes", ""):
        node = r.mapping(item, key, allowed=frozenset({"code", "titre", "sous_actions"}))
        tfpb.append(TfpbAxis(code=r.req(node, "code", key), titre=r.req(node, "titre", key),
                             sous_actions=r.texts(node, "sous_actions", key)))
    return {"axes": tuple(axes), "partenaires": tuple(partners), "types_reponse": tuple(responses),
            "tfpb_axes": tuple(tfpb)}


def _check_codes(r: _Reader, conv: Convention) -> None:
    """Codes unique within their kind; fiches and orientations refer to known codes."""
    axes = r.unique([(f"axes[{i}].code", a.code) for i, a in enumerate(conv.axes)], "axe")
    r.unique([(f"orientations[{i}].code", o.code) for i, o in enumerate(conv.orientations)], "orientation")
    generals = [(f"orientations[{i}].objectifs_generaux[{j}].code", g.code)
                for i, o in enumerate(conv.orientations) for j, g in enumerate(o.objectifs_generaux)]
    r.unique(generals, "objectif général")
    operationals = r.unique(
        [(f"orientations[{i}].objectifs_generaux[{j}].objectifs_operationnels[{k}].code", op.code)
         for i, o in enumerate(conv.orientations) for j, g in enumerate(o.objectifs_generaux)
         for k, op in enumerate(g.objectifs_operationnels)], "objectif opérationnel")
    r.unique([(f"fiches_action[{i}].numero", str(s.numero)) for i, s in enumerate(conv.fiches_action)],
             "fiche action")
    r.unique([(f"types_reponse[{i}].code", t.code) for i, t in enumerate(conv.types_reponse)],
             "type de réponse")
    r.unique([(f"tableaux[{i}].code", t.code) for i, t in enumerate(conv.tableaux)], "tableau")
    r.unique([(f"tfpb_axes[{i}].code", t.code) for i, t in enumerate(conv.tfpb_axes)], "axe TFPB")
    orientations = {o.code for o in conv.orientations}
    for i, o in enumerate(conv.orientations):
        if o.axe is not None and o.axe not in axes:
            raise r.fail(f"orientations[{i}].axe",
                         f"axe « {o.axe} » inconnu (axes : {', '.join(sorted(axes))})")
    for i, s in enumerate(conv.fiches_action):
        if s.orientation is not None and s.orientation not in orientations:
            raise r.fail(f"fiches_action[{i}].orientation", f"orientation « {s.orientation} » inconnue")
        if s.axe is not None and s.axe not in axes:
            raise r.fail(f"fiches_action[{i}].axe", f"axe « {s.axe} » inconnu")
        for k, code in enumerate(s.objectifs_operationnels):
            if code not in operationals:
                raise r.fail(f"fiches_action[{i}].objectifs_operationnels[{k}]",
                             f"objectif opérationnel « {code} » inconnu")


def load_convention(path: str | Path) -> Convention:
    """Read and check a convention YAML file.

    Parameters
    ----------
    path : str or Path
        The YAML file (see the module documentation for its keys).

    Returns
    -------
    Convention
        The convention, frozen.

    Raises
    ------
    ConventionError
        When the file is missing or unreadable, or a key is missing, mistyped, unknown, a
        code is written twice or refers to nothing; the message names the key.
    """
    path = Path(path)
    r = _Reader(path)
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except ConventionError as exc:
        raise ConventionError(f"Convention {path.name} : {exc}.") from exc
    except OSError as exc:
        raise ConventionError(f"Convention {path.name} : fichier illisible ({exc.strerror or exc}).") from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConventionError(f"Convention {path.name} : YAML invalide ({exc}).") from exc
    convention = _parse(r, doc)
    logger.debug("convention %s read from %s", convention.code, path)
    return convention


def _parse(r: _Reader, raw: Any) -> Convention:
    """Check the parsed YAML (or JSON) document and build the convention."""
    doc = r.mapping(raw, "(racine)", allowed=_TOP_KEYS)
    if "source" not in doc:
        raise r.fail("source", "valeur manquante (le document et les sections transcrits)")
    convention = Convention(
        code=r.req(doc, "code", ""), titre=r.req(doc, "titre", ""), territoire=r.req(doc, "territoire", ""),
        periode=_period(r, doc.get("periode")), source=_source(r, doc["source"]),
        orientations=tuple(_orientation(r, item, key) for key, item in r.items(doc, "orientations", "")),
        fiches_action=tuple(_sheet(r, item, key) for key, item in r.items(doc, "fiches_action", "")),
        tableaux=tuple(_table(r, item, key) for key, item in r.items(doc, "tableaux", "")),
        **_simple(r, doc))
    if not convention.orientations and not convention.axes:
        raise r.fail("orientations", "ni orientations ni axes : la convention n'a aucune structure")
    _check_codes(r, convention)
    return convention


def list_conventions(directory: str | Path | None = None) -> tuple[Convention, ...]:
    """Load every convention of ``directory`` (default ``data/conventions``), by code.

    Raises
    ------
    ConventionError
        When a file is malformed, or two files declare the same code.
    """
    folder = Path(directory) if directory is not None else CONVENTIONS_DIR
    if not folder.is_dir():
        raise ConventionError(f"Dossier des conventions introuvable : {folder}.")
    conventions: dict[str, Convention] = {}
    for path in sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml")):
        convention = load_convention(path)
        if convention.code in conventions:
            raise ConventionError(f"Convention {path.name} : clé « code » : le code « {convention.code} » "
                                  "est déjà celui d'une autre convention du dossier.")
        conventions[convention.code] = convention
    return tuple(conventions[code] for code in sorted(conventions))


# -- the store -------------------------------------------------------------------------------

_META_INDEX = "conventions"
_META_PREFIX = "convention:"


def convention_to_dict(convention: Convention) -> dict[str, Any]:
    """Return ``convention`` as the document :func:`load_convention` reads (YAML keys)."""

    def drop_none(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        if isinstance(value, list | tuple):
            return [drop_none(v) for v in value]
        return value

    doc = drop_none(asdict(convention))
    doc["periode"] = {"debut": convention.periode[0], "fin": convention.periode[1]}
    doc["source"]["sections"] = dict(convention.source.sections)
    return cast(dict[str, Any], doc)


def import_convention(store: LayerStore, convention: Convention) -> None:
    """Keep ``convention`` in the store (replacing the one of the same code).

    Reports, dashboards and exports of a store then group by it without the YAML files,
    a PostGIS server included.
    """
    codes = [c.code for c in stored_conventions(store) if c.code != convention.code]
    document = json.dumps(convention_to_dict(convention), ensure_ascii=False)
    store.set_meta(_META_PREFIX + convention.code, document)
    store.set_meta(_META_INDEX, json.dumps(sorted([*codes, convention.code])))
    logger.info("convention %s imported into the store", convention.code)


def stored_conventions(store: LayerStore) -> tuple[Convention, ...]:
    """Return the conventions imported into ``store``, by code (none: an empty tuple).

    Raises
    ------
    ConventionError
        When a stored convention no longer passes the checks of :func:`load_convention`.
    """
    index = store.get_meta(_META_INDEX)
    if not index:
        return ()
    conventions = []
    for code in _json(index, _META_INDEX):
        raw = store.get_meta(_META_PREFIX + code)
        if raw is None:
            raise ConventionError(f"Convention « {code} » annoncée dans l'entrepôt mais absente.")
        conventions.append(_parse(_Reader(Path(f"{code} (entrepôt)")), _json(raw, _META_PREFIX + code)))
    return tuple(conventions)


def _json(text: str, key: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConventionError(f"Réglage « {key} » de l'entrepôt illisible (JSON invalide : {exc}).") from exc
