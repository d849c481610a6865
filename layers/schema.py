"""The layer kinds and their schemas, declared in one place.

Import, validation, storage, the web map and the reports all read the field names,
types, allowed values and geometry types from :data:`LAYERS`.

Every layer also carries the system fields of :data:`SYSTEM_FIELDS` (stable ``uid``,
source dataset and id, the ``simulated`` flag, timestamps), and may have child tables
(status history, dumping events, gauge readings, collections).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from layers.errors import UnknownLayerError

FieldType = Literal["str", "int", "float", "bool", "date", "datetime", "json"]
GeometryKind = Literal["Point", "LineString", "MultiPolygon", "Geometry", None]


@dataclass(frozen=True)
class Field:
    """One attribute of a layer.

    Parameters
    ----------
    name : str
        Column name (English, snake case).
    type : str
        One of ``str``, ``int``, ``float``, ``bool``, ``date``, ``datetime``, ``json``.
    label : str
        French label shown to users.
    required : bool
        Whether a record without a value is rejected.
    choices : tuple of str, optional
        Allowed values (after normalisation of case and accents).
    default : object, optional
        Value used when the source gives none.
    minimum, maximum : float, optional
        Numeric bounds.
    pattern : str, optional
        Regular expression a string must match.
    internal : bool
        Internal to the partners (logins, comments, assignment, participants, photo file
        names): not shown to anonymous visitors unless the web app's public profile opens it.
    """

    name: str
    type: FieldType = "str"
    label: str = ""
    required: bool = False
    choices: tuple[str, ...] | None = None
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    description: str = ""
    internal: bool = False

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        if self.pattern is not None:
            re.compile(self.pattern)


@dataclass(frozen=True)
class ChildSchema:
    """A dated table attached to the records of a layer (events, readings, history)."""

    name: str
    label: str
    fields: tuple[Field, ...]
    time_field: str

    def field(self, name: str) -> Field:
        """Return the field called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)


@dataclass(frozen=True)
class LayerSchema:
    """A layer kind: its fields, geometry, time axis, status workflow and children.

    Attributes
    ----------
    name : str
        Table name in every store and collection id in the APIs.
    label : str
        French label shown in the map's layer control and the reports.
    geometry : str or None
        ``Point``, ``LineString``, ``MultiPolygon`` or ``Geometry`` (mixed).
    fields : tuple of Field
        The business fields (system fields are added by :attr:`all_fields`).
    time_field : str or None
        The field the time slider and ``datetime`` filters act on.
    status_field : str or None
        A field whose changes are kept in a history table.
    confidential : bool
        Hidden from readers and anonymous users by default.
    reference : bool
        A reference layer of the territory (streets, addresses...) rather than GUSP data.
    children : tuple of ChildSchema
        Dated sub-tables.
    geometry_optional : bool
        Records may have no geometry (an action of the whole quartier, a training):
        a missing geometry is then stored as null instead of being rejected.
    public : bool
        Open to anonymous visitors by default (False: accounts only, unless the web app's
        public profile lists it — the plan d'actions names pilotes, conflicts and budgets).
    events : {"dated", "summary"} or None
        What :attr:`time_field` dates: ``"dated"``, events (the map's period filter applies
        and their dates span its time slider); ``"summary"``, events summed up from other
        data (filtered, but their dates follow that data and do not span the slider); None, a
        reference date (installation, survey) the period filter leaves alone.
    event_child : str or None
        The child table whose rows are the layer's events (a point noir's dumping events):
        their dates span the time slider.
    """

    name: str
    label: str
    geometry: GeometryKind
    fields: tuple[Field, ...]
    time_field: str | None = None
    status_field: str | None = None
    confidential: bool = False
    reference: bool = False
    children: tuple[ChildSchema, ...] = ()
    description: str = ""
    geometry_optional: bool = False
    public: bool = True
    events: Literal["dated", "summary"] | None = None
    event_child: str | None = None

    def __post_init__(self) -> None:
        """Check the event axis names a time field and an existing child table."""
        if self.events is not None and self.time_field is None:
            raise ValueError(f"layer {self.name}: events without a time field")
        if self.event_child is not None:
            self.child(self.event_child)  # KeyError when no such child table

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """System fields followed by the business fields."""
        return SYSTEM_FIELDS + self.fields

    @property
    def field_names(self) -> list[str]:
        """Names of :attr:`all_fields`."""
        return [f.name for f in self.all_fields]

    def field(self, name: str) -> Field:
        """Return the field called ``name`` (system or business)."""
        for f in self.all_fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def child(self, name: str) -> ChildSchema:
        """Return the child table called ``name``."""
        for c in self.children:
            if c.name == name:
                return c
        raise UnknownLayerError(
            f"La couche « {self.name} » n'a pas de table « {name} » "
            f"(tables : {', '.join(c.name for c in self.children) or 'aucune'})."
        )


