"""The camera section of a quartier report, restricted to the readers of ``videoprotection``, and
the version of a report for a reader (:func:`geo.stats.report.for_reader`); real Paris data."""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo.geometry import repair_polygons
from geo.stats.report import (
    CCTV_LAYER,
    Report,
    ReportOptions,
    build_quartier_report,
    for_reader,
    restricted_layers,
)

CODE = "QP075019"


@pytest.fixture(scope="module")
def paris(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    df = pd.read_csv(shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv")
    df = df[df["type"] == "Objets abandonnés"]
    ll = df["geo_point_2d"].map(ast.literal_eval)
    dumping = gpd.GeoDataFrame(
        df, geometry=gpd.points_from_xy(ll.map(lambda d: d["lon"]), ll.map(lambda d: d["lat"])), crs=4326
    )
    qpv, _ = repair_polygons(gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson"))
    cams = pd.read_csv(shared_data / "paris" / "videoprotection-paris-2019.csv", sep=";")
    cams = gpd.GeoDataFrame(cams, geometry=gpd.points_from_xy(cams["lon"], cams["lat"]), crs=4326)
    return {"dumping": dumping, "qpv": qpv, "cams": cams}


def _report(paris: dict[str, gpd.GeoDataFrame], cameras: gpd.GeoDataFrame | None) -> Report:
    return build_quartier_report(paris["dumping"], paris["qpv"], code=CODE, cameras=cameras,
                                 options=ReportOptions(time_field="datedecl"))


def _mentions_cameras(report: Report) -> list[str]:
    texts = [*report.key_figures, *report.tables, *report.method, *map(str, report.method.values()),
             *report.caveats, *report.notes]
    return [t for t in texts if "caméra" in t.lower() or "vidéoprotection" in t.lower()]


def test_every_camera_figure_is_in_the_restricted_section(paris: dict[str, gpd.GeoDataFrame]) -> None:
    report = _report(paris, paris["cams"])
    assert _mentions_cameras(report) == []
    [cctv] = [s for s in report.sections if s.restricted == CCTV_LAYER]
    figures = {label: value for label, value, _ in cctv.figures}
    zone = paris["qpv"][paris["qpv"]["code"] == CODE].to_crs(2154)
    inside = gpd.sjoin(paris["cams"].to_crs(2154), zone[["geometry"]], predicate="within")
    assert figures["Nombre de sites de vidéoprotection en service dans le quartier"] == len(inside) > 0
    assert figures["Portée des caméras (m)"] == 50.0
    assert figures["Part des événements vus par une caméra"] == report.results["cctv"].share_events_seen
    assert any(n.startswith("Part couverte") for n in cctv.notes)  # the coverage notes (cctv_notes)
    assert any(n.startswith("Portée") for n in cctv.notes)
    assert restricted_layers(report) == (CCTV_LAYER,)


def test_no_camera_layer_means_no_section_and_no_camera_known_is_unknown(
    paris: dict[str, gpd.GeoDataFrame]
) -> None:
    assert [s for s in _report(paris, None).sections if s.restricted] == []
    empty = paris["cams"].iloc[0:0]
    [cctv] = [s for s in _report(paris, empty).sections if s.restricted == CCTV_LAYER]
    # none known: none there, or a layer that does not cover the quartier -- unknown, never 0
    assert cctv.figures == [("Nombre de sites de vidéoprotection en service dans le quartier", None,
                             "aucun site connu autour du quartier")]
    assert cctv.notes[0].startswith("Aucun site de vidéoprotection en service n'est connu autour du quartier")


def test_version_for_a_reader(paris: dict[str, gpd.GeoDataFrame]) -> None:
    report = _report(paris, paris["cams"])
    readable = ["perimetres", "observations"]
    mine = for_reader(report, readable, readers={CCTV_LAYER: ("technicien", "administrateur")})
    [notice] = [s for s in mine.sections if s.restricted == CCTV_LAYER]
    assert notice.withheld and not notice.figures and not notice.tables
    assert notice.notes[0].startswith("Section vidéoprotection : diffusion restreinte, consultable par les "
                                      "rôles technicien et administrateur.")
    assert restricted_layers(mine) == () and "cctv" not in mine.results and "hotspots" in mine.results
    # the full report is untouched; a reader of the layer keeps the section, roles attached
    assert restricted_layers(report) == (CCTV_LAYER,)
    theirs = for_reader(report, [*readable, CCTV_LAYER], readers={CCTV_LAYER: ("administrateur",)})
    [kept] = [s for s in theirs.sections if s.restricted == CCTV_LAYER]
    assert not kept.withheld and kept.readers == ("administrateur",) and kept.figures
    assert theirs.results["cctv"] is report.results["cctv"]
    # a withheld section never comes back, whoever reads the version
    assert restricted_layers(for_reader(mine, None)) == ()
