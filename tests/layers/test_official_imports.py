"""Official files recognised without a mapping, JSON arrays of records, reports that say it all,
and draft mappings proposed for every real file that has a shipped mapping.

The official QPV layouts are made from the real Occitanie and Paris perimeter files by renaming
their columns as the national files name them (2015: ``CODE_QP/NOM_QP/COMMUNE_QP``; 2024:
``code_qp/lib_qp/insee_com/lib_com`` with ``QN`` codes and lists for multi-commune QPV).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
import yaml

from layers.errors import MappingError, SourceFileError
from layers.importer import ImportOptions, ImportReport, import_file
from layers.mapping import TODO, load_mapping, parse_mapping
from layers.propose import propose_mapping
from layers.schema import get_schema
from layers.store import LayerStore, open_store
from layers.validate import fold


def _occitanie(shared_data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")


def _paris(shared_data: Path) -> gpd.GeoDataFrame:
    return gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")


def _layout_2015(shared_data: Path, tmp_path: Path) -> Path:
    """Occitanie + Paris perimeters with the 2015 national file's upper-case columns."""
    occ = _occitanie(shared_data).rename(columns={"code_qp": "CODE_QP", "nom_qp": "NOM_QP",
                                                  "commune_qp": "COMMUNE_QP"})
    par = _paris(shared_data).rename(columns={"code": "CODE_QP", "name": "NOM_QP", "communes": "COMMUNE_QP"})
    both = pd.concat([occ[["CODE_QP", "NOM_QP", "COMMUNE_QP", "geometry"]],
                      par[["CODE_QP", "NOM_QP", "COMMUNE_QP", "geometry"]]], ignore_index=True)
    path = tmp_path / "QP_METROPOLE_2015.geojson"
    gpd.GeoDataFrame(both, geometry="geometry", crs=occ.crs).to_file(path)
    return path


def _layout_2024(shared_data: Path, tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    """Same perimeters as a 2024 GeoJSON: QN codes, lower-case names, lists of communes."""
    occ, par = _occitanie(shared_data), _paris(shared_data)
    records: list[dict[str, Any]] = []
    for _, r in occ.iterrows():
        records.append({"code_qp": "QN" + r["code_qp"][2:], "lib_qp": r["nom_qp"],
                        "insee_reg": "76", "lib_reg": "Occitanie", "insee_dep": r["code_departement"],
                        "insee_com": r["code_commune"], "lib_com": r["commune_qp"], "geom": r.geometry})
    for _, r in par.iterrows():
        names = [n.strip() for n in r["communes"].split(",")]
        many = len(names) > 1
        records.append({"code_qp": "QN" + r["code"][2:], "lib_qp": r["name"], "insee_reg": "11",
                        "lib_reg": "Île-de-France", "insee_dep": r["code"][2:4],
                        # the national file gives one value per commune: a list when several
                        "insee_com": [f"{r['code'][2:4]}{i:03d}" for i in range(len(names))] if many
                        else f"{r['code'][2:4]}000", "lib_com": names if many else names[0],
                        "geom": r.geometry})
    features = [{"type": "Feature", "properties": {k: v for k, v in rec.items() if k != "geom"},
                 "geometry": json.loads(gpd.GeoSeries([rec["geom"]]).to_json())["features"][0]["geometry"]}
                for rec in records]
    path = tmp_path / "QP2024_France.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")
    lists = {rec["code_qp"]: rec["lib_com"] for rec in records if isinstance(rec["lib_com"], list)}
    return path, lists


def _accounted(r: ImportReport) -> None:
    assert r.n_read == r.n_inserted + r.n_existing + r.n_rejected
    assert r.rejects["row"].nunique() == r.n_rejected


def test_official_2015_upper_case_without_mapping(store: LayerStore, shared_data: Path,
                                                  tmp_path: Path) -> None:
    path = _layout_2015(shared_data, tmp_path)
    r = import_file(store, path, layer="perimetres")
    _accounted(r)
    assert (r.n_read, r.n_inserted, r.n_rejected) == (108, 108, 0)
    assert r.layout == "qpv-national"
    qpv = store.read("perimetres")
    assert set(qpv["geography"]) == {"2015"}
    row = qpv[qpv["code"] == "QP093028"].iloc[0]
    assert row["communes"] == "Aubervilliers, La Courneuve, Saint-Denis"
    assert qpv.set_index("code").loc["QP066007", "name"] == "Bas-Vernet Nouveau QPV"
    # the same perimeters through the shipped mapping: one namespace, nothing added
    again = import_file(store, shared_data / "montpellier" / "qp-occitanie-2015.geojson",
                        options=ImportOptions(mapping="qpv-occitanie"))
    assert (again.n_inserted, again.n_existing) == (0, 105)


