"""Reports on the real Paris data: QP075019, the whole 20e, and the territory comparison.

The figures shown in the reports are checked against independent computations: a
plain ``sjoin`` for the counts, esda for the Gi* z-scores, camera distances for the
CCTV share.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import esda
import geopandas as gpd
import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely
from scipy.spatial import cKDTree

from geo.errors import AnalysisError
from geo.geometry import repair_polygons
from geo.stats.indicators import tracks_treatment
from geo.stats.report import Report, ReportOptions, build_quartier_report, build_territory_report
from webmap.documents import write_report
from webmap.documents.report import render_report_html


@pytest.fixture(scope="module")
def paris(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    """Dumping reports, QPV perimeters, CCTV sites and a 20e outline from the real files."""
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    df = df[df["type"] == "Objets abandonnés"]
    ll = df["geo_point_2d"].map(ast.literal_eval)
    dumping = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    qpv, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    cams = pd.read_csv(shared_data / "paris" / "videoprotection-paris-2019.csv", sep=";")
    cams = gpd.GeoDataFrame(cams, geometry=gpd.points_from_xy(cams["lon"], cams["lat"]), crs=4326)
    ban = pd.read_csv(
        shared_data / "paris" / "adresses-75.csv.gz", sep=";", usecols=["code_postal", "x", "y"]
    )
    ban = ban[ban["code_postal"] == 75020]
    hull = shapely.concave_hull(shapely.multipoints(ban[["x", "y"]].to_numpy()), ratio=0.05).buffer(30)
    twentieth = gpd.GeoDataFrame({"code": ["75020"], "name": ["Paris 20e"]}, geometry=[hull], crs=2154)
    return {"dumping": dumping, "qpv": qpv, "cams": cams, "twentieth": twentieth}


def _esda_z(bins: gpd.GeoDataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = libpysal.weights.Queen.from_dataframe(bins.reset_index(drop=True), use_index=False)
        return esda.G_Local(bins["count"].to_numpy(float), w, transform="B", star=True, permutations=0).Zs


def _count_within(points: gpd.GeoDataFrame, zone: gpd.GeoDataFrame) -> int:
    return len(gpd.sjoin(points.to_crs(2154), zone.to_crs(2154)[["geometry"]], predicate="within"))


@pytest.fixture(scope="module")
def qp_report(paris: dict[str, gpd.GeoDataFrame]) -> Report:
    return build_quartier_report(
        paris["dumping"], paris["qpv"], code="QP075019", options=ReportOptions(time_field="datedecl"),
        cameras=paris["cams"],
    )


def test_qp075019_figures_match_independent_computations(
    qp_report: Report, paris: dict[str, gpd.GeoDataFrame]
) -> None:
    dumping, qpv = paris["dumping"], paris["qpv"]
    zone = qpv[qpv["code"] == "QP075019"]
    kf = qp_report.key_figures
    assert kf["Événements dans le quartier"] == _count_within(dumping, zone) == 31
    margin = gpd.GeoDataFrame(geometry=zone.to_crs(2154).buffer(200.0), crs=2154)
    assert kf["Événements dans le quartier et sa marge"] == _count_within(dumping, margin)
    hot = qp_report.results["hotspots"]
    np.testing.assert_allclose(hot["gi_z"].to_numpy(), _esda_z(hot), atol=1e-9)
    cells = gpd.GeoDataFrame(geometry=[shapely.union_all(hot.geometry.to_numpy())], crs=2154)
    assert hot["count"].sum() == len(gpd.sjoin(dumping.to_crs(2154), cells, predicate="intersects"))
    # CCTV: 50 m discs without buildings -> share of events within 50 m of a camera
    inside = gpd.sjoin(dumping.to_crs(2154), zone.to_crs(2154)[["geometry"]], predicate="within")
    cam_xy = shapely.get_coordinates(paris["cams"].to_crs(2154).geometry.to_numpy())
    d, _ = cKDTree(cam_xy).query(shapely.get_coordinates(inside.geometry.to_numpy()))
    cctv = next(s for s in qp_report.sections if s.restricted == "videoprotection")
    share = next(v for label, v, _ in cctv.figures if label == "Part des événements vus par une caméra")
    assert abs(share * len(inside) - (d <= 50.0).sum()) <= ((d > 49.0) & (d < 50.0)).sum()
    monthly = next(t for k, t in qp_report.tables.items() if k.startswith("Indicateurs mensuels"))
    assert monthly["Événements"].sum() == 31
    assert len(monthly) == len(pd.period_range("2023-08", "2024-09", freq="M"))  # empty months shown as 0
    sites = qp_report.results["recurrence"].sites
    assert kf["Sites récurrents (≥ 2 événements)"] == int(
        ((sites["quartier"] == "QP075019") & (sites["n_events"] >= 2)).sum()
    )


def test_qp075019_html_and_pdf(qp_report: Report, tmp_path: Path) -> None:
    html_path, pdf, *_tables = write_report(qp_report, tmp_path, "qp")
    text = html_path.read_text(encoding="utf-8")
    assert "<html lang='fr'>" in text and "Les Portes Du Vingtième" in text
    assert "Note de méthode" in text and "Benjamini" in text and "Limites" in text
    assert text.count("data:image/png;base64,") == len(qp_report.figures) >= 3
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 20_000


def test_20e_wide_run(paris: dict[str, gpd.GeoDataFrame]) -> None:
    twentieth = paris["twentieth"]
    dumping = paris["dumping"]
    rep = build_quartier_report(
        dumping, twentieth, code="75020", options=ReportOptions(time_field="datedecl", margin=0.0),
        cameras=paris["cams"],
    )
    assert rep.key_figures["Événements dans le quartier"] == _count_within(dumping, twentieth)
    assert abs(rep.key_figures["Événements dans le quartier"] - (dumping["code_postal"] == 75020).sum()) <= 10
    hot = rep.results["hotspots"]
    np.testing.assert_allclose(hot["gi_z"].to_numpy(), _esda_z(hot), atol=1e-9)
    assert rep.key_figures["Mailles en point chaud (dans le quartier)"] > 0
    assert "emerging" in rep.results


def test_territory_report_compares_quartiers(paris: dict[str, gpd.GeoDataFrame], tmp_path: Path) -> None:
    rep = build_territory_report(paris["dumping"], paris["qpv"], options=ReportOptions(time_field="datedecl"))
    table = rep.tables["Comparaison des quartiers"].set_index("Quartier")
    joined = gpd.sjoin(paris["dumping"].to_crs(2154), paris["qpv"].to_crs(2154)[["code", "geometry"]],
                       predicate="within")
    for code, n in joined.groupby("code").size().items():
        assert table.loc[code, "Événements"] == n
    assert "Comparaison" in write_report(rep, tmp_path, "t", pdf=False)[0].read_text(encoding="utf-8")


def test_unknown_quartier(paris: dict[str, gpd.GeoDataFrame]) -> None:
    with pytest.raises(AnalysisError, match="introuvable"):
        build_quartier_report(paris["dumping"], paris["qpv"], code="QP999999",
                              options=ReportOptions(time_field="datedecl"))


def test_observation_indicators_in_the_report(paris: dict[str, gpd.GeoDataFrame]) -> None:
    # SIMULATED observations placed on the real QP075019 reports: delays of 0..9 days
    dumping, qpv = paris["dumping"], paris["qpv"]
    zone = qpv[qpv["code"] == "QP075019"]
    inside = gpd.sjoin(dumping.to_crs(2154), zone.to_crs(2154)[["geometry"]], predicate="within")
    n = len(inside)
    delay = np.arange(n) % 10
    observed = pd.to_datetime(inside["datedecl"]).to_numpy()
    obs = gpd.GeoDataFrame(
        {
            "observed_at": observed,
            "resolved_at": observed + pd.to_timedelta(delay, unit="D").to_numpy(),
            "status": np.where(np.arange(n) % 3 == 0, "en cours", "traité"),
            "walk_id": [f"w{i % 4}" for i in range(n)],
            "simulated": True,
        },
        geometry=inside.geometry.to_numpy(),
        crs=2154,
    )
    rep = build_quartier_report(dumping, qpv, code="QP075019", options=ReportOptions(time_field="datedecl"),
                                observations=obs)
    kf = rep.key_figures
    # every case resolved: the Kaplan-Meier quantile is the first delay whose empirical CDF reaches q
    assert kf["Délai médian de traitement (jours)"] == float(np.quantile(delay, 0.5, method="inverted_cdf"))
    p90 = float(np.quantile(delay, 0.9, method="inverted_cdf"))
    assert kf["Délai de traitement, 90e centile (jours)"] == p90
    assert kf["Constats encore ouverts à la date d'extraction"] == 0
    assert kf["Dysfonctionnements identifiés"] == n
    assert kf["Part des dysfonctionnements traités"] == pytest.approx(np.mean(np.arange(n) % 3 != 0))
    # no diagnostics layer given: the count is unknown, never inferred from the constats' walk ids
    diag = rep.tables["Diagnostics en marchant par an"]
    assert diag["Diagnostics (couche diagnostics)"].isna().all()
    assert kf["Diagnostics en marchant (période)"] is None


def test_untracked_treatment_is_unknown_not_zero(paris: dict[str, gpd.GeoDataFrame]) -> None:
    """Real Dans Ma Rue reports as exported: every one « transmis », no resolution date."""
    dumping, qpv = paris["dumping"], paris["qpv"]
    zone = qpv[qpv["code"] == "QP075019"]
    inside = gpd.sjoin(dumping.to_crs(2154), zone.to_crs(2154)[["geometry"]], predicate="within")
    obs = gpd.GeoDataFrame({"observed_at": pd.to_datetime(inside["datedecl"]).to_numpy(),
                            "resolved_at": pd.NaT, "status": "transmis", "walk_id": None},
                           geometry=inside.geometry.to_numpy(), crs=2154)
    assert not tracks_treatment(obs)
    assert tracks_treatment(obs.assign(status=["en cours", *["transmis"] * (len(obs) - 1)]))
    rep = build_quartier_report(dumping, qpv, code="QP075019", options=ReportOptions(time_field="datedecl"),
                                observations=obs)
    assert rep.key_figures["Dysfonctionnements identifiés"] == len(obs)
    assert rep.key_figures["Part des dysfonctionnements traités"] is None
    table = rep.tables["Dysfonctionnements identifiés et traités"]
    assert table["Traités"].isna().all() and table["Identifiés"].sum() == len(obs)
    assert any("ne suit pas leur traitement" in c for c in rep.caveats)
    html = render_report_html(rep)
    assert "0 %" not in html.split("Part des dysfonctionnements traités")[1][:200]


# --------------------------------------------------------------------------- quiet quartiers


def _pdf_text_and_ink(pdf: Path, tmp_path: Path) -> tuple[str, list[float]]:
    """The text of a PDF (pdftotext) and the share of dark pixels of each page (pdftoppm)."""
    import shutil
    import subprocess

    from PIL import Image

    if shutil.which("pdftoppm") is None or shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils is not installed")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True,
                   capture_output=True)
    ink = []
    for png in sorted(tmp_path.glob("page*.png")):
        with Image.open(png) as img:
            ink.append(float((np.asarray(img.convert("L"), dtype=float) < 200).mean()))
    return text, ink


def test_quartier_with_no_event_gets_its_report(paris: dict[str, gpd.GeoDataFrame], tmp_path: Path) -> None:
    dumping, qpv, cams = paris["dumping"], paris["qpv"], paris["cams"]
    # the Champigny QPV (real perimeter) has none of the Paris reports: a quiet quartier
    zone = qpv[qpv["code"] == "QP094025"]
    margin = gpd.GeoDataFrame(geometry=zone.to_crs(2154).buffer(200.0), crs=2154)
    assert _count_within(dumping, margin) == 0
    options = ReportOptions(time_field="datedecl", start="2023-09-01", end="2024-08-31")
    rep = build_quartier_report(dumping, qpv, code="QP094025", options=options, cameras=cams)
    kf = rep.key_figures
    assert kf["Événements dans le quartier"] == 0 and kf["Événements dans le quartier et sa marge"] == 0
    assert kf["Mailles en point chaud (dans le quartier)"] is None  # not computed, never 0
    assert kf["Mailles en point froid (dans le quartier)"] is None
    assert kf["Sites de dépôt (regroupés à 25 m)"] == 0 and kf["Sites récurrents (≥ 2 événements)"] == 0
    cctv = next(s for s in rep.sections if s.restricted == "videoprotection")
    assert dict((label, v) for label, v, _ in cctv.figures)["Part des événements vus par une caméra"] is None
    assert rep.figures == [] and "hotspots" not in rep.results and "emerging" not in rep.results
    assert len(rep.notes) == 1 and rep.notes[0].startswith("Aucun événement (dépôts sauvages) sur la période")
    monthly = next(t for k, t in rep.tables.items() if k.startswith("Indicateurs mensuels"))
    assert len(monthly) == 12 and (monthly["Événements"] == 0).all()
    assert "Sites les plus récurrents" not in rep.tables
    assert rep.method["Points chauds"].startswith("non calculés")
    html_path, pdf, *_tables = write_report(rep, tmp_path, "calme")
    html = html_path.read_text(encoding="utf-8")
    assert "data:image/png" not in html  # no empty matplotlib figure
    assert "Aucun événement (dépôts sauvages) sur la période" in html and "L&#39;Egalité" in html
    assert html.count(">n.d.<") >= 3
    text, ink = _pdf_text_and_ink(pdf, tmp_path)
    flat = " ".join(text.split())
    assert "Aucun événement (dépôts sauvages) sur la période" in flat
    assert "Indicateurs mensuels" in flat and "Note de méthode" in flat and "Chiffres clés" in flat
    assert all(share > 0.005 for share in ink)  # every page carries text, none is blank


def test_quartier_with_two_events_has_no_hotspot_map(paris: dict[str, gpd.GeoDataFrame]) -> None:
    dumping, qpv = paris["dumping"], paris["qpv"]
    zone = qpv[qpv["code"] == "QP075019"].to_crs(2154)
    inside = gpd.sjoin(dumping.to_crs(2154), zone[["geometry"]], predicate="within")
    inside = inside.drop(columns="index_right")
    two = inside.sort_values("datedecl").head(2)  # two real reports of the quartier, nothing around
    rep = build_quartier_report(two, qpv, code="QP075019", options=ReportOptions(time_field="datedecl"))
    kf = rep.key_figures
    assert kf["Événements dans le quartier"] == 2 and kf["Mailles en point chaud (dans le quartier)"] is None
    assert rep.notes and rep.notes[0].startswith("Trop peu d'événements (2)")
    assert [f.name for f in rep.figures] == ["mensuel"]  # the monthly chart has two real events
    monthly = next(t for k, t in rep.tables.items() if k.startswith("Indicateurs mensuels"))
    assert monthly["Événements"].sum() == 2


def test_territory_report_of_a_quiet_period(paris: dict[str, gpd.GeoDataFrame], tmp_path: Path) -> None:
    dumping, qpv = paris["dumping"], paris["qpv"]
    when = pd.to_datetime(dumping["datedecl"])
    assert not ((when >= "2021-01-01") & (when < "2021-07-01")).any()  # the sample starts in 2023
    options = ReportOptions(time_field="datedecl", start="2021-01-01", end="2021-06-30")
    rep = build_territory_report(dumping, qpv, options=options)
    table = rep.tables["Comparaison des quartiers"]
    assert list(table["Quartier"]) == list(qpv["code"]) and (table["Événements"] == 0).all()
    assert table["Mailles en point chaud"].isna().all() and table["Part de sites récurrents"].isna().all()
    assert rep.key_figures["Événements sur le territoire"] == 0
    assert rep.key_figures["Mailles en point chaud (dans les quartiers)"] is None
    assert rep.figures == [] and rep.notes == [
        "Aucun événement sur la période : pas de carte des points chauds ni de graphique."]
    html = write_report(rep, tmp_path, "t", pdf=False)[0].read_text(encoding="utf-8")
    assert "data:image/png" not in html and "Aucun événement sur la période" in html


def test_years_in_tables_have_no_thousands_separator() -> None:
    from webmap.documents.report import _table

    table = _table("Diagnostics", pd.DataFrame({"Année": [2023, 2024], "Constats": [1200, 3]}))
    assert table["rows"] == [["2023", "1\u202f200"], ["2024", "3"]]


def test_quartier_no_source_covers_has_unknown_counts(paris: dict[str, gpd.GeoDataFrame],
                                                      tmp_path: Path) -> None:
    """Outside every source of events (Dans Ma Rue is Paris only) the counts are n.d., never 0."""
    dumping, qpv = paris["dumping"], paris["qpv"]
    options = ReportOptions(time_field="datedecl", start="2023-09-01", end="2024-08-31", events_covered=False)
    rep = build_quartier_report(dumping, qpv, code="QP094025", options=options, cameras=paris["cams"])
    kf = rep.key_figures
    assert kf["Événements dans le quartier"] is None and kf["Événements dans le quartier et sa marge"] is None
    assert kf["Sites de dépôt (regroupés à 25 m)"] is None and kf["Sites récurrents (≥ 2 événements)"] is None
    assert not any(k.startswith("Indicateurs mensuels") for k in rep.tables)
    assert len(rep.notes) == 1 and rep.notes[0].startswith("Aucune source d'événements (dépôts sauvages)")
    html = write_report(rep, tmp_path, "hors-source", pdf=False)[0].read_text(encoding="utf-8")
    assert "Aucune source d&#39;événements" in html and ">0<" not in html.split("Chiffres clés")[1][:800]
