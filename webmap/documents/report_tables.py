"""The tables of a report written out: one CSV per table and one XLSX workbook.

Every table of a report (:attr:`Report.tables` and the tables of its sections) is written
next to its HTML and PDF, so that an analyst can take the figures into a spreadsheet:

* ``<stem>-<table>.csv``: UTF-8 **with BOM**, ``;`` as the separator and ``,`` as the
  decimal mark: what French Excel opens right with a double click (the BOM makes it read
  UTF-8, the semicolon is the list separator of the French locale); LibreOffice reads it too.
  Values are written raw (shares as fractions, dates ISO), an unknown value as an empty cell.
* ``<stem>-tableaux.xlsx``: one sheet per table, named after its caption (≤ 31 characters,
  unique, without the characters Excel forbids).

The report given is the version made for its reader (:func:`geo.stats.report.for_reader`):
the tables of a section withheld from that reader are not in it, and the files of a
restricted section's tables say « diffusion-restreinte » in their name.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from pathlib import Path
from typing import Any

import pandas as pd

from geo.stats.indicators import AtLeast
from geo.stats.report import Report

logger = logging.getLogger(__name__)

__all__ = ["CSV_OPTIONS", "SHEET_NAME_MAX", "report_tables", "sheet_names", "write_report_tables"]

#: How the CSV files are written (and read back): French Excel's dialect.
CSV_OPTIONS = {"sep": ";", "decimal": ",", "encoding": "utf-8-sig"}
#: Longest sheet name Excel accepts.
SHEET_NAME_MAX = 31
_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def report_tables(report: Report) -> dict[str, tuple[pd.DataFrame, bool]]:
    """Return every table of ``report``: caption → (table, drawn from a restricted section).

    The report's own tables come first, then those of each section in order; a section's
    caption already used is prefixed by the section's title. Withheld sections hold none.
    """
    out: dict[str, tuple[pd.DataFrame, bool]] = {c: (df, False) for c, df in report.tables.items()}
    for section in report.sections:
        if section.withheld:
            continue
        for caption, df in section.tables.items():
            key = caption if caption not in out else f"{section.title} — {caption}"
            out[key] = (df, section.restricted is not None)
    return out


def _slug(text: str, limit: int = 60) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "tableau"


def sheet_names(captions: list[str]) -> list[str]:
    """Return one valid, unique XLSX sheet name per caption (≤ 31 characters, in order)."""
    names: list[str] = []
    used: set[str] = set()
    for caption in captions:
        base = _FORBIDDEN.sub(" ", caption).strip().strip("'") or "Tableau"
        name = base[:SHEET_NAME_MAX].rstrip()
        n = 2
        while name.lower() in used:
            suffix = f" ({n})"
            name = base[:SHEET_NAME_MAX - len(suffix)].rstrip() + suffix
            n += 1
        used.add(name.lower())
        names.append(name)
    return names


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """Return a copy a spreadsheet takes: text column names, naive datetimes, periods as text."""
    out = df.copy()
    out.columns = [str(c) for c in out.columns]
    for i in range(out.shape[1]):  # by position: two columns may share a heading
        series = out.iloc[:, i]
        if isinstance(series.dtype, pd.DatetimeTZDtype):
            out.isetitem(i, series.dt.tz_localize(None).to_numpy())
        elif isinstance(series.dtype, pd.PeriodDtype):
            out.isetitem(i, series.astype(str).to_numpy())
        elif series.dtype == object:  # mixed cells: a delay never reached is « > 45,0 » (AtLeast)
            out.isetitem(i, series.map(_cell).to_numpy())
    return out


def _cell(value: Any) -> Any:
    """Return a mixed column's cell as a spreadsheet takes it: « > days » for AtLeast."""
    if isinstance(value, AtLeast):
        return f"> {round(value.days, 1)}"
    return value


def write_report_tables(report: Report, folder: str | Path, stem: str) -> list[Path]:
    """Write the tables of ``report`` as CSV files and one XLSX workbook into ``folder``.

    Parameters
    ----------
    report : Report
        The version of the report for its reader.
    folder : str or Path
        Destination (created when missing).
    stem : str
        Stem of the report's files.

    Returns
    -------
    list of Path
        The CSV files in the order of the tables, then the workbook; empty when the report
        has no table.
    """
    tables = report_tables(report)
    if not tables:
        return []
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    used: set[str] = set()
    for caption, (df, restricted) in tables.items():
        name = f"{stem}-{_slug(caption)}" + ("-diffusion-restreinte" if restricted else "")
        unique, n = name, 2
        while unique in used:
            unique, n = f"{name}-{n}", n + 1
        used.add(unique)
        path = out / f"{unique}.csv"
        _plain(df).to_csv(path, index=False, sep=CSV_OPTIONS["sep"], decimal=CSV_OPTIONS["decimal"],
                          encoding=CSV_OPTIONS["encoding"])
        paths.append(path)
    workbook = out / f"{stem}-tableaux.xlsx"
    _write_xlsx(tables, workbook)
    paths.append(workbook)
    logger.info("%d tables of report %r written to %s", len(tables), report.title, out)
    return paths


def _write_xlsx(tables: dict[str, tuple[pd.DataFrame, bool]], path: Path) -> None:
    """Write one sheet per table (restricted ones marked in the workbook's properties)."""
    captions = list(tables)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for caption, sheet in zip(captions, sheet_names(captions), strict=True):
            _plain(tables[caption][0]).to_excel(writer, sheet_name=sheet, index=False)
        restricted = [c for c in captions if tables[c][1]]
        props = writer.book.properties
        props.title = "Tableaux du rapport"
        if restricted:
            props.keywords = "Diffusion restreinte"
            props.description = "Diffusion restreinte : " + " ; ".join(restricted)
