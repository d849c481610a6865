"""Every printable document of the platform, rendered in one place.

Quartier and territory reports (:class:`geo.stats.report.Report`), the walk sheet of a
planned diagnostic walk (:class:`geo.walks.model.WalkSheet`) and the compte-rendu of a
realised one (:class:`geo.walks.model.WalkRecord`) come in as data and go out as HTML
(one Jinja2 environment over ``webmap/templates/documents``) and PDF (one
:func:`html_to_pdf`). Matplotlib and WeasyPrint are optional (extra ``reports``), imported
through one gate (:mod:`webmap.documents._deps`); the maps and charts are all drawn in
:mod:`webmap.documents.maps`.
"""

from __future__ import annotations

from webmap.documents.maps import render_walk_map
from webmap.documents.pdf import html_to_pdf, write_document
from webmap.documents.report import render_report_html, render_report_pdf, write_report
from webmap.documents.walksheet import (
    ACTION_PLAN_COLUMNS,
    render_walk_report_html,
    render_walk_report_pdf,
    render_walk_sheet_html,
    render_walk_sheet_pdf,
    write_walk_sheet,
)

__all__ = [
    "ACTION_PLAN_COLUMNS",
    "html_to_pdf",
    "render_report_html",
    "render_report_pdf",
    "render_walk_map",
    "render_walk_report_html",
    "render_walk_report_pdf",
    "render_walk_sheet_html",
    "render_walk_sheet_pdf",
    "write_document",
    "write_report",
    "write_walk_sheet",
]