def test_shipped_mapping_matches_columns_without_case(store: LayerStore, shared_data: Path,
                                                      tmp_path: Path) -> None:
    """The shipped Occitanie mapping names ``code_qp``: the official ``CODE_QP`` file fits it."""
    path = _layout_2015(shared_data, tmp_path)
    r = import_file(store, path, options=ImportOptions(mapping="qpv-occitanie"))
    assert (r.n_inserted, r.n_rejected) == (108, 0)


def test_official_2024_codes_give_geography_and_lists(store: LayerStore, shared_data: Path,
                                                      tmp_path: Path) -> None:
    path, lists = _layout_2024(shared_data, tmp_path)
    assert lists  # the multi-commune QPV of the real file
    r = import_file(store, path, layer="perimetres")
    _accounted(r)
    assert (r.n_inserted, r.n_rejected) == (108, 0)
    assert {"insee_reg", "lib_reg", "insee_dep"} <= set(r.unused_columns)
    qpv = store.read("perimetres").set_index("code")
    assert set(qpv["geography"]) == {"2024"}
    for code, names in lists.items():
        assert qpv.loc[code, "communes"] == ", ".join(names)
    assert not qpv["communes"].str.contains(r"[\[\]']", regex=True).any()


def test_contradicting_geography_is_rejected_naming_the_row(store: LayerStore, shared_data: Path,
                                                            tmp_path: Path) -> None:
    path, _ = _layout_2024(shared_data, tmp_path)
    mapping = parse_mapping({"layer": "perimetres", "dataset": "qpv-2015", "id": "code_qp",
                             "fields": {"code": "code_qp", "name": "lib_qp", "geography": {"value": "2015"}}})
    r = import_file(store, path, options=ImportOptions(mapping=mapping))
    _accounted(r)
    assert r.n_inserted == 0 and r.n_rejected == 108 and r.nothing_imported
    first = r.rejects.iloc[0]
    assert first["row"] == 1 and first["field"] == "geography"
    assert first["reason"] == ("le code QN066007 est de la géographie 2024 (préfixe QN) mais la "
                               "géographie déclarée est 2015")


