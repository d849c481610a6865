"""The plan d'actions, the tableau de suivi, the TFPB bilan and the dossier de COPIL as PDF.

The tables come in as :class:`~webmap.documents.spreadsheets.Layout` (the rows the
spreadsheets hold) and go out through the templates ``plan_actions.html``,
``tableau_suivi.html`` and ``tfpb_bilan.html`` (A4 landscape). The dossier de COPIL of a
quartier is its report (:func:`webmap.documents.report.render_report_html`, A4 portrait),
then the plan d'actions and the tableau de suivi, in one PDF: each part is laid out by
WeasyPrint with its own page size and the pages are put together.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from typing import Any

from geo.stats.report import Report
from webmap.documents import _deps
from webmap.documents._env import environment
from webmap.documents.report import render_report_html
from webmap.documents.spreadsheets import Layout
from webmap.errors import DocumentError

logger = logging.getLogger(__name__)

__all__ = ["TEMPLATES", "render_copil_pdf", "render_table_html", "render_table_pdf"]

#: Template of each model.
TEMPLATES = {"annexe1": "plan_actions.html", "annexe2": "tableau_suivi.html", "tfpb": "tfpb_bilan.html"}


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float):
        return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
    return str(value)


def _header(layout: Layout) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the two heading rows: group cells (or a heading spanning both rows), grouped headings."""
    cells: list[dict[str, Any]] = []
    grouped: list[str] = []
    for heading, group in zip(layout.headings, layout.groups, strict=True):
        if group is None:
            cells.append({"label": None, "heading": heading})
            continue
        grouped.append(heading)
        if cells and cells[-1]["label"] == group:
            cells[-1]["span"] += 1
        else:
            cells.append({"label": group, "span": 1})
    return (cells if grouped else []), grouped


def render_table_html(layout: Layout, model: str) -> str:
    """Render a table (``annexe1``, ``annexe2`` or ``tfpb``) as a standalone HTML page."""
    groups, grouped = _header(layout)
    items: list[dict[str, Any]] = []
    current: str | None = None
    for section, row in zip(layout.sections, layout.rows, strict=True):
        if section is not None and section != current:
            items.append({"section": section})
        current = section
        items.append({"cells": [_shown(v) for v in row]})
    return environment().get_template(TEMPLATES[model]).render(
        title=layout.title, subtitle=layout.subtitle, headings=layout.headings, groups=groups,
        grouped_headings=grouped, rows=items,
        widths=[round(100 * w / sum(layout.widths), 1) for w in layout.widths],
    )


def render_table_pdf(layout: Layout, model: str) -> bytes:
    """Render a table as PDF (A4 landscape).

    Raises
    ------
    MissingDependencyError
        When WeasyPrint is not installed.
    """
    return _pdf([render_table_html(layout, model)])


def _pdf(htmls: Sequence[str]) -> bytes:
    """Lay out each HTML document and write their pages, in order, as one PDF."""
    html_class = _deps.weasyprint_html()
    documents = [html_class(string=html).render() for html in htmls]
    pages = [page for doc in documents for page in doc.pages]
    pdf = documents[0].copy(pages).write_pdf()
    if not pdf:
        raise DocumentError("WeasyPrint n'a produit aucun PDF.")
    return bytes(pdf)


def render_copil_pdf(report: Report | str, plan: Layout, suivi: Layout, *, title: str = "Dossier de COPIL"
                     ) -> bytes:
    """Render the dossier de COPIL: the quartier report, the plan d'actions, the tableau de suivi.

    Parameters
    ----------
    report : Report or str
        The quartier report of the period, or why it could not be built (French; the
        dossier then says so on its first page).
    plan, suivi : Layout
        Annexe 1 and Annexe 2 of the quartier and period.

    Raises
    ------
    MissingDependencyError
        When Matplotlib or WeasyPrint is not installed.
    """
    if isinstance(report, str):
        parts = [environment().get_template("copil_sans_rapport.html").render(title=title, reason=report)]
    else:
        parts = [render_report_html(report, vector=True)]
    parts += [render_table_html(plan, "annexe1"), render_table_html(suivi, "annexe2")]
    logger.info("dossier de COPIL: %d + %d action rows", len(plan.rows), len(suivi.rows))
    return _pdf(parts)