SYSTEM_FIELDS: tuple[Field, ...] = (
    Field("uid", "str", "Identifiant", description="Stable identifier (hash of source and id)."),
    Field("source_dataset", "str", "Jeu de données source"),
    Field("source_id", "str", "Identifiant dans la source"),
    Field("simulated", "bool", "Donnée simulée", default=False),
    Field("created_at", "datetime", "Créé le"),
    Field("updated_at", "datetime", "Modifié le"),
)
SYSTEM_FIELD_NAMES = frozenset(f.name for f in SYSTEM_FIELDS)

THEMES = (
    "propreté",
    "dépôts sauvages",
    "encombrants",
    "éclairage",
    "voirie",
    "mobilier urbain",
    "espaces verts",
    "stationnement",
    "tranquillité",
    "parties communes",
    "tags et graffitis",
    "collecte des déchets",
    "aires de jeux",
    "signalétique",
    "eau et assainissement",
    "autre",
)
OBSERVATION_STATUSES = ("nouveau", "transmis", "en cours", "traité", "clos non traité")
#: ``where`` of the reads that count constats (reports, indicators, dashboard, TFPB): a constat
#: merged into another (``duplicate_of`` set, closed by the merge) is the same dysfunction as the
#: one kept, counted once through it — never a second « clos non traité ».
DISTINCT_CONSTATS: Mapping[str, None] = {"duplicate_of": None}
OPEN_STATUSES = ("nouveau", "transmis", "en cours")
OBSERVATION_SOURCES = ("diagnostic en marchant", "habitant", "gardien", "patrouille", "import")
DOMANIALITES = ("publique", "bailleur", "copropriété", "privée", "mixte", "inconnue")
#: Partner organisation kinds of the accounts (``webmap.users``) and of the records' scope
#: (author organisation, assignment: see :mod:`layers.scope`).
ORGANISATIONS = ("ville", "EPCI", "bailleur", "État", "police", "prestataire", "association", "autre")

_PERIMETRES = LayerSchema(
    name="perimetres",
    label="Périmètres QPV",
    geometry="MultiPolygon",
    fields=(
        Field("code", "str", "Code", required=True, pattern=r"^[A-Z0-9_-]{3,20}$",
              description="2015 QP code (QP075019) or 2024 QN code, or a local code."),
        Field("name", "str", "Nom", required=True),
        Field("communes", "str", "Communes"),
        Field("geography", "str", "Géographie", choices=("2015", "2024"), default="2015"),
        Field("kind", "str", "Type", choices=("qpv", "veille active", "quartier"), default="qpv"),
        Field("source", "str", "Source"),
        Field("repaired", "bool", "Géométrie réparée", default=False),
    ),
    description="Quartiers prioritaires et quartiers en veille active.",
)

_STATUS_HISTORY = ChildSchema(
    name="historique",
    label="Historique",
    fields=(
        Field("status", "str", "Statut", required=True, choices=OBSERVATION_STATUSES),
        Field("changed_at", "datetime", "Date", required=True),
        Field("changed_by", "str", "Par", internal=True),
        Field("comment", "str", "Commentaire", internal=True),
        Field("changes", "json", "Modifications", internal=True,
              description="Fields changed by this entry: {field: [before, after]} (null for the "
                          "creation and for older entries). The status is repeated unchanged "
                          "when only other fields changed."),
    ),
    time_field="changed_at",
)

