"""Organisation scope of the writes: which organisation a record belongs to, who may change it.

A technician changes only the records of their organisation; administrators change
all. The organisations of a record are:

* ``observations`` (constats): the author organisation ``organisation`` (set by the
  server from the logged-in author, never by the client), the assignment ``assigned_to``
  and the organisation of the free-text ``pilote``;
* ``diagnostics`` (walks): the author organisation ``organisation`` and every
  participant of ``organisations`` (« Ville, Bailleur social »);
* ``points_noirs`` (their dumping events) and ``bacs`` (their fill readings): the
  organisation of the free-text ``manager`` (« Gestionnaire ») and ``assigned_to``;
* ``actions`` (plan d'actions, like constats): the author organisation ``organisation``,
  ``assigned_to``, the organisation of the free-text ``pilote`` and of ``bailleur`` (a
  bailleur the table does not know still makes the action one of the ``bailleur``
  organisation: the field names a bailleur by definition).

Free texts (pilote, manager, participants) name an organisation through
:attr:`ScopeRules.pilote_organisations`, matched on their leading word (accents and
case ignored: « Métropole — collecte » → ``EPCI``, « DPE-STPP-DT » → ``ville``). A text
that no entry matches gives no organisation, so it never grants a right by accident: such
a record is changed by administrators (and organisations of scope ``territoire``) only.

The rule is per organisation (:attr:`ScopeRules.organisation_scope`): ``propres`` (the
default) as above; ``territoire``: any record of the store, i.e. of the territory the
platform serves (an EPCI over its communes). The policy is the pure function
:func:`may_change`; the web app calls it in every write route.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from layers.validate import fold

SCOPE_OWN = "propres"
SCOPE_TERRITORY = "territoire"
SCOPES = (SCOPE_OWN, SCOPE_TERRITORY)
ADMIN_ROLE = "administrateur"

#: Leading word of a pilote / manager / participant (folded) → organisation. Paris
#: directions: DPE propreté et eau, DVD voirie, DEVE espaces verts, DASES action sociale
#: (ville), DPMP police municipale.
DEFAULT_PILOTE_ORGANISATIONS: dict[str, str] = {
    "ville": "ville", "mairie": "ville", "commune": "ville", "dpe": "ville", "dvd": "ville",
    "deve": "ville", "dases": "ville",
    "bailleur": "bailleur", "bailleurs": "bailleur", "office": "bailleur", "oph": "bailleur",
    "metropole": "EPCI", "agglo": "EPCI", "agglomeration": "EPCI", "epci": "EPCI",
    "communaute": "EPCI", "intercommunalite": "EPCI",
    "police": "police", "dpmp": "police", "gendarmerie": "police",
    "etat": "État", "prefecture": "État", "delegue": "État",
    "association": "association", "regie": "association",
    "prestataire": "prestataire",
}
#: The scope of an organisation not listed in :attr:`ScopeRules.organisation_scope`.
DEFAULT_SCOPE = SCOPE_OWN

#: How each layer's records are named in the refusals.
_NOUNS = {"observations": "Ce constat", "diagnostics": "Ce parcours", "points_noirs": "Ce point noir",
          "bacs": "Ce bac", "actions": "Cette action"}
#: Free-text fields naming organisations, per layer (several names separated by , ; /).
_TEXT_FIELDS = {"observations": ("pilote",), "diagnostics": ("organisations",),
                "points_noirs": ("manager",), "bacs": ("manager",),
                "actions": ("pilote", "bailleur")}
#: Fields holding an organisation kind, per layer.
_KIND_FIELDS = {"observations": ("organisation", "assigned_to"), "diagnostics": ("organisation",),
                "points_noirs": ("assigned_to",), "bacs": ("assigned_to",),
                "actions": ("organisation", "assigned_to")}
#: Free-text fields whose any non-empty value names this organisation when the table does not.
_IMPLIED = {("actions", "bailleur"): "bailleur"}
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class ScopeRules:
    """The configurable part of the policy.

    Attributes
    ----------
    pilote_organisations : mapping
        Leading word (any case or accents) of a free-text pilote → organisation.
    organisation_scope : mapping
        Organisation → ``propres`` or ``territoire`` (:data:`DEFAULT_SCOPE` otherwise).
    """

    pilote_organisations: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_PILOTE_ORGANISATIONS))
    organisation_scope: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Check the scopes (French message naming the organisation)."""
        for org, scope in self.organisation_scope.items():
            if scope not in SCOPES:
                raise ValueError(f"Portée « {scope} » de l'organisation « {org} » inconnue "
                                 f"({' ou '.join(SCOPES)}).")

    def organisation_of(self, text: Any) -> str | None:
        """Return the organisation a free text names by its leading word, or None."""
        if not isinstance(text, str):
            return None
        words = _WORD.findall(fold(text))
        if not words:
            return None
        table = {fold(k): v for k, v in self.pilote_organisations.items()}
        return table.get(words[0])

    def scope_of(self, organisation: str) -> str:
        """Return the scope of ``organisation``."""
        return self.organisation_scope.get(organisation, DEFAULT_SCOPE)


@dataclass(frozen=True)
class Decision:
    """Whether a write is allowed, and why (the French refusal when it is not)."""

    allowed: bool
    reason: str


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    return text or None


def record_organisations(layer: str, record: Mapping[str, Any], rules: ScopeRules) -> list[str]:
    """Return the organisations ``record`` of ``layer`` belongs to (see the module docstring)."""
    found: list[str] = []
    for name in _KIND_FIELDS.get(layer, ()):
        value = _text(record.get(name))
        if value is not None and value not in found:
            found.append(value)
    for name in _TEXT_FIELDS.get(layer, ()):
        text = _text(record.get(name))
        for part in re.split(r"[,;/+]", text or ""):
            org = rules.organisation_of(part)
            if org is None and part.strip():
                org = _IMPLIED.get((layer, name))
            if org is not None and org not in found:
                found.append(org)
    return found


def may_change(layer: str, record: Mapping[str, Any], *, role: str, organisation: str | None,
               rules: ScopeRules) -> Decision:
    """Tell whether a user of ``role`` and ``organisation`` may change ``record``.

    Parameters
    ----------
    layer : str
        ``observations``, ``diagnostics``, ``points_noirs``, ``bacs`` or ``actions`` (child rows
        are judged on their parent record).
    record : mapping
        The stored record, before the change.
    role : str
        The user's role (administrators may change everything).
    organisation : str or None
        The user's organisation.
    rules : ScopeRules

    Returns
    -------
    Decision
        ``allowed`` and the reason; when refused, a French message naming the record's
        organisations.
    """
    if role == ADMIN_ROLE:
        return Decision(True, "administrateur")
    if organisation is not None and rules.scope_of(organisation) == SCOPE_TERRITORY:
        return Decision(True, f"portée « {SCOPE_TERRITORY} » de l'organisation « {organisation} »")
    owners = record_organisations(layer, record, rules)
    if organisation is not None and organisation in owners:
        return Decision(True, f"relève de l'organisation « {organisation} »")
    noun = _NOUNS.get(layer, "Cet enregistrement")
    if not owners:
        return Decision(False, f"{noun} n'est rattaché à aucune organisation connue : modification "
                               "réservée aux administrateurs.")
    names = ", ".join(f"« {o} »" for o in owners)
    one = len(owners) == 1
    which = f"de l'organisation {names}" if one else f"des organisations {names}"
    return Decision(False, f"{noun} relève {which} : modification réservée à "
                           f"{'ses' if one else 'leurs'} techniciens et aux administrateurs.")
