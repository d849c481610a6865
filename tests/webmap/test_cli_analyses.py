"""``qpv rues``, ``qpv localiser``, ``qpv rapport`` and ``qpv analyse`` on a store built from the
real Paris files (QPV perimeters, Dans Ma Rue reports, CCTV sites, BAN of the 20e).

Figures printed by the commands are compared with plain geopandas joins.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from click.testing import CliRunner, Result

from geo.geometry import repair_polygons
from geo.perimeters.streetlist import parse_street_list, read_rules
from layers.importer import ImportOptions, import_file
from layers.settings import REPO_ROOT
from layers.store import open_store
from webmap.cli import main

DEMO = REPO_ROOT / "data" / "demo"
PERIOD = "2023-09:2024-08"
THEME = "dépôts sauvages"


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Real Paris files in a store, plus a whole-20e outline stored as a quartier; built once."""
    folder = tmp_path_factory.mktemp("cli-analyses")
    path = folder / "paris.gpkg"
    store = open_store(path)
    try:
        for file, mapping in ((shared_data / "paris" / "qpv-paris-idf-2015.geojson", "qpv-paris"),
                              (DEMO / "paris" / "adresses-75020.csv.gz", "ban"),
                              (shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv", "dansmarue"),
                              (shared_data / "paris" / "videoprotection-paris-2019.csv",
                               "paris-videoprotection")):
            import_file(store, file,
                        options=ImportOptions(mapping=mapping, actor="tests", report_dir=folder / "rejets"))
        addr = store.read("adresses")
        hull = shapely.concave_hull(shapely.multipoints(shapely.get_coordinates(addr.geometry.to_numpy())),
                                    ratio=0.05).buffer(30)
        store.write("perimetres", gpd.GeoDataFrame(
            {"code": ["75020"], "name": ["Paris 20e"], "communes": ["Paris"], "kind": ["quartier"],
             "source": ["enveloppe des adresses BAN du 20e"]}, geometry=[hull], crs=2154))
    finally:
        store.close()
    return path


def run(store: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--entrepot", str(store), *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def frames(store_path: Path) -> dict[str, gpd.GeoDataFrame]:
    s = open_store(store_path, create=False)
    try:
        per, _ = repair_polygons(s.read("perimetres"))
        return {"per": per, "addr": s.read("adresses"), "obs": s.read("observations")}
    finally:
        s.close()


def _in_period(obs: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    when = pd.to_datetime(obs["observed_at"])
    return obs[(when >= "2023-09-01") & (when < "2024-09-01") & (obs["theme"] == THEME)]


def _count_in(obs: gpd.GeoDataFrame, per: gpd.GeoDataFrame, code: str) -> int:
    zone = per[per["code"] == code][["geometry"]]
    return len(gpd.sjoin(obs, zone, predicate="within"))


def _ink(pdf: Path, tmp_path: Path) -> float:
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    from PIL import Image

    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
                   check=True, capture_output=True)
    png = next(tmp_path.glob("page*.png"))
    with Image.open(png) as img:
        pixels = np.asarray(img.convert("L"), dtype=float)
    return float((pixels < 200).mean())


# --------------------------------------------------------------------------- qpv rues


def test_rues_parse_lillers(shared_data: Path, tmp_path: Path, store_path: Path) -> None:
    src = shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt"
    out = tmp_path / "regles.yaml"
    res = run(store_path, "rues", "lire", str(src), "--commune", "Lillers", "--qpv", "QP062057",
              "-o", str(out))
    assert res.exit_code == 0, res.output
    assert "43 voies, 43 règles ; 6 voies en partie ; 6 numéros de coupure ; 6 parcelles citées" in res.output
    assert "RUE DE VERDUN : jusqu'au n° 38 (parcelle AH 547)" in res.output
    expected = parse_street_list(src.read_text(encoding="utf-8"), commune="Lillers", qpv="QP062057").rules
    assert read_rules(out) == expected


def test_rues_inverse_then_compile(store_path: Path, tmp_path: Path) -> None:
    store = tmp_path / "copie.gpkg"
    shutil.copy(store_path, store)
    liste, regles = tmp_path / "liste.txt", tmp_path / "regles.yaml"
    res = run(store, "rues", "inverser", "QP075019", "-o", str(liste), "--regles", str(regles))
    assert res.exit_code == 0, res.output
    rules = read_rules(regles)
    assert f"{len(rules)} règles" in res.output
    text = liste.read_text(encoding="utf-8")
    assert text.startswith("QP075019 Les Portes Du Vingtième")
    assert all(r.street in text for r in rules)

    args = ["rues", "compiler", str(regles), "--code", "QP075019L", "--nom", "Portes du 20e (liste)",
            "--commune", "Paris 20e"]
    res = run(store, *args)
    assert res.exit_code == 0, res.output
    assert "Périmètre QP075019L « Portes du 20e (liste) » enregistré" in res.output
    assert f"compilé depuis une liste de rues ({len(rules)} règles" in res.output
    again = run(store, *args)
    assert again.exit_code == 1 and "--remplacer" in again.output
    assert run(store, *args, "--remplacer").exit_code == 0
    s = open_store(store, create=False)
    try:
        assert len(s.read("perimetres", where={"code": "QP075019L"})) == 1
    finally:
        s.close()
    # the list printed to the terminal when no file is given
    shown = run(store, "rues", "inverser", "QP075019")
    assert shown.exit_code == 0 and rules[0].street in shown.output
    assert run(store, "rues", "inverser", "QP999999").exit_code == 1


# --------------------------------------------------------------------------- qpv localiser


def _inside_addresses(frames: dict[str, gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    per = frames["per"]
    joined = gpd.sjoin(frames["addr"], per[per["code"] == "QP075019"][["geometry"]], predicate="within")
    return joined[joined["suffix"].isna() | (joined["suffix"] == "")]


def test_lookup_address_and_point(store_path: Path, frames: dict[str, gpd.GeoDataFrame]) -> None:
    row = _inside_addresses(frames).iloc[0]
    res = run(store_path, "localiser", f"{int(row['number'])} {row['street']}, 75020 Paris")
    assert res.exit_code == 0, res.output
    assert "QPV : QP075019 « Les Portes Du Vingtième » (géographie 2015)" in res.output
    assert "Motif : polygone" in res.output
    dist = float(re.search(r"limite du périmètre : (\d+) m", res.output).group(1))  # type: ignore[union-attr]
    boundary = frames["per"].loc[frames["per"]["code"] == "QP075019"].geometry.iat[0].boundary
    assert dist == pytest.approx(row.geometry.distance(boundary), abs=1.0)
    pt = gpd.GeoSeries([row.geometry], crs=2154).to_crs(4326).iat[0]
    res = run(store_path, "localiser", "--point", f"{pt.x:.7f},{pt.y:.7f}", "--json")
    assert res.exit_code == 0, res.output
    assert '"code": "QP075019"' in res.output and '"motif": "polygon"' in res.output
    missing = run(store_path, "localiser", "3 rue des Sapins Imaginaires, 75020 Paris")
    assert missing.exit_code == 0 and "Statut : introuvable" in missing.output
    bad = run(store_path, "localiser", "--point", "nord,sud")
    assert bad.exit_code == 1 and "illisible" in bad.output
    assert run(store_path, "localiser").exit_code == 1


def test_lookup_csv_batch(store_path: Path, frames: dict[str, gpd.GeoDataFrame], tmp_path: Path) -> None:
    inside = _inside_addresses(frames).sample(20, random_state=1)
    per = frames["per"]
    addr = frames["addr"]
    outside = addr[~addr.within(per[per["code"] == "QP075019"].geometry.iat[0].buffer(600))].sample(
        20, random_state=2)
    sample = pd.concat([inside, outside])
    ll = sample.to_crs(4326).geometry
    table = pd.DataFrame({
        "id": range(len(sample)),
        "adresse": [f"{int(n)} {s}, 75020 Paris"
                    for n, s in zip(sample["number"], sample["street"], strict=True)],
        "longitude": [f"{v:.7f}" for v in ll.x], "latitude": [f"{v:.7f}" for v in ll.y],
    })
    unknown = pd.DataFrame({"id": [99], "adresse": ["7 rue des Sapins Imaginaires, 75020 Paris"],
                            "longitude": [""], "latitude": [""]})
    table = pd.concat([table, unknown], ignore_index=True)
    src = tmp_path / "entree.csv"
    table.to_csv(src, sep=";", index=False)
    expected = ["QP075019"] * 20 + [""] * 20

    out = tmp_path / "sortie.csv"
    res = run(store_path, "localiser", "--csv", str(src), "-o", str(out), "--colonne-adresse", "adresse")
    assert res.exit_code == 0, res.output
    got = pd.read_csv(out, sep=";", dtype=str, keep_default_na=False)
    assert list(got.columns[:4]) == list(table.columns)
    assert got["id"].tolist() == [str(i) for i in table["id"]]
    assert got["qpv_code"].tolist()[:40] == expected
    assert got["qpv_statut"].iat[-1] == "introuvable"
    assert "20 dans_qpv" in res.output and "1 introuvable" in res.output

    out2 = tmp_path / "sortie-points.csv"
    res = run(store_path, "localiser", "--csv", str(src), "-o", str(out2), "--lon", "longitude",
              "--lat", "latitude")
    assert res.exit_code == 0, res.output
    got2 = pd.read_csv(out2, sep=";", dtype=str, keep_default_na=False)
    assert got2["qpv_code"].tolist()[:40] == expected
    assert got2["qpv_motif"].tolist()[:20] == ["polygone"] * 20
    assert got2["qpv_statut"].iat[-1] == "vide"
    bad = run(store_path, "localiser", "--csv", str(src), "-o", str(out2), "--colonne-adresse", "rue")
    assert bad.exit_code == 1 and "Colonne « rue » absente" in bad.output


# --------------------------------------------------------------------------- qpv rapport


def test_report_quartier_html_and_pdf(store_path: Path, frames: dict[str, gpd.GeoDataFrame],
                                      tmp_path: Path) -> None:
    folder = tmp_path / "rapports"
    res = run(store_path, "rapport", "--quartier", "QP075019", "--periode", PERIOD, "--sortie", str(folder))
    assert res.exit_code == 0, res.output
    html = folder / "rapport-QP075019-202309-202408.html"
    pdf = folder / "rapport-QP075019-202309-202408.pdf"
    assert html.exists() and pdf.exists()
    n = _count_in(_in_period(frames["obs"]), frames["per"], "QP075019")
    assert n > 10
    assert f"Événements dans le quartier : {n}\n" in res.output
    page = html.read_text(encoding="utf-8")
    assert "Les Portes Du Vingtième" in page and "Équipements et référentiels du quartier" in page
    assert pdf.read_bytes().startswith(b"%PDF")
    assert _ink(pdf, tmp_path) > 0.01


def test_report_whole_20e_and_territory(store_path: Path, frames: dict[str, gpd.GeoDataFrame],
                                        tmp_path: Path) -> None:
    folder = tmp_path / "rapports"
    res = run(store_path, "rapport", "--quartier", "75020", "--periode", PERIOD, "--sortie", str(folder),
              "--sans-pdf")
    assert res.exit_code == 0, res.output
    assert (folder / "rapport-75020-202309-202408.html").exists()
    assert not (folder / "rapport-75020-202309-202408.pdf").exists()
    n = _count_in(_in_period(frames["obs"]), frames["per"], "75020")
    assert n > 200
    assert f"Événements dans le quartier : {n}\n" in res.output

    res = run(store_path, "rapport", "--territoire", "--periode", PERIOD, "--sortie", str(folder),
              "--sans-pdf")
    assert res.exit_code == 0, res.output
    page = (folder / "rapport-territoire-202309-202408.html").read_text(encoding="utf-8")
    for code in ("QP075019", "QP094025", "QP093028", "75020"):
        assert code in page
    # Dans Ma Rue covers Paris only: the Champigny and Aubervilliers rows are unknown, not 0
    for code in ("QP094025", "QP093028"):
        assert _count_in(frames["obs"], frames["per"], code) == 0
        row = page.split(f"<td>{code}</td>")[1].split("</tr>")[0]
        assert row.count("<td>n.d.</td>") == 5, row
    assert "Aucune source d&#39;événements ne couvre 2 quartier(s) (QP094025, QP093028)" in page
    bad = run(store_path, "rapport", "--periode", PERIOD)
    assert bad.exit_code == 1 and "--quartier" in bad.output
    bad = run(store_path, "rapport", "--quartier", "QP075019", "--periode", "2024-08:2023-09")
    assert bad.exit_code == 1 and "la fin précède le début" in bad.output


def test_report_of_a_quiet_quartier(store_path: Path, frames: dict[str, gpd.GeoDataFrame],
                                    tmp_path: Path) -> None:
    """A real quartier with no event on the period gets its report, with the other sections filled.

    Two cases: Champigny (QP094025) lies outside the only source of events (Dans Ma Rue
    covers Paris): its counts are unknown, never 0. In QP075019, covered, a theme nobody
    reported this year: its count is a real 0.
    """
    folder = tmp_path / "rapports"
    obs, per = frames["obs"], frames["per"]
    # the Champigny QPV of the store has none of the Paris reports, of any theme or date
    assert _count_in(obs, per, "QP094025") == 0
    res = run(store_path, "rapport", "--quartier", "QP094025", "--periode", PERIOD, "--sortie", str(folder))
    assert res.exit_code == 0, res.output
    assert "Aucune source d'événements (dépôts sauvages) ne couvre ce quartier" in res.output
    assert "Événements dans le quartier : n.d.\n" in res.output
    assert "Mailles en point chaud (dans le quartier) : n.d.\n" in res.output
    assert "Sites récurrents (≥ 2 événements) : n.d.\n" in res.output
    counts = [line for line in res.output.splitlines() if line.strip().startswith(("Événements", "Sites"))]
    assert len(counts) == 5 and all(line.endswith(": n.d.") for line in counts), counts
    pdf = folder / "rapport-QP094025-202309-202408.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout \
        if shutil.which("pdftotext") else ""
    if text:
        flat = " ".join(text.split())
        assert "Aucune source d'événements (dépôts sauvages) ne couvre ce quartier" in flat
        assert "Équipements" in flat and "Indicateurs mensuels" not in flat
    assert _ink(pdf, tmp_path) > 0.005

    # a theme nobody reported in QP075019 this year: no map, but the observation indicators are there
    when = pd.to_datetime(obs["observed_at"])
    year = obs[(when >= "2023-09-01") & (when < "2024-09-01")]
    assert _count_in(year[year["theme"] == "encombrants"], per, "QP075019") == 0
    n_obs = _count_in(year, per, "QP075019")
    assert n_obs > 10
    res = run(store_path, "--entrepot", str(store_path), "rapport", "--quartier", "QP075019", "--periode",
              PERIOD, "--theme", "encombrants", "--sortie", str(folder), "--sans-pdf")
    assert res.exit_code == 0, res.output
    assert "Aucun événement (encombrants) sur la période" in res.output
    assert "Événements dans le quartier : 0\n" in res.output
    assert "Part des événements vus par une caméra : n.d.\n" in res.output
    assert f"Dysfonctionnements identifiés : {n_obs}\n" in res.output
    page = (folder / "rapport-QP075019-202309-202408-encombrants.html").read_text(encoding="utf-8")
    assert "data:image/png" not in page
    assert f"<td>Constats et signalements (période)</td><td>{n_obs}</td>" in page
    assert "Dysfonctionnements identifiés et traités" in page and "Diagnostics en marchant par an" in page


# --------------------------------------------------------------------------- qpv analyse


def test_analyse_points_chauds_stored_and_replaced(store_path: Path, tmp_path: Path) -> None:
    store = tmp_path / "copie.gpkg"
    shutil.copy(store_path, store)
    args = ["analyse", "points-chauds", "--couche", "observations", "--theme", THEME,
            "--quartier", "QP075019", "--periode", PERIOD]
    res = run(store, *args)
    assert res.exit_code == 0, res.output
    assert "Points chauds émergents" in res.output and "couche « analyses »" in res.output
    s = open_store(store, create=False)
    try:
        n = s.count("analyses")
        gi = s.read("analyses", where={"analysis": "points chauds"})
    finally:
        s.close()
    m = re.search(r"(\d+) mailles, (\d+) points chauds", res.output)
    assert m is not None and int(m.group(1)) == len(gi) > 0
    assert int(m.group(2)) == int((gi["category"] == "point chaud").sum())
    again = run(store, *args)
    assert again.exit_code == 0
    assert f"Le calcul précédent ({n} enregistrements) a été remplacé" in again.output
    s = open_store(store, create=False)
    try:
        assert s.count("analyses") == n
    finally:
        s.close()
    short = run(store, "analyse", "points-chauds", "--theme", THEME, "--quartier", "75020", "--periode",
                "2024-01:2024-03")
    assert short.exit_code == 0, short.output
    assert "non calculés" in short.output
    bad = run(store, "analyse", "points-chauds", "--theme", "inconnu", "--periode", PERIOD)
    assert bad.exit_code == 1 and "Thème inconnu" in bad.output


def test_coverage_and_hot_spot_statistics_options(store_path: Path, tmp_path: Path) -> None:
    """Issue 16 part B: ``qpv couverture`` declares where Dans Ma Rue reports; ``qpv rapport`` takes
    the permutation inference and Local Moran's I."""
    store = tmp_path / "copie.gpkg"
    shutil.copyfile(store_path, store)
    res = run(store, "couverture", "dansmarue-paris")
    assert res.exit_code == 0 and "aucune zone de couverture déclarée" in res.output
    bad = tmp_path / "degres.wkt"
    bad.write_text("POLYGON ((2.2 48.8, 2.5 48.8, 2.5 48.9, 2.2 48.8))", encoding="utf-8")
    res = run(store, "couverture", "dansmarue-paris", str(bad))
    assert res.exit_code != 0 and "Lambert-93" in res.output
    res = run(store, "couverture", "dansmarue-paris", str(DEMO / "paris" / "couverture-dansmarue-paris.wkt"))
    assert res.exit_code == 0, res.output
    assert re.search(r"zone de couverture déclarée \(10[0-9],[0-9] km²\)", res.output)
    folder = tmp_path / "rapports"
    res = run(store, "rapport", "--quartier", "75020", "--periode", PERIOD, "--sortie", str(folder),
              "--sans-pdf", "--inference", "permutations", "--permutations", "199", "--moran-local")
    assert res.exit_code == 0, res.output
    page = (folder / "rapport-75020-202309-202408.html").read_text(encoding="utf-8")
    assert "199 permutations conditionnelles" in page and "I de Moran local" in page
    assert "zone de couverture déclarée" in page
    res = run(store, "rapport", "--quartier", "75020", "--periode", PERIOD, "--permutations", "10")
    assert res.exit_code != 0 and "--permutations" in res.output
