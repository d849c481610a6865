"""Downloads of the comité de pilotage: Annexe 1, Annexe 2, TFPB bilan, dossier de COPIL.

Endpoints (names for ``url_for("action_exports.<name>", ...)``), lecteur and above, only
for a role that may see the layer ``actions`` (not public: anonymous visitors get 401):

* ``annexe1`` — ``/actions/annexe1.<fmt>`` (fmt ``xlsx``, ``ods`` or ``pdf``): the plan
  d'actions (Annexe 1 of the convention);
* ``suivi`` — ``/actions/suivi.<fmt>``: the tableau de suivi des actions engagées (Annexe 2);
  both take the filters of ``GET /api/actions`` (``quartier``, ``debut``, ``fin``, ``etat``,
  ``pilote``, ``partenaire``, ``orientation``, ``en_retard``, ``tfpb``, ``bailleur``,
  ``annee``, ``diagnostic``);
* ``tfpb_bilan`` — ``/tfpb/bilan.xlsx?bailleur=&annee=`` (also ``.ods`` and ``.pdf`` with
  ``fmt``): the TFPB programme of a bailleur for a year, by axe and sous-action;
* ``copil`` — ``/quartiers/<code>/copil.pdf?debut=&fin=``: the dossier de COPIL (quartier
  report, plan d'actions and tableau de suivi in one PDF).

Fields the role may not see stay empty (:mod:`webmap.visibility`); the file name is French
(``Content-Disposition: attachment``).
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from layers.errors import ConventionError
from layers.schema import LAYERS
from webmap import params
from webmap.access import allow, can_see, current_role, fail
from webmap.actions_api import _query as action_query
from webmap.documents.action_files import FORMATS, MIMETYPES, ExportRequest, copil_pdf, export_actions
from webmap.store import get_store
from webmap.visibility import visible_fields

logger = logging.getLogger(__name__)

bp = Blueprint("action_exports", __name__)

LAYER = "actions"


def _hidden() -> frozenset[str]:
    schema = LAYERS[LAYER]
    return frozenset(schema.field_names) - visible_fields(schema, current_role())


def _download(body: bytes, name: str, fmt: str) -> Response:
    resp = Response(body, mimetype=MIMETYPES[fmt])
    ascii_name = name.encode("ascii", "ignore").decode() or f"export.{fmt}"
    resp.headers["Content-Disposition"] = (f'attachment; filename="{ascii_name}"; '
                                           f"filename*=UTF-8''{quote(name)}")
    return resp


def _table(model: str, fmt: str) -> Response:
    if fmt not in FORMATS:
        fail(404, f"Format « {fmt} » inconnu : {', '.join(FORMATS)}.")
    query = action_query()
    req = ExportRequest(model=model, fmt=fmt, quartier=query.quartier, start=query.start, end=query.end,
                        query=query, hidden=_hidden())
    try:
        body, name = export_actions(get_store(), req)
    except ConventionError as exc:
        fail(400, str(exc))
    return _download(body, name, fmt)


@bp.get("/actions/annexe1.<fmt>")
@allow("lecteur", layer=LAYER)
def annexe1(fmt: str) -> ResponseReturnValue:
    """Return the plan d'actions (Annexe 1) as XLSX, ODS or PDF."""
    return _table("annexe1", fmt)


@bp.get("/actions/suivi.<fmt>")
@allow("lecteur", layer=LAYER)
def suivi(fmt: str) -> ResponseReturnValue:
    """Return the tableau de suivi des actions engagées (Annexe 2) as XLSX, ODS or PDF."""
    return _table("annexe2", fmt)


@bp.get("/tfpb/bilan.xlsx", defaults={"fmt": "xlsx"})
@bp.get("/tfpb/bilan.<fmt>")
@allow("lecteur", layer=LAYER)
def tfpb_bilan(fmt: str) -> ResponseReturnValue:
    """Return the TFPB bilan of ``bailleur`` for ``annee`` (XLSX by default)."""
    if fmt not in FORMATS:
        fail(404, f"Format « {fmt} » inconnu : {', '.join(FORMATS)}.")
    bailleur = (request.args.get("bailleur") or "").strip()[:200]
    if not bailleur:
        fail(400, "Paramètre « bailleur » requis.", "bailleur")
    year = params.parse_int(request.args, "annee", 0, minimum=2000, maximum=2100)
    if not year:
        fail(400, "Paramètre « annee » requis (2000 à 2100).", "annee")
    try:
        body, name = export_actions(get_store(), ExportRequest(model="tfpb", fmt=fmt, bailleur=bailleur,
                                                               year=year))
    except ConventionError as exc:
        fail(400, str(exc))
    return _download(body, name, fmt)


@bp.get("/quartiers/<code>/copil.pdf")
@allow("lecteur", layer=LAYER)
def copil(code: str) -> ResponseReturnValue:
    """Return the dossier de COPIL of quartier ``code`` (report, plan d'actions, tableau de suivi)."""
    store = get_store()
    if code not in set(store.read("perimetres", where={"code": code})["code"].astype(str)):
        fail(404, f"Quartier « {code} » inconnu.")
    start, end = params.parse_date(request.args, "debut"), params.parse_date(request.args, "fin")
    if start is not None and end is not None and start > end:
        fail(400, "La date de fin doit suivre la date de début.", "fin")
    readable = [name for name in LAYERS if can_see(name)]
    body, name = copil_pdf(store, code, start=start.date() if start is not None else None,
                           end=end.date() if end is not None else None, readable=readable, hidden=_hidden())
    return _download(body, name, "pdf")