_OBSERVATIONS = LayerSchema(
    name="observations",
    label="Constats et signalements",
    geometry="Point",
    fields=(
        Field("observed_at", "datetime", "Constaté le", required=True),
        Field("theme", "str", "Thème", required=True, choices=THEMES),
        Field("subtheme", "str", "Sous-thème"),
        Field("description", "str", "Description"),
        Field("address", "str", "Adresse"),
        Field("status", "str", "Statut", required=True, choices=OBSERVATION_STATUSES,
              default="nouveau"),
        Field("source", "str", "Origine", required=True, choices=OBSERVATION_SOURCES,
              default="import"),
        Field("pilote", "str", "Pilote", internal=True),
        Field("partenaires", "str", "Partenaires", internal=True),
        Field("domanialite", "str", "Domanialité", choices=DOMANIALITES, default="inconnue"),
        Field("deadline", "date", "Délai", internal=True),
        Field("resolved_at", "datetime", "Résolu le"),
        Field("photos", "json", "Photos", default=None, internal=True),
        Field("walk_id", "str", "Diagnostic en marchant", internal=True),
        Field("organisation", "str", "Organisation auteure", choices=ORGANISATIONS, internal=True,
              description="Set by the server from the logged-in author, never by the client."),
        Field("assigned_to", "str", "Attribué à", choices=ORGANISATIONS, internal=True),
        Field("action_reference", "str", "Action du plan", internal=True,
              description="Reference of the action of the plan d'actions that treated it "
                          "(set when the constat is marked « traité » through an action)."),
        Field("duplicate_of", "str", "Doublon de",
              description="uid of the constat this duplicate was merged into (it is then closed)."),
    ),
    time_field="observed_at",
    events="dated",
    status_field="status",
    children=(_STATUS_HISTORY,),
    description="Constats des diagnostics en marchant et signalements.",
)

#: États d'avancement of an action (Annexe 2 « État d'avancement »), in workflow order.
ACTION_STATES = ("à engager", "engagée", "réalisée", "reportée", "abandonnée")
#: États that end an action (``resolved_at`` is then set).
ACTION_CLOSED_STATES = ("réalisée", "abandonnée")
#: Types of response of the Annexe 2 (« Réponses » columns of the Lillers tableau de suivi).
ACTION_RESPONSE_TYPES = ("gestion", "usage", "conception")
#: Default list of origines (causes) of a constat, Annexe 1 « Origines »; the list is
#: configurable (``Settings.action_origins``), so the schema does not restrict the field.
ACTION_ORIGINS = ("usage", "conception", "gestion", "défaut d'entretien", "malveillance",
                  "vétusté", "autre")
#: Axes of the national framework of the abattement de TFPB (codes "1" to "8"; their titles
#: and sous-actions come from the convention, see ``data/conventions/lillers-2023.yaml``).
TFPB_AXES = ("1", "2", "3", "4", "5", "6", "7", "8")

_ACTION_HISTORY = ChildSchema(
    name="historique",
    label="Historique de l'état d'avancement",
    fields=(
        Field("status", "str", "État d'avancement", required=True, choices=ACTION_STATES),
        Field("changed_at", "datetime", "Date", required=True),
        Field("changed_by", "str", "Par", internal=True),
        Field("comment", "str", "Commentaire", internal=True),
    ),
    time_field="changed_at",
)
_ACTION_CONSTATS = ChildSchema(
    name="constats",
    label="Constats traités par l'action",
    fields=(
        Field("constat_uid", "str", "Constat", required=True,
              description="uid of a record of layer ``observations``."),
        Field("linked_at", "datetime", "Rattaché le", required=True),
        Field("linked_by", "str", "Rattaché par", internal=True),
    ),
    time_field="linked_at",
)

