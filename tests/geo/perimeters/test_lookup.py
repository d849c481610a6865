"""Address / point → QPV on real data (Paris BAN, QP075019 and its street rules; Lillers list)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import to_territory_crs
from geo.errors import GeometryError, QPVLookupError
from geo.geometry import repair_polygons
from geo.perimeters.addressmatch import read_addresses
from geo.perimeters.lookup import (
    LOOKUP_COLUMNS,
    AddressColumns,
    LookupIndex,
    build_index,
    lookup_address,
    lookup_many,
    lookup_point,
)
from geo.perimeters.rules import reverse_perimeter
from geo.perimeters.streetlist import Rule, parse_street_list


@pytest.fixture(scope="module")
def paris(shared_data: Path) -> dict[str, Any]:
    perimeters = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")
    raw = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", low_memory=False,
                      dtype={"numero": "Int64"})
    ban = read_addresses(shared_data / "paris" / "adresses-75.csv.gz")
    rules = reverse_perimeter(perimeters, ban, code="QP075019")
    return {"perimeters": perimeters, "raw": raw, "ban": ban, "rules": rules,
            "index": build_index(perimeters, rules=rules, addresses=ban)}


@pytest.fixture(scope="module")
def lillers(shared_data: Path) -> LookupIndex:
    text = (shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt").read_text(encoding="utf-8")
    return build_index(None, rules=parse_street_list(text).rules)


def test_batch_on_the_20th_arrondissement(paris: dict[str, Any]) -> None:
    raw = paris["raw"]
    assert isinstance(raw, pd.DataFrame)
    sample = raw[raw["code_insee"] == 75120].set_index("id")
    before = sample.copy()
    calls: list[tuple[int, int]] = []
    out = lookup_many(sample, paris["index"], chunk_size=5000,
                      progress=lambda done, total: calls.append((done, total)))
    pd.testing.assert_frame_equal(sample, before)  # input untouched
    assert out.index.equals(sample.index) and type(out) is pd.DataFrame
    assert out.columns.tolist() == [*sample.columns, *LOOKUP_COLUMNS]
    assert calls[-1] == (len(sample), len(sample)) and len(calls) == -(-len(sample) // 5000)
    # polygon answers are those of a plain point-in-polygon on the repaired polygon
    official, _ = repair_polygons(to_territory_crs(paris["perimeters"]))
    geom = official.loc[official["code"] == "QP075019"].geometry.iloc[0]
    inside = shapely.contains_xy(geom, sample["x"].to_numpy(float), sample["y"].to_numpy(float))
    assert ((out["qpv_polygon"] == "QP075019").to_numpy() == inside).all()
    assert inside.sum() == 889  # data README: 889 addresses in QP075019
    # rules derived from that polygon agree with it almost everywhere, and say so when not
    assert (out["qpv_reason"] == "both").sum() >= 880
    dis = out[out["qpv_disagree"]]
    assert 0 < len(dis) <= 10
    assert (dis["qpv_polygon"].astype(str) != dis["qpv_rule"].astype(str)).all()
    assert dis["qpv_detail"].str.contains("ne concordent pas").all()
    # distances: inside or near the boundary only
    d = out["qpv_distance_m"]
    assert (d[out["qpv_reason"] == "both"] >= 0).all()
    assert d.max() <= 200 and d.isna().sum() > 0
    assert set(out["qpv_status"].unique()) <= {"inside", "outside"}
    assert set(out.loc[out["qpv_code"] == "QP075019", "qpv_name"]) == {"Les Portes Du Vingtième"}
    assert set(out.loc[out["qpv_code"] == "QP075019", "qpv_geography"]) == {"2015"}


def test_points_one_at_a_time(paris: dict[str, Any]) -> None:
    index = paris["index"]
    assert isinstance(index, LookupIndex)
    official, _ = repair_polygons(to_territory_crs(paris["perimeters"]))
    geom = official.loc[official["code"] == "QP075019"].geometry.iloc[0]
    inner = geom.representative_point()
    res = lookup_point(inner, index)
    assert (res.code, res.status, res.reason, res.rule) == ("QP075019", "inside", "polygon", None)
    assert res.distance_m == pytest.approx(geom.boundary.distance(inner), abs=0.1)
    lonlat = gpd.GeoSeries([inner], crs=2154).to_crs(4326).iloc[0]
    assert lookup_point((lonlat.x, lonlat.y), index, crs="EPSG:4326").code == "QP075019"
    edge = geom.boundary.interpolate(0.3, normalized=True)
    steps = [shapely.Point(edge.x + dx, edge.y + dy) for dx, dy in ((60, 0), (-60, 0), (0, 60), (0, -60))]
    outside = next(p for p in steps if not geom.contains(p))
    near = lookup_point(outside, index)
    assert near.status == "outside" and near.code == "" and near.reason == "polygon"
    assert near.distance_m == pytest.approx(geom.boundary.distance(outside), abs=0.1)
    assert 0 < near.distance_m <= 60
    far = lookup_point((770_000, 6_280_000), index)  # Montpellier
    assert far.status == "outside" and np.isnan(far.distance_m)
    with pytest.raises(GeometryError):
        lookup_point(shapely.box(0, 0, 1, 1), index)


def test_text_addresses(paris: dict[str, Any]) -> None:
    index = paris["index"]
    assert isinstance(index, LookupIndex)
    raw = paris["raw"]
    assert isinstance(raw, pd.DataFrame)
    x, y = raw["x"].to_numpy(float), raw["y"].to_numpy(float)
    official, _ = repair_polygons(to_territory_crs(paris["perimeters"]))
    geom = official.loc[official["code"] == "QP075019"].geometry.iloc[0]
    row = raw[shapely.contains_xy(geom, x, y) & raw["rep"].isna()].iloc[0]
    text = f"{row['numero']} {row['nom_voie']}, {row['code_postal']} Paris"
    res = lookup_address(text, index)
    assert (res.code, res.status, res.reason, res.disagree) == ("QP075019", "inside", "both", False)
    bis = f"{row['numero']} bis {row['nom_voie']}, {row['code_postal']} Paris"
    assert lookup_address(bis, index).code == "QP075019"
    # a number beyond the last address of a street kept « à partir du n° … »: the rules answer
    open_rule = next(r for r in paris["rules"]
                     if r.kind == "range" and r.to_number is None and r.from_number is not None)
    big = 9998 if open_rule.parity != "odd" else 9999
    res = lookup_address(f"{big} {open_rule.street}, 75020 Paris", index)
    assert (res.status, res.reason, res.code, res.polygon) == ("inside", "street_rule", "QP075019", None)
    assert "Numéro absent" in res.detail
    assert lookup_address("1 rue qui n'existe pas, 75020 Paris", index).status == "not_found"
    assert lookup_address("12 rue de Belleville", index).status == "ambiguous"
    assert lookup_address("", index).status == "empty"
    assert lookup_address(None, index).status == "empty"
    batch = lookup_many(pd.DataFrame({"adresse": [text, "", "12 rue de Belleville"]}, index=[5, 6, 7]), index,
                        columns=AddressColumns(address="adresse"))
    assert batch["qpv_status"].tolist() == ["inside", "empty", "ambiguous"]
    assert batch.index.tolist() == [5, 6, 7]


def test_street_list_only_lillers(lillers: LookupIndex) -> None:
    cases = {
        "12 rue de Verdun": ("inside", "street_rule", "QP062057"),
        "38 rue de Verdun": ("inside", "street_rule", "QP062057"),
        "40 rue de Verdun": ("outside", "street_rule", ""),
        "12 bis rue de Verdun": ("inside", "street_rule", "QP062057"),
        "12-14 RUE DE VERDUN": ("inside", "street_rule", "QP062057"),
        "9999 rue de Verdun": ("outside", "street_rule", ""),  # beyond the cut-off
        "3 Bd de Paris, 62190 Lillers": ("inside", "street_rule", "QP062057"),
        "150 rue Pasteur": ("inside", "street_rule", "QP062057"),  # whole street: any number
        "1 rue Inconnue": ("outside", "street_rule", ""),  # every perimeter has its list
        "rue de Verdun": ("not_found", "", ""),  # partial street without number
        "": ("empty", "", ""),
    }
    for text, expected in cases.items():
        res = lookup_address(text, lillers, commune="Lillers")
        assert (res.status, res.reason, res.code) == expected, text
    assert lookup_address("12 rue de Verdun", lillers, commune="Lillers").geography == "2015"
    # the same street in another commune is not in the list
    assert lookup_address("12 rue de Verdun", lillers, commune="Béthune").code == ""


def test_batch_columns_with_text_numbers(lillers: LookupIndex) -> None:
    frame = pd.DataFrame({"voie": ["RUE DE VERDUN", "rue de verdun", None, "Rue Pasteur"],
                          "num": ["12 bis", "40", "3", None], "ville": ["Lillers"] * 4})
    out = lookup_many(frame, lillers, columns=AddressColumns(street="voie", number="num", commune="ville"))
    assert out["qpv_code"].tolist() == ["QP062057", "", "", "QP062057"]
    assert out["qpv_status"].tolist() == ["inside", "outside", "empty", "inside"]
    with pytest.raises(QPVLookupError, match="absente"):
        lookup_many(frame, lillers, columns=AddressColumns(street="rue"))


def test_disagreement_and_overlap_flags(paris: dict[str, Any]) -> None:
    raw = paris["raw"]
    assert isinstance(raw, pd.DataFrame)
    # a rule putting a street of the 1st arrondissement in QP075019: rules and polygon disagree
    extra = Rule("Paris 1er Arrondissement", "AVENUE DU GENERAL LEMONNIER", qpv="QP075019")
    rules = [*paris["rules"], extra]
    index = build_index(paris["perimeters"], rules=rules)
    out = lookup_many(raw.iloc[:4], index)
    assert out["qpv_disagree"].all()
    assert (out["qpv_reason"] == "street_rule").all() and (out["qpv_code"] == "QP075019").all()
    assert (out["qpv_polygon"] == "").all()
    # two overlapping perimeters: ambiguous
    perimeters = paris["perimeters"]
    assert isinstance(perimeters, gpd.GeoDataFrame)
    twice = pd.concat([perimeters, perimeters.iloc[[0]].assign(code="QP075999")], ignore_index=True)
    inner = repair_polygons(to_territory_crs(perimeters))[0].geometry.iloc[0].representative_point()
    res = lookup_point(inner, build_index(gpd.GeoDataFrame(twice, crs=perimeters.crs)))
    assert res.status == "ambiguous" and res.code == "QP075019"


def test_index_errors() -> None:
    with pytest.raises(QPVLookupError, match="Aucun périmètre"):
        build_index(None)
    with pytest.raises(QPVLookupError, match="code"):
        build_index(gpd.GeoDataFrame({"x": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=2154))


def test_row_order_does_not_change_answers(paris: dict[str, Any]) -> None:
    raw = paris["raw"]
    sample = raw[raw["code_insee"].isin([75119, 75120])]
    shuffled = sample.sample(frac=1.0, random_state=7)
    a = lookup_many(sample, paris["index"])
    b = lookup_many(shuffled, paris["index"]).loc[sample.index]
    for col in ("qpv_code", "qpv_rule", "qpv_reason", "qpv_status", "qpv_disagree"):
        assert a[col].astype(object).fillna("-").tolist() == b[col].astype(object).fillna("-").tolist(), col
    assert (a["qpv_rule"] == "QP075019").sum() > 800
