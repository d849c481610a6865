"""The walk planner's page ``/diagnostics/nouveau`` (technicians and administrators).

A French form and a map (``static/js/planner.js``): the quartier, the date, the start
(address search through ``/api/lookup`` or a click on the map), duration, walking speed,
time per stop, number of groups, mode, the mandatory stops (open constats, points noirs,
NPNRU sites from ``/api/diagnostics/candidats``). « Calculer » asks ``/api/diagnostics/apercu``
(or, for a large quartier, a « parcours » job of ``/api/jobs`` whose progress the page shows);
« Enregistrer » posts the same request to ``/api/diagnostics`` and offers the sheet PDF, the
GPX and the walk page. The page itself only carries its configuration (quartiers, bounds,
defaults, URLs) as JSON; everything else comes from the JSON APIs.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue

from layers.walks import MODES
from webmap.access import allow
from webmap.planner_api import BOUNDS, MAX_MANDATORY
from webmap.store import get_store
from webmap.views import basemap_config

logger = logging.getLogger(__name__)

bp = Blueprint("planner_page", __name__, url_prefix="/diagnostics")

#: Labels of the modes of :data:`layers.walks.MODES` on the page.
MODE_LABELS = {"priorites": "Priorités (arrêts les plus utiles dans le temps donné)",
               "toutes-les-rues": "Toutes les rues du quartier"}


def _quartiers() -> list[dict[str, str]]:
    """Return the quartiers of the store, by commune then name."""
    frame = get_store().read("perimetres")
    rows = []
    for _, row in frame.iterrows():
        communes = row.get("communes")
        rows.append({"code": str(row["code"]), "nom": str(row["name"]),
                     "communes": communes if isinstance(communes, str) else ""})
    return sorted(rows, key=lambda r: (r["communes"], r["nom"]))


def _default_date(now: datetime | None = None) -> str:
    """Next working day at 14:00, as ``datetime-local`` wants it."""
    day = (now or datetime.now()) + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.replace(hour=14, minute=0, second=0, microsecond=0).strftime("%Y-%m-%dT%H:%M")


@bp.get("/nouveau")
@allow("technicien", layer="diagnostics", login_page=True)
def new_walk() -> ResponseReturnValue:
    """Return the planner page (form and map)."""
    quartiers = _quartiers()
    asked = (request.args.get("quartier") or "").strip().upper()
    config: dict[str, Any] = {
        "quartiers": quartiers,
        "quartier": asked if any(q["code"] == asked for q in quartiers) else "",
        "date": _default_date(),
        "bounds": {name: {"min": low, "max": high, "defaut": default}
                   for name, (low, high, default) in BOUNDS.items()},
        "modes": [{"value": m, "label": MODE_LABELS.get(m, m)} for m in MODES],
        "maxMandatory": MAX_MANDATORY,
        "basemap": basemap_config(current_app.config.get("BASEMAP")),
        "urls": {"candidats": url_for("planner.candidates"), "apercu": url_for("planner.preview"),
                 "enregistrer": url_for("planner.save"), "jobs": url_for("jobs.create_job"),
                 "lookup": url_for("lookup.lookup"), "connexion": url_for("auth.login", suivant=request.path),
                 "liste": url_for("diagnostic.walk_list")},
    }
    return render_template("diagnostic/nouveau.html", config=config)