_ACTIONS = LayerSchema(
    name="actions",
    label="Plan d'actions",
    geometry="Geometry",
    geometry_optional=True,
    public=False,
    fields=(
        Field("reference", "str", "Référence", pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,39}$",
              description="Human reference (« MTP-QP034001-2026-007 »), unique in the store."),
        Field("title", "str", "Action", required=True),
        Field("decided_at", "date", "Décidée le", required=True),
        Field("quartier", "str", "Quartier"),
        Field("convention", "str", "Convention", description="Code of a stored convention."),
        Field("orientation", "str", "Orientation", description="Code of the orientation."),
        Field("objectif", "str", "Objectif",
              description="Code of the objectif général or opérationnel (« 1.2.3 »)."),
        Field("axe", "str", "Axe d'intervention", description="Code of the convention's axis."),
        Field("probleme", "str", "Problème à traiter"),
        Field("lieu", "str", "Lieu"),
        Field("address", "str", "Adresse"),
        Field("origine", "str", "Origine (cause)"),
        Field("response_type", "str", "Type de réponse", choices=ACTION_RESPONSE_TYPES),
        Field("description", "str", "Réponse / action"),
        Field("indicateurs", "str", "Indicateurs d'évaluation"),
        Field("pilote", "str", "Pilote"),
        Field("partenaires", "str", "Partenaires"),
        Field("deadline", "date", "Délai"),
        Field("etat", "str", "État d'avancement", required=True, choices=ACTION_STATES,
              default="à engager"),
        Field("conflit", "str", "Conflit"),
        Field("delay_causes", "str", "Causes de retard ou de report"),
        Field("evaluation", "str", "Évaluation de l'action"),
        Field("comment", "str", "Commentaire", internal=True),
        Field("resolved_at", "datetime", "Réalisée ou abandonnée le"),
        Field("walk_id", "str", "Diagnostic en marchant", internal=True),
        Field("tfpb", "bool", "Action TFPB", default=False),
        Field("bailleur", "str", "Bailleur"),
        Field("tfpb_year", "int", "Année TFPB", minimum=2000, maximum=2100),
        Field("tfpb_axe", "str", "Axe TFPB", choices=TFPB_AXES),
        Field("tfpb_sous_action", "str", "Sous-action TFPB"),
        Field("amount_planned", "float", "Montant prévisionnel (€)", minimum=0),
        Field("amount_committed", "float", "Montant engagé (€)", minimum=0),
        Field("amount_deferred", "float", "Montant reporté (€)", minimum=0),
        Field("amount_valued", "float", "Dépense valorisée (€)", minimum=0),
        Field("organisation", "str", "Organisation auteure", choices=ORGANISATIONS, internal=True,
              description="Set by the server from the logged-in author, never by the client."),
        Field("assigned_to", "str", "Attribué à", choices=ORGANISATIONS, internal=True),
    ),
    time_field="decided_at",
    events="dated",
    status_field="etat",
    children=(_ACTION_HISTORY, _ACTION_CONSTATS),
    description="Plan d'actions, tableau de suivi et programme TFPB : actions, état "
                "d'avancement, constats traités, montants.",
)

_POINTS_NOIRS = LayerSchema(
    name="points_noirs",
    label="Points noirs (dépôts sauvages)",
    geometry="Point",
    fields=(
        Field("name", "str", "Nom", required=True),
        Field("address", "str", "Adresse"),
        Field("first_seen", "date", "Repéré le"),
        Field("status", "str", "Statut", choices=("actif", "sous surveillance", "résorbé"),
              default="actif"),
        Field("description", "str", "Description"),
        Field("manager", "str", "Gestionnaire"),
        Field("assigned_to", "str", "Attribué à", choices=ORGANISATIONS),
    ),
    time_field="first_seen",
    event_child="evenements",
    children=(
        ChildSchema(
            name="evenements",
            label="Dépôts constatés",
            fields=(
                Field("observed_at", "datetime", "Constaté le", required=True),
                Field("waste_type", "str", "Type de déchets",
                      choices=("encombrants", "ordures ménagères", "gravats", "déchets verts",
                               "électroménager", "mixte", "autre"), default="mixte"),
                Field("volume_m3", "float", "Volume (m³)", minimum=0, maximum=500),
                Field("cleaned_at", "datetime", "Enlevé le"),
                Field("description", "str", "Description"),
            ),
            time_field="observed_at",
        ),
    ),
    description="Sites de dépôts sauvages récurrents.",
)

