"""The files of the comité de pilotage, from the store to bytes and a French file name.

One entry point for the CLI (``qpv actions exporter``) and the downloads of
:mod:`webmap.action_exports`: :func:`export_actions` (Annexe 1, Annexe 2 or the TFPB
bilan as XLSX, ODS or PDF) and :func:`copil_pdf` (the dossier de COPIL of a quartier).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from layers.action_tables import MODELS, TableOptions, plan_table, tfpb_bilan
from layers.store.base import LayerStore
from webmap.documents.action_documents import render_copil_pdf, render_table_pdf
from webmap.documents.spreadsheets import Layout, bilan_layout, table_layout, write_ods, write_xlsx

logger = logging.getLogger(__name__)

__all__ = ["FORMATS", "MIMETYPES", "ExportRequest", "copil_pdf", "export_actions"]

MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
    "pdf": "application/pdf",
}
FORMATS = tuple(MIMETYPES)
_STEMS = {"annexe1": "plan-d-actions", "annexe2": "tableau-de-suivi", "tfpb": "bilan-tfpb"}


@dataclass(frozen=True)
class ExportRequest:
    """What to export: model (``annexe1``, ``annexe2``, ``tfpb``), format and filters."""

    model: str
    fmt: str
    quartier: str | None = None
    start: date | None = None
    end: date | None = None
    convention: str | None = None
    bailleur: str | None = None
    year: int | None = None
    query: Any = None  # a layers.actions.ActionQuery (the /api/actions filters), wins over the above
    hidden: frozenset[str] = frozenset()

    def check(self) -> None:
        """Raise a ValueError (French) on a bad model, format or filter."""
        if self.model not in (*MODELS, "tfpb"):
            raise ValueError(f"Modèle « {self.model} » inconnu : annexe1, annexe2 ou tfpb.")
        if self.fmt not in FORMATS:
            raise ValueError(f"Format « {self.fmt} » inconnu : {', '.join(FORMATS)}.")
        if self.model == "tfpb" and (not self.bailleur or self.year is None):
            raise ValueError("Le bilan TFPB demande un bailleur et une année.")
        if self.start and self.end and self.start > self.end:
            raise ValueError("La date de début est postérieure à la date de fin.")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower() or "tous"


def _file_name(request: ExportRequest) -> str:
    parts = [_STEMS[request.model]]
    if request.model == "tfpb":
        parts += [_slug(request.bailleur or ""), str(request.year)]
    else:
        parts.append(request.quartier or "tous-quartiers")
        if request.start or request.end:
            parts.append(f"{request.start or 'debut'}-au-{request.end or 'fin'}")
    return "-".join(parts) + f".{request.fmt}"


def _write(layout: Layout, model: str, fmt: str) -> bytes:
    writers: dict[str, Callable[[], bytes]] = {
        "xlsx": lambda: write_xlsx(layout), "ods": lambda: write_ods(layout),
        "pdf": lambda: render_table_pdf(layout, model),
    }
    return writers[fmt]()


def export_actions(store: LayerStore, request: ExportRequest) -> tuple[bytes, str]:
    """Build the file of ``request``.

    Returns
    -------
    tuple of (bytes, str)
        The file and its French file name (« tableau-de-suivi-QP034005.xlsx »).

    Raises
    ------
    ValueError
        On a bad model, format or filter (French message).
    ConventionError
        When no convention has the table (or the TFPB axes).
    MissingDependencyError
        For a PDF without WeasyPrint.
    """
    request.check()
    if request.model == "tfpb":
        bilan = tfpb_bilan(store, bailleur=str(request.bailleur), year=int(request.year or 0),
                           convention=request.convention)
        layout = bilan_layout(bilan)
    else:
        options = TableOptions(quartier=request.quartier, start=request.start, end=request.end,
                               convention=request.convention, query=request.query, hidden=request.hidden)
        layout = table_layout(plan_table(store, request.model, options=options))
    body = _write(layout, request.model, request.fmt)
    logger.info("exported %s as %s: %d rows", request.model, request.fmt, len(layout.rows))
    return body, _file_name(request)


def copil_pdf(store: LayerStore, quartier: str, *, start: date | None = None, end: date | None = None,
              readable: Collection[str] | None = None, hidden: frozenset[str] = frozenset()
              ) -> tuple[bytes, str]:
    """Build the dossier de COPIL of ``quartier``: its report, plan d'actions and tableau de suivi.

    The report covers ``start``–``end`` (default: the quartier's default period, the last 12
    months of data); when it cannot be built, the dossier's first page says why.
    ``readable``: the layers the reader may see (the report withholds the others).

    Returns
    -------
    tuple of (bytes, str)
        The PDF and its file name.
    """
    from geo.errors import QPVError
    from geo.stats.report import Report, for_reader
    from layers.analyses import quartier_report_from_store
    from layers.dashboard import default_period
    from webmap._report_readers import restricted_readers

    report_start, report_end = start, end
    report: Report | str
    try:
        if report_start is None or report_end is None:
            first, last = default_period(store, quartier)
            report_start, report_end = report_start or first, report_end or last
        report = for_reader(quartier_report_from_store(store, quartier, start=report_start, end=report_end,
                                                       readable=readable),
                            readable, readers=restricted_readers())
    except (QPVError, ValueError) as exc:
        logger.warning("COPIL of %s without report: %s", quartier, exc)
        report = str(exc)
    options = TableOptions(quartier=quartier, start=start, end=end, hidden=hidden)
    plan = table_layout(plan_table(store, "annexe1", options=options))
    suivi = table_layout(plan_table(store, "annexe2", options=options))
    pdf = render_copil_pdf(report, plan, suivi, title=f"Dossier de COPIL — {quartier}")
    period = f"-{start}-au-{end}" if start and end else ""
    return pdf, f"dossier-copil-{quartier}{period}.pdf"
