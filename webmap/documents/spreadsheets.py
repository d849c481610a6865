"""The comité de pilotage's tables as spreadsheets (XLSX with openpyxl, ODS with odfpy).

Annexe 1 / Annexe 2 (:class:`layers.action_tables.ActionTable`) and the TFPB bilan
(:class:`layers.action_tables.TfpbBilan`) are laid out the same way in both formats:

- row 1: the table's title and the convention; row 2: quartier, period, date of production
  (and « données simulées » when a row is);
- row 3: the merged group headings (« Réponses » over its three columns);
- row 4: the column headings, in the convention's order, then « Référence » and « Simulé »;
- then one row per action, and in Annexe 1 a section row (« 1 - Gestion technique et
  environnement ») before the actions of each axe, as the annexe prints it.

Panes are frozen under the headings; headings are bold on a grey background; long texts
wrap. :mod:`layers.action_import` reads these files back (the heading row is found by its
« Référence » cell, section and empty rows are skipped).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from copy import copy
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd

from layers.action_tables import ActionTable, Binding, TfpbBilan

logger = logging.getLogger(__name__)

__all__ = ["Layout", "bilan_layout", "table_layout", "write_ods", "write_xlsx"]

#: Row (1-based) of the column headings.
HEADING_ROW = 4
#: Width (characters) of the wide and narrow columns of the TFPB bilan.
_WIDE, _NARROW = 42, 14
_DATE_FORMAT = "DD/MM/YYYY"


@dataclass(frozen=True)
class Layout:
    """A table as rows to write, the same for XLSX, ODS (and what the PDF shows)."""

    title: str
    subtitle: str
    groups: tuple[str | None, ...]
    headings: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    sections: tuple[str | None, ...]
    widths: tuple[int, ...]
    sheet: str


def table_layout(table: ActionTable) -> Layout:
    """Layout of an Annexe 1 / Annexe 2 table."""
    subtitle = table.subtitle() + (" — contient des données simulées" if table.simulated else "")
    widths = (*(_width(b) for b in table.bindings), 20, 11)
    rows = tuple(tuple(None if _missing(v) else v for v in row)
                 for row in table.frame.itertuples(index=False, name=None))
    return Layout(title=f"{table.table.titre} — {table.convention.titre}", subtitle=subtitle,
                  groups=table.groups, headings=table.headings, rows=rows, sections=table.sections,
                  widths=widths, sheet=table.table.code)


#: Column widths (characters) by kind of column, then by field; long texts wrap.
_KIND_WIDTHS = {"constats": 36, "orientation": 30, "objectif": 30, "axe": 22, "lieu": 24, "response": 17,
                "date": 11}
_SHORT_FIELDS = frozenset({"origine", "pilote", "partenaires", "conflit"})
#: « État d'avancement »: its heading's longest word needs more than a short column.
_STATE_WIDTH = 21


def _width(binding: Binding) -> int:
    if binding.kind in _KIND_WIDTHS:
        return _KIND_WIDTHS[binding.kind]
    if binding.field == "etat":
        return _STATE_WIDTH
    return 15 if binding.field in _SHORT_FIELDS else 24


def bilan_layout(bilan: TfpbBilan) -> Layout:
    """Layout of a TFPB bilan."""
    headings = tuple(str(c) for c in bilan.frame.columns)
    rows = tuple(tuple(row) for row in bilan.frame.itertuples(index=False, name=None))
    widths = tuple(_WIDE if h in ("Axe", "Sous-action") else _NARROW for h in headings)
    subtitle = bilan.subtitle() + (" — contient des données simulées" if bilan.simulated else "")
    return Layout(title=f"Programme d'actions TFPB — bilan — {bilan.convention.titre}", subtitle=subtitle,
                  groups=(None,) * len(headings), headings=headings, rows=rows,
                  sections=(None,) * len(rows), widths=widths, sheet="bilan_tfpb")


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str | date | Sequence) and bool(pd.isna(value)))


def _group_spans(groups: Sequence[str | None]) -> list[tuple[str, int, int]]:
    """``(label, first, last)`` 0-based column spans of the consecutive equal group labels."""
    spans: list[tuple[str, int, int]] = []
    for i, group in enumerate(groups):
        if group is None:
            continue
        if spans and spans[-1][0] == group and spans[-1][2] == i - 1:
            spans[-1] = (group, spans[-1][1], i)
        else:
            spans.append((group, i, i))
    return spans


def _with_sections(layout: Layout) -> list[tuple[str | None, tuple[Any, ...] | None]]:
    """Return the body as (section label, None) and (None, row) items, a section before its rows."""
    items: list[tuple[str | None, tuple[Any, ...] | None]] = []
    current: str | None = None
    for section, row in zip(layout.sections, layout.rows, strict=True):
        if section is not None and section != current:
            items.append((section, None))
        current = section
        items.append((None, row))
    return items


# -- XLSX --------------------------------------------------------------------------------


def write_xlsx(layout: Layout) -> bytes:
    """Write ``layout`` as an XLSX workbook (openpyxl, write-only: rows streamed) and return its bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(layout.sheet[:31])
    ncols = len(layout.headings)
    for j, width in enumerate(layout.widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = width
    ws.freeze_panes = f"A{HEADING_ROW + 1}"
    ws.print_options.gridLines = True
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = "9"  # A4

    def styled(value: Any, **style: Any) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value)
        for name, item in style.items():
            setattr(cell, name, item)
        return cell

    bold, fill = Font(bold=True), PatternFill("solid", fgColor="DDDDDD")
    centre = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.append([styled(layout.title, font=Font(bold=True, size=13))])
    ws.append([styled(layout.subtitle, font=Font(italic=True))])
    groups: list[Any] = [None] * ncols
    for label, first, last in _group_spans(layout.groups):
        groups[first] = styled(label, font=bold, fill=fill, alignment=centre)
        if last > first:
            ws.merged_cells.add(f"{get_column_letter(first + 1)}{HEADING_ROW - 1}:"
                                f"{get_column_letter(last + 1)}{HEADING_ROW - 1}")
    ws.append(groups)
    ws.append([styled(h, font=bold, fill=fill, alignment=centre) for h in layout.headings])
    wrap = Alignment(vertical="top", wrap_text=True)
    text_style = styled("", alignment=wrap)._style
    day_style = styled("", alignment=wrap, number_format=_DATE_FORMAT)._style
    section_font, section_fill = Font(bold=True), PatternFill("solid", fgColor="EEF2F7")
    rows = 0
    for section, row in _with_sections(layout):
        rows += 1
        if row is None:
            ws.append([styled(section, font=section_font, fill=section_fill)])
            continue
        cells: list[Any] = []
        for value, width in zip(row, layout.widths, strict=True):
            if isinstance(value, date):
                style = day_style
            elif isinstance(value, str) and (len(value) > width or "\n" in value):
                style = text_style  # only the texts that wrap need the style (a plain value is faster)
            else:
                cells.append(value)
                continue
            cell = WriteOnlyCell(ws, value=value)
            # a copy of the style of a template cell: setting the alignment on each of
            # 100,000 cells would look it up in the workbook's style table every time
            cell._style = copy(style)
            cells.append(cell)
        ws.append(cells)
    if rows:
        ws.auto_filter.ref = f"A{HEADING_ROW}:{get_column_letter(ncols)}{HEADING_ROW + rows}"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# -- ODS ---------------------------------------------------------------------------------