_BACS = LayerSchema(
    name="bacs",
    label="Bacs enterrés et points d'apport volontaire",
    geometry="Point",
    fields=(
        Field("name", "str", "Nom"),
        Field("flux", "str", "Flux", required=True,
              choices=("OM", "tri", "verre", "biodéchets", "papier", "textile", "multiflux")),
        Field("flux_detail", "str", "Détail des flux"),
        Field("kind", "str", "Type", choices=("enterré", "semi-enterré", "aérien", "colonne"),
              default="colonne"),
        Field("capacity_l", "float", "Capacité (L)", minimum=0, maximum=50000),
        Field("has_gauge", "bool", "Sonde de remplissage", default=False),
        Field("address", "str", "Adresse"),
        Field("manager", "str", "Gestionnaire"),
        Field("assigned_to", "str", "Attribué à", choices=ORGANISATIONS),
    ),
    children=(
        ChildSchema(
            name="releves",
            label="Relevés de remplissage",
            fields=(
                Field("measured_at", "datetime", "Relevé le", required=True),
                Field("fill_pct", "float", "Remplissage (%)", required=True, minimum=0,
                      maximum=100),
            ),
            time_field="measured_at",
        ),
        ChildSchema(
            name="levees",
            label="Levées",
            fields=(
                Field("collected_at", "datetime", "Levé le", required=True),
                Field("weight_kg", "float", "Poids (kg)", minimum=0, maximum=20000),
            ),
            time_field="collected_at",
        ),
    ),
    description="Bacs enterrés, colonnes et points d'apport volontaire.",
)

_VIDEOPROTECTION = LayerSchema(
    name="videoprotection",
    label="Vidéoprotection",
    geometry="Point",
    fields=(
        Field("name", "str", "Nom"),
        Field("address", "str", "Implantation"),
        Field("status", "str", "Statut", choices=("projet", "installée", "hors service"),
              default="installée"),
        Field("installed_at", "date", "Mise en service"),
        Field("owner", "str", "Propriétaire"),
        Field("azimuth_deg", "float", "Azimut (°)", minimum=0, maximum=360),
        Field("fov_deg", "float", "Champ de vision (°)", minimum=0, maximum=360),
        Field("range_m", "float", "Portée (m)", minimum=0, maximum=1000),
    ),
    time_field="installed_at",
    confidential=True,
    description="Sites de vidéoprotection (couche confidentielle).",
)

_TRAVAUX = LayerSchema(
    name="travaux_npnru",
    label="Opérations NPNRU",
    geometry="Geometry",
    fields=(
        Field("name", "str", "Opération", required=True),
        Field("kind", "str", "Nature", required=True,
              choices=("démolition", "construction", "réhabilitation", "résidentialisation",
                       "aménagement d'espace public", "équipement")),
        Field("dwellings", "int", "Logements", minimum=0, maximum=10000),
        Field("phase", "str", "Phase", choices=("études", "programmée", "en cours", "livrée"),
              default="programmée"),
        Field("start_date", "date", "Début"),
        Field("end_date", "date", "Fin"),
        Field("quartier", "str", "Quartier"),
        Field("maitre_ouvrage", "str", "Maître d'ouvrage"),
    ),
    time_field="start_date",
    description="Opérations du Nouveau programme national de renouvellement urbain.",
)

_DIAGNOSTICS = LayerSchema(
    name="diagnostics",
    label="Diagnostics en marchant",
    geometry="LineString",
    fields=(
        Field("name", "str", "Parcours", required=True),
        Field("quartier", "str", "Quartier"),
        Field("walk_date", "datetime", "Date", required=True),
        Field("status", "str", "Statut", choices=("prévu", "réalisé", "compte-rendu diffusé"),
              default="prévu"),
        Field("organisations", "str", "Organisations participantes", internal=True),
        Field("n_habitants", "int", "Habitants", minimum=0, maximum=10000, internal=True),
        Field("n_participants", "int", "Participants", minimum=0, maximum=10000, internal=True),
        Field("budget_min", "float", "Durée prévue (min)", minimum=0, maximum=1440),
        Field("duration_min", "float", "Durée estimée (min)", minimum=0, maximum=1440),
        Field("length_m", "float", "Longueur (m)", minimum=0),
        Field("previous_walk", "str", "Diagnostic précédent"),
        Field("notes", "str", "Notes", internal=True),
        Field("organisation", "str", "Organisation auteure", choices=ORGANISATIONS, internal=True),
    ),
    time_field="walk_date",
    events="dated",
    children=(
        ChildSchema(
            name="etapes",
            label="Étapes",
            fields=(
                Field("rank", "int", "Ordre", required=True, minimum=0, maximum=10000),
                Field("name", "str", "Étape"),
                Field("address", "str", "Adresse"),
                Field("x", "float", "X (Lambert-93)", required=True),
                Field("y", "float", "Y (Lambert-93)", required=True),
                Field("to_check", "str", "À vérifier"),
                Field("priority", "float", "Priorité", minimum=0),
                Field("mandatory", "bool", "Obligatoire", default=False),
            ),
            time_field="rank",
        ),
    ),
    description="Parcours de diagnostic en marchant : date, participants, itinéraire, étapes.",
)

