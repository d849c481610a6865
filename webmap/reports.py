"""The reports page ``/rapports``: start a report job, follow it, find and download past reports.

Readers and above open the page; the form starts a « rapport » job through the jobs API
(``POST /api/jobs``, :mod:`webmap.jobs.views`) and ``static/js/rapports.js`` follows its
progress. Finished reports are filed in the store's files area (``FILES_DIR``,
:mod:`webmap._report_archive`); the history lists those whose layers the role may see, with
who asked and when, and serves their HTML and PDF. Only administrators delete them.
"""

from __future__ import annotations

import io
import logging
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from flask import Blueprint, current_app, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue

from webmap import _report_archive as archive
from webmap.access import allow, can_see, current_user, fail, has_role
from webmap.jobs.kinds import DEFAULT_THEME, LAYER_CHOICES, report_layers
from webmap.store import get_store

logger = logging.getLogger(__name__)
bp = Blueprint("reports", __name__)

#: Reports per page of the history.
PAGE_SIZE = 10
#: Downloadable formats of a filed report; ``csv`` is a ZIP of its tables' CSV files.
FORMATS = {"html": ("text/html", ".html"), "pdf": ("application/pdf", ".pdf"),
           "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
           "csv": ("application/zip", ".csv")}
#: Label of each format's download link.
FORMAT_LABELS = {"html": "le HTML", "pdf": "le PDF", "xlsx": "les tableaux (XLSX)",
                 "csv": "les tableaux (CSV)"}
LAYER_LABELS = {"auto": "Automatique (constats, sinon points noirs)", "observations": "Constats",
                "points_noirs": "Points noirs"}
_PARIS = ZoneInfo("Europe/Paris")
_MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


def files_area() -> str:
    """Return the store's files area of this app (``FILES_DIR``)."""
    return str(current_app.config["FILES_DIR"])


def readable(entry: archive.FiledReport) -> bool:
    """Tell whether the current role may see every layer the report read."""
    return all(can_see(layer) for layer in entry.layers)


def _when(text: Any) -> str:
    """« 05/12/2026 à 14 h 03 » (Paris time) of a UTC ISO time; « date inconnue » otherwise."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return "date inconnue"
    return moment.astimezone(_PARIS).strftime("%d/%m/%Y à %H h %M")


def _month(text: str) -> str:
    year, month = text.split("-")
    return f"{_MONTHS[int(month) - 1]} {year}"


def _period(text: Any) -> str:
    """« sept. 2023 – août 2024 » of ``2023-09:2024-08``."""
    try:
        first, last = str(text).split(":")
        return f"{_month(first)} – {_month(last)}"
    except (ValueError, IndexError):
        return str(text or "période inconnue")


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} Mo".replace(".", ",")
    return f"{max(1, round(n / 1024))} ko"


def _card(entry: archive.FiledReport) -> dict[str, Any]:
    """Return what the history shows of a filed report (French)."""
    p = entry.parameters
    if p.get("quartier"):
        where = f"Quartier {p['quartier']}"
    else:
        where = "Tout le territoire" + (f" — {p['commune']}" if p.get("commune") else "")
    who = str(p.get("demande_par") or "inconnu")
    if p.get("organisation"):
        who += f" ({p['organisation']})"
    links = [{"label": FORMAT_LABELS[fmt], "href": url_for("reports.download", rapport_id=entry.id, fmt=fmt)}
             for fmt, (_, ext) in FORMATS.items() if entry.file(ext)]
    return {"id": entry.id, "title": str(p.get("titre") or entry.id), "where": where,
            "period": _period(p.get("periode")), "theme": p.get("theme") or "tous les thèmes",
            "layer": LAYER_LABELS.get(str(p.get("couche")), str(p.get("couche"))), "who": who,
            "asked": _when(p.get("demande_le")), "finished": _when(p.get("termine_le")),
            "size": _size(entry.size), "links": links, "notes": [str(n) for n in p.get("notes") or []]}


def _choices() -> dict[str, Any]:
    """Quartiers (code, name, communes) and communes of the store's perimeters, for the form."""
    frame = get_store().read("perimetres")
    quartiers = sorted(({"code": str(r.code), "name": str(r.name),
                         "communes": str(r.communes) if pd.notna(r.communes) else ""}
                        for r in frame.itertuples()), key=lambda q: (q["communes"], q["name"]))
    communes = sorted({c.strip() for q in quartiers for c in q["communes"].split(",") if c.strip()})
    return {"quartiers": quartiers, "communes": communes}