def _ods_styles(doc: Any, widths: Sequence[int]) -> dict[str, Any]:
    from odf.style import (
        ParagraphProperties,
        Style,
        TableCellProperties,
        TableColumnProperties,
        TextProperties,
    )

    def cell_style(name: str, *, bold: bool = False, background: str | None = None,
                   wrap: bool = True) -> Any:
        style = Style(name=name, family="table-cell")
        props: dict[str, Any] = {"wrapoption": "wrap" if wrap else "no-wrap", "verticalalign": "top"}
        if background:
            props["backgroundcolor"] = background
        style.addElement(TableCellProperties(**props))
        if bold:
            style.addElement(TextProperties(fontweight="bold"))
            style.addElement(ParagraphProperties(textalign="center"))
        doc.automaticstyles.addElement(style)
        return style

    styles: dict[str, Any] = {
        "title": cell_style("titre", bold=True, wrap=False),
        "head": cell_style("entete", bold=True, background="#dddddd"),
        "section": cell_style("section", bold=True, background="#eef2f7", wrap=False),
        "body": cell_style("corps"),
        "columns": [],
    }
    for i, width in enumerate(widths):
        col = Style(name=f"col{i}", family="table-column")
        col.addElement(TableColumnProperties(columnwidth=f"{width * 0.2:.1f}cm"))
        doc.automaticstyles.addElement(col)
        styles["columns"].append(col)
    return styles


