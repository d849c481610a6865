"""``qpv localiser`` and ``qpv rues enregistrer|compiler`` on real data: a store holding only street
lists (Lillers, and a list reversed from real Montpellier addresses), later given Montpellier's
address points; a Paris store (QPV + BAN of the 20e) for points elsewhere and the README's batch
command on a CSV written as a French spreadsheet would (``;``, Windows-1252)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from geo.geometry import repair_polygons
from geo.perimeters.addressmatch import read_addresses
from geo.perimeters.rules import reverse_perimeter
from geo.perimeters.streetlist import write_rules
from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import open_store
from webmap.app import create_app
from webmap.cli import main

DEMO = REPO_ROOT / "data" / "demo"


def run(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--entrepot", str(store), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def verdun(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A second street list, in Montpellier: reversed from the real sous-quartier holding most
    « Rue de Verdun » addresses (local code MTP-VERDUN), and one of its addresses inside it."""
    folder = tmp_path_factory.mktemp("verdun")
    points = read_addresses(DEMO / "montpellier" / "VilleMTP_MTP_PointAdresse.zip", commune="Montpellier")
    zones = gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_SousQuartiers.geojson").to_crs(2154)
    streets = points[(points["street"] == "Rue de Verdun") & points["number"].notna()]
    joined = gpd.sjoin(streets, zones[["geometry"]], predicate="within")
    zone_id = joined["index_right"].mode().iat[0]
    rules = reverse_perimeter(zones.loc[[zone_id]], points, code="MTP-VERDUN")
    path = write_rules(rules, folder / "verdun.yaml")
    inside = joined[joined["index_right"] == zone_id].sort_values("number").iloc[len(joined) // 3]
    return {"rules": path, "number": int(inside["number"])}


@pytest.fixture(scope="module")
def lists_store(shared_data: Path, verdun: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with no polygon and no address: the Lillers list and the Montpellier list."""
    path = tmp_path_factory.mktemp("listes") / "listes.gpkg"
    assert run(path, "initialiser").exit_code == 0
    res = run(path, "rues", "lire", str(shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt"),
              "--commune", "Lillers", "--qpv", "QP062057", "--enregistrer")
    assert res.exit_code == 0, res.output
    assert "Liste de rues de QP062057 « Ville Centre Lillers » (Lillers) enregistrée" in res.output
    res = run(path, "rues", "enregistrer", str(verdun["rules"]), "--nom", "Verdun (Montpellier)")
    assert res.exit_code == 0, res.output
    return path


def _status(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("Statut : "))


def test_street_lists_answer_alone(lists_store: Path) -> None:
    cases = {
        "12 rue de Verdun 62190 Lillers": ("Statut : dans un QPV", "QP062057 « Ville Centre Lillers »"),
        "39 rue de Verdun 62190 Lillers": ("Statut : hors QPV", "Hors des numéros retenus"),
        "12 rue de Verdun Lillers": ("Statut : dans un QPV", "QP062057 « Ville Centre Lillers »"),
        "12 rue de Verdun": ("Statut : ambigu", "plusieurs communes : Lillers ; Montpellier"),
        "12 rue de Verdun, Béthune": ("Statut : hors territoire : aucun périmètre connu ici",
                                      "Hors territoire"),
    }
    for text, (status, detail) in cases.items():
        res = run(lists_store, "localiser", text)
        assert res.exit_code == 0, res.output
        assert _status(res.output) == status, (text, res.output)
        assert detail in res.output, (text, res.output)
    body = run(lists_store, "localiser", "12 rue de Verdun", "--json").output
    assert '"qpv_statut": "ambigu"' in body
    # a point: no polygon anywhere, so nowhere is known
    res = run(lists_store, "localiser", "--point", "2.4185,50.5650")
    assert _status(res.output) == "Statut : hors territoire : aucun périmètre connu ici"


def test_street_list_then_polygon_both_answers(lists_store: Path, verdun: dict[str, Any],
                                               tmp_path: Path) -> None:
    path = tmp_path / "listes-adresses.gpkg"
    shutil.copy(lists_store, path)
    store = open_store(path, create=False)
    try:
        import_file(store, DEMO / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                    options=ImportOptions(mapping="montpellier-adresses", actor="tests",
                                          report_dir=tmp_path / "rapports"))
    finally:
        store.close()
    res = run(path, "rues", "compiler", "--code", "MTP-VERDUN", "--commune", "Montpellier")
    assert res.exit_code == 0, res.output
    assert "Périmètre MTP-VERDUN « Verdun (Montpellier) » enregistré" in res.output
    res = run(path, "localiser", f"{verdun['number']} rue de Verdun 34000 Montpellier")
    assert res.exit_code == 0, res.output
    assert "QPV : MTP-VERDUN" in res.output
    assert ("Sources : polygone : dans MTP-VERDUN ; liste de rues : dans MTP-VERDUN — concordants"
            in res.output), res.output
    assert f"Adresse trouvée : {verdun['number']} Rue de Verdun" in res.output
    # Lillers still answers from its list alone
    assert _status(run(path, "localiser", "12 rue de Verdun Lillers").output) == "Statut : dans un QPV"


@pytest.fixture(scope="module")
def paris_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("paris-territoire")
    path = folder / "paris.gpkg"
    store = open_store(path)
    try:
        for file, mapping in ((shared_data / "paris" / "qpv-paris-idf-2015.geojson", "qpv-paris"),
                              (DEMO / "paris" / "adresses-75020.csv.gz", "ban")):
            import_file(store, file, options=ImportOptions(mapping=mapping, actor="tests",
                                                           report_dir=folder / "rejets"))
    finally:
        store.close()
    return path


def test_point_in_a_city_absent_from_the_store(paris_store: Path) -> None:
    for point in ("4.8357,45.7640", "3.0573,50.6292"):  # Lyon, Lille
        res = run(paris_store, "localiser", "--point", point)
        assert res.exit_code == 0, res.output
        assert _status(res.output) == "Statut : hors territoire : aucun périmètre connu ici"
        assert "hors QPV" not in res.output


def test_misspelt_address_shows_match_and_score(paris_store: Path) -> None:
    res = run(paris_store, "localiser", "10 avenue Félix Terrier 75020 Paris")
    assert res.exit_code == 0, res.output
    assert ("Adresse trouvée : 10 Rue Félix Terrier 75020 Paris 20e Arrondissement "
            "(approchée : type de voie différent, score 0,86)") in res.output
    assert "Coordonnées : 2.41" in res.output


def test_readme_batch_command(paris_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(paris_store, create=False)
    try:
        per, _ = repair_polygons(store.read("perimetres", where={"code": "QP075019"}))
        addr = store.read("adresses")
    finally:
        store.close()
    addr = addr[addr["number"].notna() & (addr["suffix"].isna() | (addr["suffix"] == ""))]
    inside = gpd.sjoin(addr, per[["geometry"]], predicate="within")
    inside = inside[inside["street"].str.contains("é")].sample(8, random_state=3)
    outside = addr[~addr.within(per.geometry.iat[0].buffer(500))].sample(8, random_state=4)
    rows = [f"{int(r.number)} {r.street}, 75020 Paris" for r in pd.concat([inside, outside]).itertuples()]
    rows += ["12 rue de la République, 69001 Lyon", "", "7 rue des Sapins Imaginaires, 75020 Paris"]
    table = pd.DataFrame({"Numéro dossier": [f"D{i:03d}" for i in range(len(rows))], "adresse": rows})
    src = tmp_path / "adresses.csv"
    table.to_csv(src, sep=";", index=False, encoding="cp1252")
    out = tmp_path / "out.csv"
    monkeypatch.chdir(tmp_path)  # the README's command, as written
    res = run(paris_store, "localiser", "--csv", "adresses.csv", "-o", "out.csv")
    assert res.exit_code == 0, res.output
    raw = out.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # written back in Windows-1252, as it came
    got = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False, encoding="cp1252")
    assert got.columns[:2].tolist() == ["Numéro dossier", "adresse"]
    assert got["adresse"].tolist() == rows
    assert got["qpv_statut"].tolist() == ["dans_qpv"] * 8 + ["hors_qpv"] * 8 + [
        "hors_territoire", "vide", "introuvable"]
    assert got["qpv_code"].tolist()[:16] == ["QP075019"] * 8 + [""] * 8
    assert set(got["qpv_nom"][:8]) == {"Les Portes Du Vingtième"}
    assert set(got["qpv_desaccord"]) <= {"oui", "non"}
    assert (got["qpv_adresse_trouvee"][:16].str.len() > 0).all()
    assert (got["qpv_score"][:16] == "1").all() and (got["qpv_approchee"][:16] == "non").all()
    ll = gpd.GeoSeries(pd.concat([inside, outside]).geometry.to_numpy(), crs=2154).to_crs(4326)
    assert got["qpv_lon"][:16].astype(float).to_numpy() == pytest.approx(ll.x.to_numpy(), abs=1e-5)
    assert got["qpv_lat"][:16].astype(float).to_numpy() == pytest.approx(ll.y.to_numpy(), abs=1e-5)
    assert (got["qpv_lon"][16:] == "").all()
    assert "8 dans_qpv" in res.output and "1 hors_territoire" in res.output
    assert "Colonnes utilisées — adresse : « adresse »" in res.output


def test_batch_detects_coordinate_columns(paris_store: Path, tmp_path: Path) -> None:
    src = tmp_path / "points.csv"
    src.write_text("id,Longitude,Latitude\n1,4.8357,45.7640\n2,2.4047,48.8620\n3,,\n", encoding="utf-8")
    out = tmp_path / "points-qpv.csv"
    res = run(paris_store, "localiser", "--csv", str(src), "-o", str(out))
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, sep=",", dtype=str, keep_default_na=False)
    assert got["qpv_statut"].tolist()[0] == "hors_territoire" and got["qpv_statut"].iat[2] == "vide"
    bad = tmp_path / "rien.csv"
    bad.write_text("id;commentaire\n1;rien\n", encoding="utf-8")
    res = run(paris_store, "localiser", "--csv", str(bad), "-o", str(out))
    assert res.exit_code == 1 and "Aucune colonne d'adresse ni de coordonnées reconnue" in res.output


def test_api_answers_from_street_lists(lists_store: Path, tmp_path: Path) -> None:
    app = create_app({"STORE": str(lists_store), "instance_path": str(tmp_path / "instance"),
                      "SECRET_KEY": "clef-de-test", "TESTING": True})
    client = app.test_client()
    body = client.get("/api/lookup", query_string={"adresse": "12 rue de Verdun Lillers"}).get_json()
    assert (body["qpv_statut"], body["code"], body["nom"]) == ("dans_qpv", "QP062057", "Ville Centre Lillers")
    assert body["motif"] == "street_rule"
    body = client.get("/api/lookup", query_string={"adresse": "12 rue de Verdun"}).get_json()
    assert body["qpv_statut"] == "ambigu" and "Montpellier" in body["remarque"]
    body = client.get("/api/lookup", query_string={"lon": "4.8357", "lat": "45.7640"}).get_json()
    assert (body["statut"], body["qpv_statut"]) == ("out_of_territory", "hors_territoire")
