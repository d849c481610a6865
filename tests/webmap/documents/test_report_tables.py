"""Every table of a report written as CSV (French Excel's dialect) and one XLSX workbook, read back
with pandas equal to the report's tables; on the real-data store of ``tests/webmap/conftest.py``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.stats.indicators import AtLeast
from geo.stats.report import Report, ReportSection, for_reader
from layers.analyses import quartier_report_from_store, territory_report_from_store
from layers.store import open_store
from webmap.documents import write_report
from webmap.documents.report_tables import CSV_OPTIONS, SHEET_NAME_MAX, report_tables, sheet_names

START, END = date(2023, 9, 1), date(2024, 8, 31)


@pytest.fixture(scope="module")
def reports(store_path: Path) -> list[Report]:
    store = open_store(store_path, create=False)
    try:
        return [for_reader(quartier_report_from_store(store, "QP075019", start=START, end=END), None),
                territory_report_from_store(store, start=START, end=END)]
    finally:
        store.close()


def _same(expected: pd.DataFrame, got: pd.DataFrame, where: str) -> None:
    """Compare a table with its read-back copy, value by value (unknown = empty cell)."""
    assert [str(c) for c in expected.columns] == [str(c) for c in got.columns], where
    assert len(expected) == len(got), where
    for column in expected.columns:
        want, have = expected[column].reset_index(drop=True), got[str(column)].reset_index(drop=True)
        if pd.api.types.is_datetime64_any_dtype(want):
            assert (pd.to_datetime(have).to_numpy() == want.dt.tz_localize(None).to_numpy()
                    if isinstance(want.dtype, pd.DatetimeTZDtype) else
                    pd.to_datetime(have).to_numpy() == want.to_numpy()).all(), (where, column)
            continue
        periods = isinstance(want.dtype, pd.PeriodDtype) or any(isinstance(v, pd.Period) for v in want)
        numbers = pd.to_numeric(want, errors="coerce") if not periods else pd.Series(dtype=float)
        if not periods and numbers.notna().sum() == want.notna().sum() and want.notna().any():  # numbers
            np.testing.assert_allclose(pd.to_numeric(have, errors="coerce").to_numpy(dtype=float),
                                       numbers.to_numpy(dtype=float), rtol=1e-12, err_msg=f"{where} {column}")
            continue
        # mixed cells: numbers compared as numbers, a delay never reached as « > days » (AtLeast)
        as_text = [None if not isinstance(v, AtLeast) and pd.isna(v) else
                   f"> {round(v.days, 1)}" if isinstance(v, AtLeast) else v for v in want]
        back = [None if pd.isna(v) else v for v in have]
        for w, h in zip(as_text, back, strict=True):
            wn, hn = pd.to_numeric(pd.Series([w, h], dtype=object), errors="coerce")
            if pd.notna(wn) and pd.notna(hn):
                assert np.isclose(hn, wn, rtol=1e-12, atol=0), (where, column, w, h)
            else:
                assert (None if h is None else str(h)) == (None if w is None else str(w)), (where, column)


def test_every_table_goes_out_as_csv_and_xlsx(reports: list[Report], tmp_path: Path) -> None:
    for i, report in enumerate(reports):
        tables = report_tables(report)
        n_sections = sum(len(s.tables) for s in report.sections if not s.withheld)
        assert len(tables) == len(report.tables) + n_sections >= 1
        paths = write_report(report, tmp_path / str(i), "rapport", pdf=False)
        csvs, workbook = paths[1:-1], paths[-1]
        assert workbook.name == "rapport-tableaux.xlsx" and len(csvs) == len(tables)
        for (df, _), path in zip(tables.values(), csvs, strict=True):
            raw = path.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
            header = raw[3:].split(b"\r\n" if b"\r\n" in raw else b"\n")[0].decode("utf-8")
            assert header.split(";") == [str(c) for c in df.columns]
            _same(df, pd.read_csv(path, **CSV_OPTIONS, keep_default_na=True), f"{path.name}")
        sheets = pd.read_excel(workbook, sheet_name=None)
        assert list(sheets) == sheet_names(list(tables))
        for (caption, (df, _)), sheet in zip(tables.items(), sheets.values(), strict=True):
            _same(df, sheet, f"{caption} (XLSX)")


def test_sheet_names_are_short_unique_and_valid(reports: list[Report]) -> None:
    captions = list(report_tables(reports[0]))
    # messy captions: the real ones, again (duplicates), longer, with the characters Excel forbids
    messy = [*captions, *captions, *(f"{c} [copie]: a/b?*" * 2 for c in captions), "'", ""]
    names = sheet_names(messy)
    assert len(names) == len(messy) and len({n.lower() for n in names}) == len(names)
    assert all(0 < len(n) <= SHEET_NAME_MAX and not set(n) & set("[]:*?/\\") for n in names)
    plain = [i for i, c in enumerate(captions) if not set(c[:SHEET_NAME_MAX]) & set("[]:*?/\\")]
    assert plain and [names[i] for i in plain] == [captions[i][:SHEET_NAME_MAX].rstrip() for i in plain]


def test_a_report_without_tables_writes_no_table_file(tmp_path: Path) -> None:
    empty = Report("Rapport sans tableau", (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-01-31")),
                   sections=[ReportSection("Plan d'actions", notes=["Aucune action."])])
    paths = write_report(empty, tmp_path, "vide", pdf=False)
    assert [p.name for p in paths] == ["vide.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vide.html"]
