"""Quartier and territory reports rendered to HTML and PDF.

The :class:`~geo.stats.report.Report` built by :mod:`geo.stats.report` holds the numbers,
tables and figures as data; this module formats them the French way, draws the figures
(:mod:`webmap.documents.maps`) and renders the template ``documents/report.html``.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo.french import NNBSP, grouped
from geo.stats.indicators import AtLeast
from geo.stats.report import (
    RESTRICTED_MARK,
    QuartierPanels,
    Report,
    ReportFigure,
    ReportSection,
    restricted_layers,
)
from geo.stats.report.confidential import LAYER_NAMES
from webmap.documents._env import environment
from webmap.documents._interactive import ASSETS_DIR, assets_available, copy_assets, interactive_data
from webmap.documents._report_maps import PANELS_PER_IMAGE
from webmap.documents.maps import draw_report_figure_formats, image_uri
from webmap.documents.pdf import html_to_pdf, write_document
from webmap.documents.report_tables import write_report_tables

logger = logging.getLogger(__name__)

__all__ = ["render_report_html", "render_report_pdf", "write_report"]

#: Rows of a table shown in a report; the others are counted in a note.
MAX_ROWS = 25


#: Shown for a value that could not be computed (never 0 for unknown).
UNKNOWN = "n.d."


#: French month names (« mars 2024 »), independent of the machine's locale.
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
          "octobre", "novembre", "décembre")


def _fmt(value: Any) -> str:
    """French display of a value (« n.d. » when unknown; « > 45,0 » for a delay never reached)."""
    if value is None or value is pd.NaT or (isinstance(value, float) and not np.isfinite(value)):
        return UNKNOWN
    if isinstance(value, AtLeast):
        return f"> {_fmt(value.days)}"
    if isinstance(value, bool | np.bool_):
        return "oui" if value else "non"
    if isinstance(value, int | np.integer):
        return grouped(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if 0 < abs(number) < 1:
            return f"{number:.3g}".replace(".", ",")
        return grouped(number, 1)
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
    """Return a further section (the plan d'actions): its figures, notes and tables, formatted.

    A restricted section kept in this version carries its mark (« Diffusion restreinte », and
    the roles that may read it); a withheld one is only its notice (``withheld``).
    """
    figures = [{**_key_figure(label, value), "detail": detail} for label, value, detail in section.figures]
    mark = None
    if section.restricted and not section.withheld:
        mark = RESTRICTED_MARK + (f" : réservée aux rôles {_roles(section.readers)}" if section.readers
                                  else f" : couche {LAYER_NAMES.get(section.restricted, section.restricted)} "
                                       "confidentielle")
    return {"title": section.title, "figures": figures, "notes": section.notes, "mark": mark,
            "withheld": section.withheld,
            "tables": [_table(caption, df) for caption, df in section.tables.items()]}


def _roles(readers: tuple[str, ...]) -> str:
    return readers[0] if len(readers) == 1 else f"{', '.join(readers[:-1])} et {readers[-1]}"


def _restricted_banner(report: Report) -> str | None:
    """Say, at the top of a version holding confidential sections, which ones (None otherwise)."""
    layers = restricted_layers(report)
    if not layers:
        return None
    names = ", ".join(LAYER_NAMES.get(layer, layer) for layer in layers)
    return (f"{RESTRICTED_MARK} : ce document contient des données confidentielles (section {names}). "
            "Ne pas le diffuser au-delà des rôles habilités.")


def _table(caption: str, df: pd.DataFrame) -> dict[str, Any]:
    """Return a DataFrame as header, French-formatted rows and the count of rows not shown."""
    columns = [str(c) for c in df.columns]
    rows = [[_cell(c, v) for c, v in zip(columns, r, strict=True)]
            for r in df.head(MAX_ROWS).itertuples(index=False, name=None)]
    return {"caption": caption, "columns": columns, "rows": rows,
            "hidden": len(df) - MAX_ROWS if len(df) > MAX_ROWS else 0}


def _figure(figure: ReportFigure) -> dict[str, Any]:
    """Return a figure's title, images and « Comment lire » caption.

    Each image in PNG (the HTML page) and in SVG with its text kept as text (the PDF:
    vector maps whose legend words are searchable); the small multiples are cut into
    pages.
    """
    parts: list[ReportFigure] = [figure]
    if isinstance(figure, QuartierPanels) and len(figure.panels) > PANELS_PER_IMAGE:
        panels = figure.panels
        parts = [dataclasses.replace(figure, panels=panels[i:i + PANELS_PER_IMAGE])
                 for i in range(0, len(panels), PANELS_PER_IMAGE)]
    images, vectors, caption = [], [], ""
    for part in parts:
        png, svg, caption = draw_report_figure_formats(part)
        images.append(image_uri(png))
        vectors.append(image_uri(svg, "svg"))
    return {"title": figure.title, "name": figure.name, "images": images, "vectors": vectors,
            "caption": caption, "interactive": interactive_data(figure)}


def render_report_html(report: Report, *, assets: str | None = None, vector: bool = False) -> str:
    """Render a report as an HTML page (French, figures embedded as PNG).

    Parameters
    ----------
    report : Report
        A quartier or territory report.
    assets : str, optional
        Relative folder holding Leaflet and ``rapport-carte.js`` (:func:`write_report`
        copies them next to the page): the maps then become interactive (zoom, popups on
        the cells), the PNG staying as the printed version. None: a page without script,
        as the PDF needs.
    vector : bool, default False
        Maps as SVG with their text kept as text (for the PDF) instead of PNG.

    Returns
    -------
    str
        HTML document.

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    """
    return _render(_page(report), assets=assets, vector=vector)


def _page(report: Report) -> dict[str, Any]:
    """Return what the template shows of a report (the figures drawn once, for the HTML and the PDF)."""
    return dict(
        title=report.title, start=_fmt(report.period[0]), end=_fmt(report.period[1]),
        today=datetime.now().strftime("%d/%m/%Y"), simulated=report.simulated,
        key_figures=[_key_figure(label, value) for label, value in report.key_figures.items()],
        figures=[_figure(fig) for fig in report.figures], notes=report.notes,
        tables=[_table(caption, df) for caption, df in report.tables.items()],
        method=[(key, _fmt(value)) for key, value in report.method.items()], caveats=report.caveats,
        sections=[_section(section) for section in report.sections],
        restricted=_restricted_banner(report), restricted_mark=RESTRICTED_MARK,
    )


def _render(page: dict[str, Any], *, assets: str | None, vector: bool = False) -> str:
    """Render the report template (interactive maps with ``assets``, SVG maps with ``vector``)."""
    return environment().get_template("report.html").render(**page, assets=assets, vector=vector)


def render_report_pdf(report: Report) -> bytes:
    """Render a report as PDF (WeasyPrint).

    Raises
    ------
    MissingDependencyError
        When Matplotlib or WeasyPrint is not installed.
    """
    return html_to_pdf(render_report_html(report, vector=True))


def write_report(report: Report, folder: str | Path, stem: str, *, pdf: bool = True) -> list[Path]:
    """Write ``<stem>.html``, with ``pdf`` ``<stem>.pdf``, and the report's tables into ``folder``.

    The tables go out as one CSV each and one XLSX workbook
    (:func:`webmap.documents.report_tables.write_report_tables`). ``report`` is the version
    for its reader (:func:`geo.stats.report.for_reader`): what it withholds is in no file.

    The HTML has interactive maps (Leaflet, zoom and popups on the cells) whose scripts
    are copied into ``folder/rapport-cartes`` (relative paths: the page works offline
    from its folder; opened alone, it shows the static maps). The PDF keeps the PNG maps.

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
        The HTML file, then the PDF, then the CSV files and the XLSX workbook.

    Raises
    ------
    MissingDependencyError
        When Matplotlib, or WeasyPrint for the PDF, is not installed.
    """
    page = _page(report)
    paths = write_document(_render(page, assets=None), folder, stem, pdf=False)
    if pdf:
        paths.append(paths[0].with_suffix(".pdf"))
        paths[1].write_bytes(html_to_pdf(_render(page, assets=None, vector=True)))
    interactive = any(fig["interactive"] for fig in page["figures"])
    if interactive and assets_available():  # the HTML gets its interactive maps, Leaflet copied next to it
        copy_assets(Path(folder))
        paths[0].write_text(_render(page, assets=ASSETS_DIR), encoding="utf-8")
    elif interactive:
        logger.warning("Leaflet absent from webmap/static/vendor (npm run build): static maps in %s",
                       paths[0])
    paths += write_report_tables(report, folder, stem)
    logger.info("report %r written to %s", report.title, folder)
    return paths
