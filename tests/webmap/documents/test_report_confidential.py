"""Confidential sections of a report: camera figures only in the versions for the readers of
``videoprotection``, marked « Diffusion restreinte » there; a notice naming the roles elsewhere.

Built on the store of real data (Paris QPV, Dans Ma Rue, the Paris cameras) of
``tests/webmap/conftest.py``; the PDFs are read back with pdftotext, page by page.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import shapely

from geo.stats.report import CCTV_LAYER, RESTRICTED_MARK, Report, for_reader, restricted_layers
from layers.analyses import quartier_report_from_store
from layers.schema import LAYERS
from layers.store import open_store
from webmap.documents import write_report
from webmap.documents.action_files import copil_pdf

CODE = "QP075019"
START, END = date(2023, 9, 1), date(2024, 8, 31)
ROLES = {"videoprotection": ["technicien", "administrateur"]}
#: what a lecteur reads by default: every layer but the confidential one
READER = [name for name in LAYERS if not LAYERS[name].confidential]
#: words that betray a camera figure
CAMERA_WORDS = ("caméra", "Caméra", "Portée des", "vus par", "point chaud vue", "non couverts par")


def _pages(pdf: Path) -> list[str]:
    """Text of each page of a PDF (pdftotext), whitespace collapsed."""
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed")
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return [" ".join(page.split()) for page in text.split("\f") if page.strip()]


@pytest.fixture(scope="module")
def reports(store_path: Path) -> dict[str, Report]:
    store = open_store(store_path, create=False)
    try:
        full = quartier_report_from_store(store, CODE, start=START, end=END)
        reader = quartier_report_from_store(store, CODE, start=START, end=END, readable=READER)
    finally:
        store.close()
    return {"full": for_reader(full, None, readers=ROLES),
            "reader": for_reader(reader, READER, readers=ROLES), "raw": full}


def _cameras_in_quartier(store_path: Path) -> int:
    store = open_store(store_path, create=False)
    try:
        cams = store.read("videoprotection")
        geom = shapely.union_all(store.read("perimetres", where={"code": CODE}).geometry.to_numpy())
    finally:
        store.close()
    cams = cams[cams["status"].fillna("installée") != "hors service"]
    xy = shapely.get_coordinates(cams.geometry.to_numpy())
    return int(shapely.contains_xy(geom, xy[:, 0], xy[:, 1]).sum())


def _camera_text(report: Report) -> list[str]:
    """Every label, table caption, column, note, method entry or caveat that speaks of cameras."""
    texts = [*report.key_figures, *report.tables, *report.method, *map(str, report.method.values()),
             *report.caveats, *report.notes]
    texts += [str(c) for df in report.tables.values() for c in df.columns]
    texts += [str(v) for df in report.tables.values() for v in df.astype(str).to_numpy().ravel()]
    for section in report.sections:
        texts += [label for label, _, _ in section.figures] + list(section.tables) + [
            n for n in section.notes if not n.startswith("Section vidéoprotection : diffusion restreinte")]
    return [t for t in texts if any(w in t for w in CAMERA_WORDS) or "vidéoprotection" in t.lower()]


def test_full_version_holds_the_camera_section_marked(reports: dict[str, Report], store_path: Path) -> None:
    full = reports["full"]
    assert restricted_layers(full) == (CCTV_LAYER,)
    [cctv] = [s for s in full.sections if s.restricted == CCTV_LAYER]
    assert not cctv.withheld and cctv.readers == ("technicien", "administrateur")
    figures = {label: value for label, value, _ in cctv.figures}
    assert figures["Nombre de sites de vidéoprotection en service dans le quartier"] == \
        _cameras_in_quartier(store_path) > 0
    assert 0 <= figures["Part des événements vus par une caméra"] <= 1
    # no camera figure outside the restricted section
    outside = Report(full.title, full.period, full.key_figures, [], full.tables, full.method, full.caveats,
                     notes=full.notes, sections=[s for s in full.sections if s.restricted is None])
    assert _camera_text(outside) == []


def test_reader_version_has_no_camera_figure_and_says_who_may_read(reports: dict[str, Report]) -> None:
    reader = reports["reader"]
    assert restricted_layers(reader) == ()
    [notice] = [s for s in reader.sections if s.restricted == CCTV_LAYER]
    assert notice.withheld and notice.figures == [] and notice.tables == {}
    assert notice.notes == ["Section vidéoprotection : diffusion restreinte, consultable par les rôles "
                            "technicien et administrateur. Elle ne figure pas dans cette version du rapport."]
    assert _camera_text(reader) == []
    assert "cctv" not in reader.results  # the cameras were not even read


def test_filter_drops_the_section_from_a_full_report_without_mutating_it(reports: dict[str, Report]) -> None:
    raw = reports["raw"]
    before = [(s.title, s.withheld, len(s.figures)) for s in raw.sections]
    filtered = for_reader(raw, READER, readers=ROLES)
    assert [(s.title, s.withheld, len(s.figures)) for s in raw.sections] == before  # unchanged
    assert _camera_text(filtered) == []
    assert [s.title for s in filtered.sections] == [s.title for s in raw.sections]
    # a role the app configures (LAYER_ROLES) is named; unknown roles: the layer is named
    one = [n for s in for_reader(raw, READER, readers={CCTV_LAYER: ["administrateur"]}).sections
           for n in s.notes if "diffusion restreinte" in n]
    assert one == ["Section vidéoprotection : diffusion restreinte, consultable par le rôle administrateur. "
                   "Elle ne figure pas dans cette version du rapport."]
    generic = [n for s in for_reader(raw, READER).sections for n in s.notes if "diffusion restreinte" in n]
    assert generic == ["Section vidéoprotection : diffusion restreinte, consultable par les rôles habilités "
                       "à voir la couche vidéoprotection. Elle ne figure pas dans cette version du rapport."]


def test_pdf_of_each_version(reports: dict[str, Report], tmp_path: Path) -> None:
    paths = write_report(reports["full"], tmp_path / "tech", "rapport")
    pages = _pages(paths[1])
    assert len(pages) >= 3
    # every page of the full version carries the mark in its header and footer
    assert all(page.count(RESTRICTED_MARK) >= 2 for page in pages), [p[:80] for p in pages]
    flat = " ".join(pages)
    assert "Vidéoprotection Diffusion restreinte" in flat  # the section's heading
    assert "Diffusion restreinte : réservée aux rôles technicien et administrateur" in flat
    assert "Part des événements vus par une caméra" in flat
    tables = [p.name for p in paths[2:]]
    restricted_csv = [n for n in tables if n.endswith("-diffusion-restreinte.csv")]
    uncovered = any("non couverts" in c for s in reports["full"].sections for c in s.tables)
    expected = "rapport-points-chauds-non-couverts-par-la-videoprotection-diffusion-restreinte.csv"
    assert restricted_csv == ([expected] if uncovered else [])

    paths = write_report(reports["reader"], tmp_path / "lecteur", "rapport")
    pages = _pages(paths[1])
    flat = " ".join(pages)
    assert RESTRICTED_MARK not in flat
    assert ("Section vidéoprotection : diffusion restreinte, consultable par les rôles technicien et "
            "administrateur.") in flat
    assert not any(w in flat for w in CAMERA_WORDS)
    for table in paths[2:]:
        assert "restreinte" not in table.name
    sheets = pd.read_excel(paths[-1], sheet_name=None)
    cells = " ".join([*sheets, *(str(c) for df in sheets.values() for c in df.columns),
                      *(str(v) for df in sheets.values() for v in df.astype(str).to_numpy().ravel())])
    assert not any(w in cells for w in CAMERA_WORDS)


def test_copil_dossier_follows_the_reader(store_path: Path, tmp_path: Path) -> None:
    store = open_store(store_path, create=False)
    try:
        mine, _ = copil_pdf(store, CODE, start=START, end=END, readable=READER)
        theirs, _ = copil_pdf(store, CODE, start=START, end=END, readable=None)
    finally:
        store.close()
    (tmp_path / "lecteur.pdf").write_bytes(mine)
    (tmp_path / "tech.pdf").write_bytes(theirs)
    reader_text = " ".join(_pages(tmp_path / "lecteur.pdf"))
    assert not any(w in reader_text for w in CAMERA_WORDS)
    assert "Section vidéoprotection : diffusion restreinte" in reader_text
    tech_pages = _pages(tmp_path / "tech.pdf")
    assert "Part des événements vus par une caméra" in " ".join(tech_pages)
    assert sum(RESTRICTED_MARK in page for page in tech_pages) >= 1
