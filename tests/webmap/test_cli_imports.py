"""``qpv importer`` that says what happened, ``qpv couches champs``, ``qpv correspondance proposer``."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
import yaml
from click.testing import CliRunner

from webmap.cli import main
from webmap.cli.correspondance import EXIT_NOTHING_IMPORTED


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("QPV_STORE", str(tmp_path / "t.gpkg"))
    monkeypatch.setenv("QPV_REPORTS_DIR", str(tmp_path / "rapports"))
    return CliRunner()


def test_all_rejected_exits_3_with_top_reasons(runner: CliRunner, shared_data: Path) -> None:
    """The Paris CCTV file given as perimeters: nothing fits, the console says why."""
    cctv = shared_data / "paris" / "videoprotection-paris-2019.csv"
    res = runner.invoke(main, ["importer", "perimetres", str(cctv)])
    assert res.exit_code == EXIT_NOTHING_IMPORTED == 3, res.output
    assert "707 lignes lues : 0 ajoutées" in res.output
    assert "Motifs de rejet les plus fréquents :" in res.output
    assert "707 ligne(s) : « code » : champ obligatoire manquant" in res.output
    assert "qpv correspondance proposer" in res.output and "-m" in res.output
    assert "Colonnes du fichier non utilisées : Code postal, Numéro" in res.output
    assert "Erreur" not in res.output  # not an error: the file was read, every row rejected
    help_text = runner.invoke(main, ["importer", "--aide"]).output
    assert "3 aucune ligne importée" in help_text


def test_official_file_recognised_from_cli(runner: CliRunner, shared_data: Path, tmp_path: Path) -> None:
    occ = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    path = tmp_path / "QP_METROPOLE.geojson"
    occ.rename(columns={"code_qp": "CODE_QP", "nom_qp": "NOM_QP", "commune_qp": "COMMUNE_QP"}).to_file(path)
    res = runner.invoke(main, ["importer", "perimetres", str(path)])
    assert res.exit_code == 0, res.output
    assert "105 lignes lues : 105 ajoutées" in res.output
    assert "Format reconnu sans correspondance : qpv-national" in res.output


def test_layer_fields_listed(runner: CliRunner) -> None:
    res = runner.invoke(main, ["couches", "champs", "observations"])
    assert res.exit_code == 0, res.output
    assert "theme            Thème — texte, obligatoire" in res.output
    assert "valeurs : propreté, dépôts sauvages" in res.output
    assert runner.invoke(main, ["couches", "champs", "inexistante"]).exit_code == 1
    assert runner.invoke(main, ["couches"]).exit_code == 0
    assert runner.invoke(main, ["correspondances"]).exit_code == 0


def test_propose_then_import(runner: CliRunner, shared_data: Path, tmp_path: Path) -> None:
    cameras = shared_data / "montpellier" / "VilleMTP_MTP_CameraSurv.geojson"
    out = tmp_path / "m.yaml"
    res = runner.invoke(main, ["correspondance", "proposer", str(cameras), "videoprotection", "-o", str(out)])
    assert res.exit_code == 0, res.output
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["geometry"] == {"crs": "EPSG:2154"}  # Lambert-93 metres in an undeclared GeoJSON
    res = runner.invoke(main, ["importer", "videoprotection", str(cameras), "-m", str(out)])
    assert res.exit_code == 0, res.output
    assert "141 lignes lues : 141 ajoutées" in res.output


def test_draft_with_todo_is_refused_with_the_list(runner: CliRunner, shared_data: Path,
                                                  tmp_path: Path) -> None:
    dmr = shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv"
    out = tmp_path / "dmr.yaml"
    res = runner.invoke(main, ["correspondance", "proposer", str(dmr), "observations", "-o", str(out)])
    assert res.exit_code == 0 and "décision(s) à prendre" in res.output
    res = runner.invoke(main, ["importer", "observations", str(dmr), "-m", str(out)])
    assert res.exit_code == 1
    assert "theme : valeur pour « Objets abandonnés »" in res.output


def _crossing_pair(streets: gpd.GeoDataFrame) -> tuple[int, int]:
    """Two real streets crossing in mid-line, far from their ends."""
    import shapely

    lines = streets.geometry.to_numpy()
    a, b = shapely.STRtree(lines).query(lines, predicate="crosses")
    a, b = a[a < b], b[a < b]
    inter = shapely.intersection(lines[a], lines[b])
    ends = shapely.union(shapely.boundary(lines[a]), shapely.boundary(lines[b]))
    single = (shapely.get_type_id(inter) == 0) & (shapely.distance(inter, ends) > 5)
    return int(a[single][0]), int(b[single][0])


@pytest.mark.parametrize("layout", ["osm", "bdtopo"])
def test_street_files_keep_their_bridges_and_motorways_apart(runner: CliRunner, shared_data: Path,
                                                            tmp_path: Path, layout: str) -> None:
    """Real Montpellier streets published as OSM or BD TOPO name them: levels and walkability kept."""
    from layers.network import street_network_quality
    from layers.store import open_store

    raw = gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip").to_crs(2154)
    i, j = _crossing_pair(raw)
    far = int(raw.distance(raw.geometry.iloc[i]).sort_values().index[-1])
    two = raw.loc[[i, j, far]].reset_index(drop=True)
    if layout == "osm":
        frame = gpd.GeoDataFrame({"osm_id": [11, 12, 13], "name": ["Rue A", "Pont B", "Autoroute C"],
                                  "highway": ["residential", "residential", "motorway"],
                                  "bridge": [None, "yes", None]}, geometry=two.geometry, crs=2154)
        path = tmp_path / "voies.geojson"
    else:
        frame = gpd.GeoDataFrame({"CLEABS": ["T1", "T2", "T3"], "NOM_1_G": ["Rue A", "Pont B", "Autoroute C"],
                                  "NATURE": ["Route à 1 chaussée", "Route à 1 chaussée", "Type autoroutier"],
                                  "POS_SOL": [0, 1, 0]}, geometry=two.geometry, crs=2154)
        path = tmp_path / "troncons.gpkg"
    frame.to_file(path)
    store_path = tmp_path / "voies.gpkg"
    res = runner.invoke(main, ["--entrepot", str(store_path), "importer", "voies", str(path)])
    assert res.exit_code == 0, res.output
    assert "3 ajoutées" in res.output and "non utilisées" not in res.output
    store = open_store(store_path)
    try:
        stored = store.read("voies")
        assert sorted(stored["level"].tolist()) == [0, 0, 1]
        quality = street_network_quality(store)
    finally:
        store.close()
    # the bridge does not meet the street it crosses, the motorway is not walked at all
    assert quality.components == 2 and quality.edges == 2


def test_openstreetmap_extract_imports_into_voies(runner: CliRunner, shared_data: Path,
                                                  tmp_path: Path) -> None:
    """An .osm extract (built from real Montpellier streets, with a footbridge and a motorway) imports."""
    from shapely.geometry import LineString

    from layers.store import open_store
    from tests.geo.walks.test_noding import _write_osm

    raw = gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_FilaireVoies.zip").to_crs(2154)
    streets = gpd.GeoDataFrame({"name": raw["LIB_OFF"].fillna("?")}, geometry=raw.geometry,
                               crs=2154).iloc[:300]
    # a footbridge across the first streets, in the air (layer=1)
    bridge = LineString([streets.geometry.iloc[0].centroid, streets.geometry.iloc[10].centroid])
    path = tmp_path / "extrait.osm"
    _write_osm(streets, path, bridge=bridge)  # plus a motorway, not walkable
    store_path = tmp_path / "osm.gpkg"
    res = runner.invoke(main, ["--entrepot", str(store_path), "importer", "voies", str(path)])
    assert res.exit_code == 0, res.output
    assert "301 lignes lues : 301 ajoutées" in res.output and "osm-voies" in res.output
    store = open_store(store_path)
    try:
        stored = store.read("voies")
    finally:
        store.close()
    assert "Autoroute test" not in set(stored["name"])
    assert stored.loc[stored["name"] == "Passerelle test", "level"].tolist() == [1]
    again = runner.invoke(main, ["--entrepot", str(store_path), "importer", "voies", str(path)])
    assert again.exit_code == 0 and "0 ajoutées, 301 déjà présentes" in again.output