def _ods_cell(value: Any, style: Any, **attrs: Any) -> Any:
    from odf.table import TableCell
    from odf.text import P

    if value is None or value == "":
        return TableCell(stylename=style, **attrs)
    if isinstance(value, bool):
        cell = TableCell(valuetype="string", stylename=style, **attrs)
        value = "oui" if value else "non"
    elif isinstance(value, date):
        cell = TableCell(valuetype="date", datevalue=value.isoformat(), stylename=style, **attrs)
        value = value.strftime("%d/%m/%Y")
    elif isinstance(value, int | float):
        cell = TableCell(valuetype="float", value=value, stylename=style, **attrs)
        value = str(value).replace(".", ",")
    else:
        cell = TableCell(valuetype="string", stylename=style, **attrs)
    for line in str(value).split("\n"):
        cell.addElement(P(text=line))
    return cell


def _ods_freeze(doc: Any, sheet: str, rows: int) -> None:
    """Freeze the first ``rows`` rows of ``sheet`` (LibreOffice view settings)."""
    from odf.config import (
        ConfigItem,
        ConfigItemMapEntry,
        ConfigItemMapIndexed,
        ConfigItemMapNamed,
        ConfigItemSet,
    )

    def item(name: str, kind: str, value: Any) -> Any:
        element = ConfigItem(name=name, type=kind)
        element.addText(str(value))
        return element

    table = ConfigItemMapEntry(name=sheet)
    for name, kind, value in (("HorizontalSplitMode", "short", 0), ("VerticalSplitMode", "short", 2),
                              ("VerticalSplitPosition", "int", rows), ("ActiveSplitRange", "short", 2),
                              ("PositionTop", "int", 0), ("PositionBottom", "int", rows)):
        table.addElement(item(name, kind, value))
    tables = ConfigItemMapNamed(name="Tables")
    tables.addElement(table)
    view = ConfigItemMapEntry()
    view.addElement(item("ViewId", "string", "view1"))
    view.addElement(tables)
    views = ConfigItemMapIndexed(name="Views")
    views.addElement(view)
    settings = ConfigItemSet(name="ooo:view-settings")
    settings.addElement(views)
    doc.settings.addElement(settings)


def write_ods(layout: Layout) -> bytes:
    """Write ``layout`` as an OpenDocument spreadsheet (odfpy) and return its bytes."""
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import CoveredTableCell, Table, TableColumn, TableRow

    doc = OpenDocumentSpreadsheet()
    styles = _ods_styles(doc, layout.widths)
    table = Table(name=layout.sheet[:31])
    for col in styles["columns"]:
        table.addElement(TableColumn(stylename=col))
    ncols = len(layout.headings)
    for text in (layout.title, layout.subtitle):
        tr = TableRow()
        tr.addElement(_ods_cell(text, styles["title"]))
        table.addElement(tr)
    groups = TableRow()
    spans = {first: (label, last) for label, first, last in _group_spans(layout.groups)}
    j = 0
    while j < ncols:
        if j in spans:
            label, last = spans[j]
            groups.addElement(_ods_cell(label, styles["head"], numbercolumnsspanned=last - j + 1))
            for _ in range(last - j):
                groups.addElement(CoveredTableCell())
            j = last + 1
        else:
            groups.addElement(_ods_cell(None, styles["body"]))
            j += 1
    table.addElement(groups)
    heads = TableRow()
    for heading in layout.headings:
        heads.addElement(_ods_cell(heading, styles["head"]))
    table.addElement(heads)
    for section, row in _with_sections(layout):
        tr = TableRow()
        if row is None:
            tr.addElement(_ods_cell(section, styles["section"]))
        else:
            for value in row:
                tr.addElement(_ods_cell(value, styles["body"]))
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    _ods_freeze(doc, layout.sheet[:31], HEADING_ROW)
    buf = io.BytesIO()
    doc.write(buf)
    return buf.getvalue()
