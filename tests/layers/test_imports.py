"""Imports from a form (:mod:`layers.imports`) and the importer's preview, on real files.

The preview must announce what the import then does: same rows rejected for the same
reasons, same rows stored, and nothing written by the preview itself (GeoPackage and PostGIS).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.errors import MappingError
from layers.importer import ImportOptions, import_file, preview_file
from layers.imports import (
    KEEP_RULE,
    UNKNOWN_DATE,
    MappingChoices,
    build_mapping,
    mapping_form,
    preview_import,
)
from layers.mapping import parse_mapping
from layers.store import open_store
from tests.webmap.test_imports_web import BAD_DATE, DECISIONS, FAR_AWAY, NO_CATEGORY, messy_reports

PARIS_QPV = Path(__file__).resolve().parents[2] / "data" / "demo" / "paris" / "qpv-paris-idf-2015.geojson"


@pytest.fixture
def messy(shared_data: Path, tmp_path: Path) -> Path:
    return messy_reports(shared_data, tmp_path / "signalements.csv", n=300)


def test_preview_announces_what_the_import_does(store_url: str, messy: Path) -> None:
    store = open_store(store_url)
    try:
        import_file(store, PARIS_QPV, options=ImportOptions(mapping="qpv-paris"))
        mapping = parse_mapping(build_mapping(messy, "observations", MappingChoices(
            columns={"address": "Adresse du signalement"}, values={"theme": DECISIONS})))
        before = store.count("observations")
        preview = preview_file(store, messy, layer="observations", options=ImportOptions(mapping=mapping))
        assert store.count("observations") == before == 0
        report = import_file(store, messy, layer="observations", options=ImportOptions(mapping=mapping))
        assert preview.report.n_read == report.n_read == 300
        assert preview.report.n_rejected == report.n_rejected
        assert preview.report.rejects.equals(report.rejects)
        assert {BAD_DATE + 2, FAR_AWAY + 2, NO_CATEGORY + 2} <= set(report.rejects["row"])
        assert report.n_inserted == len(preview.valid) == store.count("observations")
        stored = store.read("observations").set_index("uid")
        assert set(stored.index) == set(preview.valid["uid"])
        sample = preview.valid.set_index("uid").iloc[0]
        assert stored.loc[sample.name, "theme"] == sample["theme"]
        assert stored.loc[sample.name, "address"] == sample["address"]
    finally:
        store.close()


def test_form_choices_become_a_mapping(messy: Path, tmp_path: Path) -> None:
    form = mapping_form(messy, "observations")
    by_name = {f["nom"]: f for f in form["champs"]}
    assert by_name["source"]["defaut"] == "import" and by_name["source"]["colonne"] is None
    # the same column keeps the proposed value table; another column is read as is
    data = build_mapping(messy, "observations", MappingChoices(
        columns={"theme": "Catégorie", "description": "Sous-catégorie", "subtheme": ""},
        values={"theme": DECISIONS, "observed_at": {"31/02/2024": UNKNOWN_DATE}}))
    assert data["fields"]["theme"]["values"]["Objets abandonnés"] == "dépôts sauvages"
    table = data["fields"]["theme"]["values"]
    assert table["Graffitis, tags, affiches et autocollants"] == "tags et graffitis"
    assert data["fields"]["description"] == "Sous-catégorie" and "subtheme" not in data["fields"]
    assert data["fields"]["observed_at"] == {"column": "Date signalement", "missing": ["31/02/2024"]}
    assert data["id"] == "Référence"  # proposed: present and unique in every row
    assert "id" not in build_mapping(messy, "observations", MappingChoices(identifier=""))
    with pytest.raises(MappingError, match="Identifiant : colonne « numero » absente"):
        build_mapping(messy, "observations", MappingChoices(identifier="numero"))
    # geometry chosen in the form, checked against the file
    with pytest.raises(MappingError, match="Géométrie \\(y\\) : colonne « lat » absente"):
        build_mapping(messy, "observations", MappingChoices(geometry={"x": "Longitude", "y": "lat"}))
    with pytest.raises(MappingError, match="système de coordonnées « EPSG:9999 »"):
        build_mapping(messy, "observations", MappingChoices(
            geometry={"x": "Longitude", "y": "Latitude", "crs": "EPSG:9999"}))
    with pytest.raises(MappingError, match="pas de règle à garder"):
        build_mapping(messy, "observations", MappingChoices(columns={"description": KEEP_RULE}))
    with pytest.raises(MappingError, match="inconnue pour la couche"):
        mapping_form(messy, "observations", base="qpv-paris")


def test_named_mapping_on_the_publishers_own_file(shared_data: Path, tmp_path: Path) -> None:
    """The Dans Ma Rue file as published, with its shipped mapping: constants kept as rules."""
    path = shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv"
    form = mapping_form(path, "observations", base="dansmarue")
    by_name = {f["nom"]: f for f in form["champs"]}
    assert by_name["source"]["regle"] == "valeur fixe « habitant »" and by_name["source"]["colonne"] is None
    assert by_name["theme"]["colonne"] == "type" and not by_name["theme"]["a_decider"]
    data = build_mapping(path, "observations",
                         MappingChoices(base="dansmarue", columns={"source": KEEP_RULE}))
    assert data["fields"]["source"] == {"value": "habitant"}
    store = open_store(tmp_path / "s.gpkg")
    try:
        import_file(store, PARIS_QPV, options=ImportOptions(mapping="qpv-paris"))
        preview = preview_import(store, path, "observations", data, limit=5)
    finally:
        store.close()
    assert preview["lues"] == 10_000 and preview["rejetees"] == 0 and len(preview["lignes"]) == 5
    assert {line["valeurs"]["source"] for line in preview["lignes"]} == {"habitant"}