_ANALYSES = LayerSchema(
    name="analyses",
    label="Résultats d'analyse",
    geometry="Geometry",
    fields=(
        Field("analysis", "str", "Analyse", required=True,
              choices=("points chauds", "points chauds émergents", "densité", "couverture",
                       "récurrence", "carence")),
        Field("run_id", "str", "Calcul", required=True),
        Field("source_layer", "str", "Couche analysée"),
        Field("quartier", "str", "Quartier"),
        Field("period_start", "date", "Début de période"),
        Field("period_end", "date", "Fin de période"),
        Field("run_at", "datetime", "Calculé le"),
        Field("category", "str", "Classe"),
        Field("value", "float", "Valeur"),
        Field("z_score", "float", "Score z"),
        Field("p_value", "float", "p"),
        Field("params", "json", "Paramètres"),
    ),
    time_field="period_start",
    events="summary",
    description="Couches dérivées : points chauds, densité, couverture, carences.",
)

# Reference layers of the territory: what the analyses and the map draw on.
_ADRESSES = LayerSchema(
    name="adresses",
    label="Adresses",
    geometry="Point",
    reference=True,
    fields=(
        Field("number", "int", "Numéro", minimum=0, maximum=100000),
        Field("suffix", "str", "Indice (bis, ter…)"),
        Field("street", "str", "Voie", required=True),
        Field("street_code", "str", "Code voie (FANTOIR/RIVOLI)"),
        Field("postcode", "str", "Code postal"),
        Field("commune", "str", "Commune"),
        Field("insee", "str", "Code INSEE"),
    ),
)
_VOIES = LayerSchema(
    name="voies",
    label="Voies",
    geometry="LineString",
    reference=True,
    fields=(
        Field("name", "str", "Nom"),
        Field("street_code", "str", "Code voie (RIVOLI)"),
        Field("street_type", "str", "Type de voie"),
        Field("domanialite", "str", "Domanialité"),
        Field("direction", "str", "Sens de circulation"),
        Field("length_m", "float", "Longueur (m)", minimum=0),
        Field("level", "int", "Niveau (pont > 0, tunnel < 0)", minimum=-10, maximum=10),
    ),
)
_ECLAIRAGE = LayerSchema(
    name="eclairage",
    label="Éclairage public",
    geometry="Point",
    reference=True,
    fields=(Field("kind", "str", "Type de support"),),
)
_BATIMENTS = LayerSchema(
    name="batiments",
    label="Bâtiments",
    geometry="MultiPolygon",
    reference=True,
    fields=(
        Field("kind", "str", "Type"),
        Field("name", "str", "Nom"),
        Field("quartier", "str", "Quartier"),
    ),
)

LAYERS: Mapping[str, LayerSchema] = {
    s.name: s
    for s in (
        _PERIMETRES,
        _OBSERVATIONS,
        _ACTIONS,
        _POINTS_NOIRS,
        _BACS,
        _VIDEOPROTECTION,
        _TRAVAUX,
        _DIAGNOSTICS,
        _ANALYSES,
        _ADRESSES,
        _VOIES,
        _ECLAIRAGE,
        _BATIMENTS,
    )
}


def get_schema(name: str) -> LayerSchema:
    """Return the schema of layer ``name``.

    Raises
    ------
    UnknownLayerError
        When no layer kind has this name.
    """
    try:
        return LAYERS[name]
    except KeyError:
        raise UnknownLayerError(
            f"Couche inconnue « {name} ». Couches disponibles : {', '.join(LAYERS)}."
        ) from None
