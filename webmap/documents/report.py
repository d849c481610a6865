"""Quartier and territory reports rendered to HTML and PDF.

The :class:`~geo.stats.report.Report` built by :mod:`geo.stats.report` holds the numbers,
tables and figures as data; this module formats them the French way, draws the figures
(:mod:`webmap.documents.maps`) and renders the template ``documents/report.html``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.stats.indicators import AtLeast
from geo.stats.report import Report, ReportSection
from webmap.documents._env import environment
from webmap.documents.maps import draw_report_figure, image_uri
from webmap.documents.pdf import html_to_pdf, write_document

logger = logging.getLogger(__name__)

__all__ = ["render_report_html", "render_report_pdf", "write_report"]

#: Rows of a table shown in a report; the others are counted in a note.
MAX_ROWS = 25


#: Shown for a value that could not be computed (never 0 for unknown).
UNKNOWN = "n.d."


#: French month names (« mars 2024 »), independent of the machine's locale.
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")
#: Narrow no-break space: thousands separator and space before « % ».
NNBSP = "\u202f"


def _fmt(value: Any) -> str:
    """French display of a value (« n.d. » when unknown; « > 45,0 » for a delay never reached)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and not np.isfinite(value)):
        return UNKNOWN
    if isinstance(value, AtLeast):
        return f"> {_fmt(value.days)}"
    if isinstance(value, bool | np.bool_):
        return "oui" if value else "non"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}".replace(",", NNBSP)
    if isinstance(value, float | np.floating):
        number = float(value)
        if 0 < abs(number) < 1:
            return f"{number:.3g}".replace(".", ",")
        return f"{number:,.1f}".replace(",", NNBSP).replace(".", ",")
    if isinstance(value, pd.Period):
        return _period(value)
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _period(value: pd.Period) -> str:
    """« mars 2024 » for a month, « 2024 » for a year, the first day otherwise."""
    freq = value.freqstr.upper()
    if freq.startswith("M"):
        return f"{MONTHS[value.month - 1]} {value.year}"
    if freq.startswith(("Y", "A")):
        return str(value.year)
    return value.start_time.strftime("%d/%m/%Y")


def _percent(value: float) -> str:
    """« 66,7 % » (share in 0–1)."""
    return f"{100 * value:.1f}".replace(".", ",") + NNBSP + "%"


def _is_share(label: str) -> bool:
    """Tell whether ``label`` is a share (0–1) shown as a percentage: « Part … », « Taux … »."""
    return label.startswith(("Part", "Taux"))


def _key_figure(label: str, value: Any) -> dict[str, str]:
    """Return a key figure; the shares (« Part … ») as percentages."""
    shown = _fmt(value)
    if _is_share(label) and isinstance(value, float | np.floating) and np.isfinite(value):
        shown = _percent(float(value))
    return {"label": label, "value": shown}


#: Columns whose integers are labels (a year), printed without a thousands separator.
LABEL_COLUMNS = frozenset({"Année", "Annee", "Code", "Code INSEE"})


def _cell(column: str, value: Any) -> str:
    """French display of one table cell (years as « 2023 », not « 2 023 »; shares as percentages)."""
    if column in LABEL_COLUMNS and isinstance(value, int | np.integer | float | np.floating) \
            and np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if _is_share(column) and isinstance(value, float | np.floating) and np.isfinite(value):
        return _percent(float(value))
    return _fmt(value)


def _section(section: ReportSection) -> dict[str, Any]:
    """Return a further section (the plan d'actions): its figures, notes and tables, formatted."""
    figures = [{**_key_figure(label, value), "detail": detail} for label, value, detail in section.figures]
    return {"title": section.title, "figures": figures, "notes": section.notes,
            "tables": [_table(caption, df) for caption, df in section.tables.items()]}


def _table(caption: str, df: pd.DataFrame) -> dict[str, Any]:
    """Return a DataFrame as header, French-formatted rows and the count of rows not shown."""
    columns = [str(c) for c in df.columns]
    rows = [[_cell(c, v) for c, v in zip(columns, r, strict=True)]
            for r in df.head(MAX_ROWS).itertuples(index=False, name=None)]
    return {"caption": caption, "columns": columns, "rows": rows,
            "hidden": len(df) - MAX_ROWS if len(df) > MAX_ROWS else 0}


def render_report_html(report: Report) -> str:
    """Render a report as a self-contained HTML page (French, figures embedded).

    Parameters
    ----------
    report : Report
        A quartier or territory report.

    Returns
    -------
    str
        HTML document.

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    """
    figures = [{"title": fig.title, "uri": image_uri(draw_report_figure(fig))} for fig in report.figures]
    return environment().get_template("report.html").render(
        title=report.title, start=_fmt(report.period[0]), end=_fmt(report.period[1]),
        today=datetime.now().strftime("%d/%m/%Y"), simulated=report.simulated,
        key_figures=[_key_figure(label, value) for label, value in report.key_figures.items()],
        figures=figures, notes=report.notes,
        tables=[_table(caption, df) for caption, df in report.tables.items()],
        method=[(key, _fmt(value)) for key, value in report.method.items()], caveats=report.caveats,
        sections=[_section(section) for section in report.sections],
    )


def render_report_pdf(report: Report) -> bytes:
    """Render a report as PDF (WeasyPrint).

    Raises
    ------
    MissingDependencyError
        When Matplotlib or WeasyPrint is not installed.
    """
    return html_to_pdf(render_report_html(report))


def write_report(report: Report, folder: str | Path, stem: str, *, pdf: bool = True) -> list[Path]:
    """Write ``<stem>.html`` and, with ``pdf``, ``<stem>.pdf`` of a report into ``folder``.

    Parameters
    ----------
    report : Report
        The report.
    folder : str or Path
        Destination, created when missing.
    stem : str
        File name without extension.
    pdf : bool, default True
        Also write the PDF (from the same HTML).

    Returns
    -------
    list of Path
        The HTML file, then the PDF.

    Raises
    ------
    MissingDependencyError
        When Matplotlib, or WeasyPrint for the PDF, is not installed.
    """
    paths = write_document(render_report_html(report), folder, stem, pdf=pdf)
    logger.info("report %r written to %s", report.title, folder)
    return paths
