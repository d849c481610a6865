"""Rules ↔ perimeters on real data: Paris QP075019 with the BAN, the 12 Montpellier QPV
with the city's address points (polygon → street list → polygon round trip)."""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import to_territory_crs
from geo.errors import PerimeterRulesError
from geo.geometry import repair_polygons
from geo.perimeters.addressmatch import read_addresses
from geo.perimeters.rules import compile_perimeter, evaluate_rules, reverse_perimeter
from geo.perimeters.streetlist import Rule, format_street_list, parse_street_list

MONTPELLIER_CODES = [f"QP0340{n:02d}" for n in range(4, 16)]
logger = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def paris(shared_data: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    perimeters = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")
    return perimeters, read_addresses(shared_data / "paris" / "adresses-75.csv.gz")


@pytest.fixture(scope="module")
def montpellier(shared_data: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    occ = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    perimeters = occ[occ["commune_qp"] == "Montpellier"].rename(columns={"code_qp": "code", "nom_qp": "name"})
    path = shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip"
    points = read_addresses(path, commune="Montpellier")
    return perimeters, points


def _round_trip(perimeters: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame, code: str,
                **options: object) -> tuple[float, float, int, list[Rule]]:
    """Polygon → rules → polygon; return (agreement within 200 m, IoU, n addresses, rules)."""
    rules = reverse_perimeter(perimeters, addresses, code=code)
    compiled = compile_perimeter(rules, addresses, code=code, **options)  # type: ignore[arg-type]
    official, _ = repair_polygons(to_territory_crs(perimeters[perimeters["code"] == code]))
    og, cg = official.geometry.iloc[0], compiled.geometry.iloc[0]
    pts = addresses.geometry.to_numpy()
    near = shapely.distance(pts, og.boundary) <= 200
    x, y = shapely.get_coordinates(pts[near]).T
    agree = float(np.mean(shapely.contains_xy(og, x, y) == shapely.contains_xy(cg, x, y)))
    iou = og.intersection(cg).area / og.union(cg).area
    return agree, iou, int(near.sum()), rules


def test_paris_round_trip(paris: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    perimeters, ban = paris
    assert not perimeters.loc[perimeters["code"] == "QP075019"].geometry.iloc[0].is_valid  # repaired inside
    agree, iou, n, rules = _round_trip(perimeters, ban, "QP075019")
    logger.info("QP075019: agreement %.4f over %d addresses, IoU %.3f", agree, n, iou)
    assert n > 2000
    assert agree >= 0.995
    assert iou > 0.7
    streets = {r.street for r in rules}
    assert len(streets) == 62  # the 62 streets with an address inside (data README)
    assert all(r.qpv == "QP075019" and r.commune == "Paris 20e Arrondissement" for r in rules)
    kinds = {r.kind for r in rules}
    assert {"whole", "range"} <= kinds and "except" not in kinds
    assert any(r.parity != "all" for r in rules)
    # written as a town hall publishes it, and read back to the same rules
    text = format_street_list(rules)
    again = parse_street_list(text, commune="Paris 20e Arrondissement", qpv="QP075019").rules
    core = [(r.street, r.kind, r.from_number, r.to_number, r.parity) for r in rules]
    assert [(r.street, r.kind, r.from_number, r.to_number, r.parity) for r in again] == core


def test_montpellier_round_trip_all_twelve(montpellier: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    perimeters, points = montpellier
    assert sorted(perimeters["code"]) == MONTPELLIER_CODES
    results = {}
    for code in MONTPELLIER_CODES:
        agree, iou, n, rules = _round_trip(perimeters, points, code)
        results[code] = (agree, iou, n, len(rules))
        logger.info("%s: agreement %.4f over %d addresses, IoU %.3f, %d rules",
                    code, agree, n, iou, len(rules))
    assert all(a >= 0.995 for a, _, _, _ in results.values()), results
    assert all(iou > 0.4 for _, iou, _, _ in results.values()), results
    assert np.mean([iou for _, iou, _, _ in results.values()]) > 0.65


def test_centrelines_widen_the_perimeter(montpellier: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame],
                                         shared_data: Path) -> None:
    perimeters, points = montpellier
    streets = gpd.read_file(f"zip://{shared_data / 'montpellier' / 'VilleMTP_MTP_FilaireVoies.zip'}")
    code = "QP034005"
    rules = reverse_perimeter(perimeters, points, code=code)
    plain = compile_perimeter(rules, points, code=code)
    wide = compile_perimeter(rules, points, code=code, streets=streets)
    assert wide.geometry.iloc[0].area > plain.geometry.iloc[0].area
    assert wide.geometry.iloc[0].contains(plain.geometry.iloc[0].buffer(-0.01))
    assert "axes des voies" in wide["method"].iat[0]
    # the corridors never take an address the rules leave out
    pts = points.geometry.to_numpy()
    x, y = shapely.get_coordinates(pts).T
    a = shapely.contains_xy(plain.geometry.iloc[0], x, y)
    b = shapely.contains_xy(wide.geometry.iloc[0], x, y)
    assert (a == b).mean() > 0.999


def test_compiled_row_documents_itself(montpellier: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    perimeters, points = montpellier
    rules = reverse_perimeter(perimeters, points, code="QP034013")
    typo = Rule("Montpellier", "RUE DE LA POMPIGNAN", qpv="QP034013")  # fuzzy-matched? no: unknown
    unknown = Rule("Montpellier", "RUE QUI N EXISTE PAS", qpv="QP034013")
    row = compile_perimeter([*rules, unknown, typo], points, name="Pompignane")
    assert row.crs.to_epsg() == 2154 and len(row) == 1
    assert row["code"].iat[0] == "QP034013" and row["geography"].iat[0] == "2015"
    assert row["name"].iat[0] == "Pompignane"
    assert "Voronoï" in row["method"].iat[0]
    assert "RUE QUI N EXISTE PAS" in row["unmatched_streets"].iat[0]
    assert row["n_rules"].iat[0] == len(rules) + 2
    assert row.geometry.iloc[0].geom_type == "MultiPolygon" and row.geometry.iloc[0].is_valid


def test_evaluate_rules_semantics() -> None:
    rules = [
        Rule("Lillers", "RUE DE VERDUN", kind="range", to_number=38, qpv="QP062057"),
        Rule("Lillers", "BD DE PARIS", kind="range", from_number=2, to_number=40, parity="even",
             qpv="QP062057"),
        Rule("Lillers", "RUE DE LA PAIX", qpv="QP062057"),
        Rule("Lillers", "RUE DE LA PAIX", kind="except", from_number=3, to_number=9, qpv="QP062057"),
        Rule("Lillers", "PLACE DES FFI", kind="partial", qpv="QP062057"),
    ]
    frame = pd.DataFrame({
        "commune_key": ["LILLERS"] * 10 + ["ARRAS"],
        "street_key": ["RUE VERDUN", "RUE VERDUN", "RUE VERDUN", "BOULEVARD PARIS", "BOULEVARD PARIS",
                       "RUE PAIX", "RUE PAIX", "RUE PAIX", "PLACE FFI", "RUE INCONNUE", "RUE VERDUN"],
        "number": pd.array([38, 39, None, 12, 13, 2, 5, None, 7, 1, 2], dtype="Int64"),
    }, index=list("abcdefghijk"))
    out = evaluate_rules(rules, frame)
    assert out.index.tolist() == list("abcdefghijk")
    assert out["rule_qpv"].tolist() == [
        "QP062057", "", "", "QP062057", "", "QP062057", "", "QP062057", "QP062057", "", ""]
    assert out["rule_decided"].tolist() == [True, True, False] + [True] * 8
    assert out["rule_street"].tolist() == [True] * 9 + [False, False]
    assert not out["rule_ambiguous"].any()
    overlapping = [*rules, Rule("Lillers", "RUE DE VERDUN", qpv="QP062999")]
    assert evaluate_rules(overlapping, frame)["rule_ambiguous"].tolist()[:2] == [True, False]


def test_errors(montpellier: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]) -> None:
    perimeters, points = montpellier
    with pytest.raises(PerimeterRulesError, match="Aucune règle"):
        compile_perimeter([], points)
    with pytest.raises(PerimeterRulesError, match="aucune adresse"):
        compile_perimeter([Rule("Montpellier", "RUE INEXISTANTE", qpv="QPX")], points)
    with pytest.raises(PerimeterRulesError, match="Un seul périmètre"):
        reverse_perimeter(perimeters, points)
    far = shapely.box(0, 0, 10, 10)
    with pytest.raises(PerimeterRulesError, match="Aucune adresse"):
        reverse_perimeter(far, points, code="QPX")
    with pytest.raises(ValueError, match="standardis"):
        reverse_perimeter(far, gpd.GeoDataFrame({"street": ["x"]}), code="QPX")