def _default_period() -> tuple[str, str]:
    """Return the twelve months ending with the latest constat (the last twelve whole months without one)."""
    latest = None
    if can_see("observations"):
        last_one = get_store().read("observations", order_by="-observed_at", limit=1)
        if len(last_one) and pd.notna(last_one["observed_at"].iloc[0]):
            latest = pd.Timestamp(last_one["observed_at"].iloc[0])
    today = date.today()
    last = latest.year * 12 + latest.month - 1 if latest is not None else today.year * 12 + today.month - 2

    def month(index: int) -> str:  # index: months counted from year 0
        return f"{index // 12:04d}-{index % 12 + 1:02d}"

    return month(last - 11), month(last)


@bp.get("/rapports")
@allow("lecteur", login_page=True)
def page() -> ResponseReturnValue:
    """Show the form, the reports being prepared (filled by the script) and the history, paginated."""
    entries = [e for e in archive.list_reports(files_area()) if readable(e)]
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    try:
        number = min(max(1, int(request.args.get("page", "1"))), pages)
    except ValueError:
        number = 1
    shown = entries[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    first, last = _default_period()
    layers = [(name, LAYER_LABELS[name]) for name in LAYER_CHOICES
              if all(can_see(layer) for layer in report_layers({"couche": name}))]
    me = current_user()
    data = {"jobs": url_for("jobs.list_jobs"), "job": url_for("jobs.get_job", job_id="ID"),
            "login": me.login if me else None}
    return render_template(
        "rapports/rapports.html", cards=[_card(e) for e in shown], total=len(entries), page=number,
        pages=pages, choices=_choices(), start=first, end=last, layers=layers, theme=DEFAULT_THEME,
        admin=has_role("administrateur"), deleted=request.args.get("supprime") == "1", data=data)


def _entry(rapport_id: str) -> archive.FiledReport:
    """Return the filed report ``rapport_id`` if the role may read it; 404 otherwise (existence hidden)."""
    entry = archive.read_report(files_area(), rapport_id)
    if entry is None or not readable(entry):
        fail(404, "Rapport introuvable.")
    return entry


@bp.get("/rapports/<rapport_id>/<fmt>")
@allow("lecteur")
def download(rapport_id: str, fmt: str) -> ResponseReturnValue:
    """Download the HTML, PDF or tables (XLSX, ZIP of CSV) of a filed report.

    Every layer the report read must be visible to the role; its tables are those of the
    version made for the role that asked for it (no confidential section it may not see).
    """
    entry = _entry(rapport_id)
    if fmt not in FORMATS:
        fail(404, f"Format « {fmt} » inconnu : html, pdf, xlsx ou csv.", "fmt")
    mimetype, ext = FORMATS[fmt]
    name = entry.file(ext)
    if name is None:
        fail(404, f"Ce rapport n'a pas de version {fmt.upper()}.", "fmt")
    if fmt == "csv":
        return send_file(_csv_zip(entry), mimetype=mimetype, as_attachment=True,
                         download_name=f"{Path(entry.files[0]).stem}-tableaux-csv.zip")
    return send_file(entry.folder / name, mimetype=mimetype, as_attachment=True, download_name=name)


def _csv_zip(entry: archive.FiledReport) -> io.BytesIO:
    """Return a ZIP of the CSV files of a filed report (in memory: a few tables)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive_file:
        for name in entry.files:
            if name.lower().endswith(".csv"):
                archive_file.write(entry.folder / name, arcname=name)
    buffer.seek(0)
    return buffer


@bp.post("/rapports/<rapport_id>/supprimer")
@allow("administrateur")
def delete(rapport_id: str) -> ResponseReturnValue:
    """Delete a filed report (administrators), then back to the history."""
    _entry(rapport_id)
    archive.delete_report(files_area(), rapport_id)
    me = current_user()
    logger.info("filed report %s deleted by %s", rapport_id, me.login if me else "?")
    return redirect(url_for("reports.page", supprime="1"), code=303)