def test_json_array_of_records(store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    """Paris CCTV sites as an app publishes them: lat/lon as strings, some nested, a list value."""
    df = pd.read_csv(shared_data / "paris" / "videoprotection-paris-2019.csv", sep=";", dtype=str)
    records: list[dict[str, Any]] = []
    for i, r in df.iterrows():
        rec: dict[str, Any] = {"name": f"Site {r['Numéro']}", "address": r["Implantation"],
                               "source_id": r["Numéro"], "postcodes": [r["Code postal"], "750xx"]}
        if int(str(i)) % 2:
            rec["geo_point_2d"] = {"lon": r["lon"], "lat": r["lat"]}
        else:
            rec |= {"Latitude": r["lat"], "Longitude": r["lon"]}
        records.append(rec)
    records[2]["Latitude"] = "n/a"
    path = tmp_path / "cameras.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    r = import_file(store, path, layer="videoprotection", options=ImportOptions(territory_margin_m=None))
    _accounted(r)
    assert (r.n_read, r.n_inserted, r.n_rejected) == (707, 706, 1)
    assert r.rejects.iloc[0]["row"] == 3
    cams = store.read("videoprotection").to_crs("EPSG:4326")
    one = cams[cams["name"] == f"Site {df.loc[0, 'Numéro']}"].geometry.iloc[0]
    assert abs(one.x - float(df.loc[0, "lon"])) < 1e-6 and abs(one.y - float(df.loc[0, "lat"])) < 1e-6
    again = import_file(store, path, layer="videoprotection", options=ImportOptions(territory_margin_m=None))
    assert again.n_inserted == 0


def test_json_without_coordinates_is_refused_in_french(store: LayerStore, tmp_path: Path) -> None:
    path = tmp_path / "liste.json"
    path.write_text(json.dumps([{"nom": "a"}, {"nom": "b"}]), encoding="utf-8")
    with pytest.raises(SourceFileError, match="aucune coordonnée trouvée"):
        import_file(store, path, layer="videoprotection")


def test_unreadable_file_names_accepted_formats(store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    path = tmp_path / "carte.xlsx"
    path.write_bytes((shared_data / "paris" / "adresses-75.csv.gz").read_bytes()[:4000])
    with pytest.raises(SourceFileError) as info:
        import_file(store, path, layer="observations")
    message = str(info.value)
    assert "formats acceptés : CSV" in message and "GeoPackage" in message
    assert not re.search(r"[A-Z][a-z]+Error|not recognized|GDAL", message)


def test_every_error_of_a_row_and_coordinates_of_geometry_rejects(
        store: LayerStore, shared_data: Path, tmp_path: Path) -> None:
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", dtype=str, nrows=20)
    df.loc[2, ["datedecl", "type"]] = ["31/02/2024", "inconnu"]
    df.loc[5, "geo_point_2d"] = "{'lon': 48.86, 'lat': 200.5}"
    path = tmp_path / "dmr.csv"
    df.to_csv(path, index=False)
    mapping = load_mapping("dansmarue")
    strict_theme = parse_mapping({"layer": "observations", "dataset": "dmr", "id": "id_dmr",
                                  "geometry": dict(mapping.geometry),
                                  "fields": {"observed_at": "datedecl", "theme": "type"}})
    r = import_file(store, path, options=ImportOptions(mapping=strict_theme, territory_margin_m=None,
                                                       report_dir=tmp_path / "rapports"))
    _accounted(r)
    row4 = r.rejects[r.rejects["row"] == 4]
    assert set(row4["field"]) >= {"observed_at", "theme"}  # both errors, not only the first
    geo = r.rejects[(r.rejects["row"] == 7) & (r.rejects["field"] == "geometry")].iloc[0]
    assert "POINT (48.86 200.5)" in geo["value"]
    first = r.report_path
    r2 = import_file(store, path, options=ImportOptions(mapping=strict_theme, territory_margin_m=None,
                                                        report_dir=tmp_path / "rapports"))
    assert first is not None and r2.report_path is not None and r2.report_path != first
    assert first.exists() and re.search(r"\.rejets-\d{8}T\d{6}(-\d+)?\.csv$", first.name)
    assert "colonnes_inutilisees" in json.loads((r2.summary_path or first).read_text(encoding="utf-8"))


# -- qpv correspondance proposer, on every real file that has a shipped mapping ----------------

SHIPPED = [
    ("paris/dansmarue-2023-2024-echantillon.csv", "dansmarue"),
    ("paris/videoprotection-paris-2019.csv", "paris-videoprotection"),
    ("paris/adresses-75.csv.gz", "ban"),
    ("paris/qpv-paris-idf-2015.geojson", "qpv-paris"),
    ("montpellier/qp-occitanie-2015.geojson", "qpv-occitanie"),
    ("montpellier/conteneurs-languedoc-roussillon-osm-2014.csv", "conteneurs-osm"),
    ("montpellier/VilleMTP_MTP_PointAdresse.zip", "montpellier-adresses"),
    ("montpellier/VilleMTP_MTP_EclairagePublic.zip", "montpellier-eclairage"),
    ("montpellier/VilleMTP_MTP_CameraSurv.geojson", "montpellier-cameras"),
    ("montpellier/VilleMTP_MTP_FilaireVoies.zip", "montpellier-voies"),
    ("montpellier/VilleMTP_MTP_Batiments.zip", "montpellier-batiments"),
]


def _counts(tmp_path: Path, name: str, path: Path, mapping: Any) -> tuple[int, int, int]:
    s = open_store(tmp_path / f"{name}.gpkg")
    try:
        r = import_file(s, path, options=ImportOptions(mapping=mapping, territory_margin_m=None))
    finally:
        s.close()
    _accounted(r)
    return r.n_read, r.n_inserted, r.n_rejected


def _decide(data: dict[str, Any]) -> dict[str, Any]:
    """Take every decision left, as a user could: allowed values get the field's default (or
    its first allowed value), non-dates are declared unknown."""
    schema = get_schema(data["layer"])
    for name, rule in data["fields"].items():
        f = schema.field(name)
        if not isinstance(rule, dict) or not isinstance(rule.get("values"), dict):
            continue
        left = [k for k, v in rule["values"].items() if v == TODO]
        for src in left:
            if f.choices:
                rule["values"][src] = f.default or f.choices[0]
            else:
                del rule["values"][src]
                rule["missing"] = [*rule.get("missing", []), src]
    return data


@pytest.mark.parametrize(("name", "shipped"), SHIPPED, ids=[s for _, s in SHIPPED])
def test_proposed_mapping_imports_like_the_shipped_one(shared_data: Path, tmp_path: Path, name: str,
                                                       shipped: str) -> None:
    path = shared_data / name
    layer = load_mapping(shipped).layer
    proposal = propose_mapping(path, layer)
    draft = tmp_path / "m.yaml"
    draft.write_text(proposal.to_yaml(), encoding="utf-8")
    expected = _counts(tmp_path, "shipped", path, shipped)
    data = yaml.safe_load(draft.read_text(encoding="utf-8"))
    if not proposal.todo:
        assert _counts(tmp_path, "proposed", path, str(draft)) == expected
        return
    # what is left is listed precisely: each TODO of the draft, by field and source value
    with pytest.raises(MappingError) as info:
        import_file(open_store(tmp_path / "refused.gpkg"), path, options=ImportOptions(mapping=str(draft)))
    message = str(info.value)
    assert f"il reste {len(proposal.todo)} décision(s)" in message
    assert draft.read_text(encoding="utf-8").count(TODO) - 1 == len(proposal.todo)  # + the header
    for item in proposal.todo:
        assert item in message
    for rule in data["fields"].values():
        for src, target in (rule.get("values") or {}).items() if isinstance(rule, dict) else ():
            assert target != TODO or f"« {src} »" in message
    # once decided, the draft imports every row the shipped mapping reads
    read, inserted, rejected = _counts(tmp_path, "decided", path, parse_mapping(_decide(data)))
    assert read == expected[0] and inserted + rejected == read and inserted > 0


def test_proposed_values_are_allowed_ones(shared_data: Path) -> None:
    proposal = propose_mapping(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", "observations")
    theme = proposal.data["fields"]["theme"]
    choices = {fold(c) for c in get_schema("observations").field("theme").choices or ()}
    proposed = {v for v in theme["values"].values() if v != TODO}
    assert proposed and all(fold(v) in choices for v in proposed)
    assert theme["values"]["Graffitis, tags, affiches et autocollants"] == "tags et graffitis"
    assert theme["values"]["Objets abandonnés"] == TODO  # no allowed value says it for sure


def test_proposal_for_streets_renamed_by_another_publisher(shared_data: Path, tmp_path: Path) -> None:
    """Montpellier's real streets with columns named as another city would: names, codes, status found."""
    raw = gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip").iloc[:500]
    renamed = raw.rename(columns={"LIB_OFF": "Nom de la voie", "CODE_VOIE": "Code FANTOIR",
                                  "DOMANIALIT": "Statut juridique"})
    renamed = renamed[["Nom de la voie", "Code FANTOIR", "Statut juridique", "geometry"]]
    path = tmp_path / "rues.gpkg"
    renamed.to_file(path)
    proposal = propose_mapping(path, "voies")
    fields = proposal.data["fields"]
    assert fields["name"] == "Nom de la voie" and fields["street_code"] == "Code FANTOIR"
    assert fields["domanialite"] == "Statut juridique"
    store = open_store(tmp_path / "rues-store.gpkg", create=True)
    try:
        draft = tmp_path / "rues.yaml"
        draft.write_text(proposal.to_yaml(), encoding="utf-8")
        report = import_file(store, path, options=ImportOptions(mapping=str(draft)))
        stored = store.read("voies")
    finally:
        store.close()
    assert report.n_inserted == 500
    assert set(stored["name"].dropna()) == set(raw["LIB_OFF"].dropna())
