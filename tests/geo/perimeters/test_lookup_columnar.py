"""The columnar ``lookup_many`` answers exactly as the lookup it replaced (frozen under ``legacy/``).

Every answer column (polygon, rules, disagreement, reason, distance, status, detail) is
compared, frame against frame, with the implementation of commit 515a5f6 on the same index:
all 158,048 Paris BAN points with the 488 street rules of the lookup benchmark (QP075019 from the
Paris BAN, the 12 Montpellier QPV from the city's address points), the Lillers street list
(OCR'd, no geodata), and tables made messy on purpose (no points, missing or « 12 bis » numbers,
accents and odd spacing, unknown communes, overlapping rules of two QPV, a territory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.crs import to_territory_crs
from geo.geometry import repair_polygons
from geo.perimeters.addressmatch import read_addresses
from geo.perimeters.lookup import AddressColumns, build_index, lookup_many
from geo.perimeters.rules import reverse_perimeter
from geo.perimeters.streetlist import Rule, parse_street_list
from geo.perimeters.territory import build_territory
from tests.geo.perimeters.legacy.lookup_515a5f6 import lookup_many as legacy_lookup_many


@pytest.fixture(scope="module")
def bench_data(shared_data: Path) -> dict[str, Any]:
    """The lookup benchmark's perimeters (15) and rules (488), and the raw Paris BAN."""
    paris = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")[["code", "name", "geometry"]]
    occ = gpd.read_file(shared_data / "montpellier" / "qp-occitanie-2015.geojson")
    mtp = occ[occ["commune_qp"] == "Montpellier"].rename(columns={"code_qp": "code", "nom_qp": "name"})
    both = gpd.GeoDataFrame(pd.concat([mtp[["code", "name", "geometry"]], paris], ignore_index=True),
                            geometry="geometry", crs=paris.crs)
    ban = read_addresses(shared_data / "paris" / "adresses-75.csv.gz")
    mtp_points = read_addresses(shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip",
                                commune="Montpellier")
    rules = reverse_perimeter(both, ban, code="QP075019")
    for code in both["code"]:
        if code.startswith("QP034"):
            rules += reverse_perimeter(both, mtp_points, code=code)
    repaired, _ = repair_polygons(to_territory_crs(both))
    raw = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", low_memory=False,
                      dtype={"numero": "Int64"})
    return {"perimeters": repaired, "rules": rules, "raw": raw, "ban": ban}


def _same(data: pd.DataFrame, index: Any, **kwargs: Any) -> pd.DataFrame:
    new = lookup_many(data, index, **kwargs)
    old = legacy_lookup_many(data, index, **kwargs)
    pd.testing.assert_frame_equal(new, old)
    return new


def _messy_names(names: pd.Series, rng: np.random.Generator) -> pd.Series:
    """Street names as people type them: lower case, no accents, doubled spaces, abbreviations."""
    text = names.astype(object).where(names.notna(), "").astype(str).to_numpy(dtype=object)
    pick = rng.integers(0, 6, len(text))
    out = text.copy()
    out[pick == 1] = [t.lower() for t in text[pick == 1]]
    out[pick == 2] = [t.upper().replace("É", "E").replace("È", "E") for t in text[pick == 2]]
    out[pick == 3] = ["  " + t.replace(" ", "   ") + " " for t in text[pick == 3]]
    out[pick == 4] = [t.replace("Rue ", "R. ").replace("Boulevard ", "Bd ").replace("Avenue ", "Av ")
                      for t in text[pick == 4]]
    out[pick == 5] = [t.replace("Saint", "St").replace("-", " - ") for t in text[pick == 5]]
    return pd.Series(out, index=names.index, dtype=object)


def _messy_numbers(numbers: pd.Series, rng: np.random.Generator) -> pd.Series:
    """House numbers as text: « 12 bis », « 12-14 », « 0 », blank, missing, « n° 7 »."""
    nums = numbers.astype("Int64").astype(object).where(numbers.notna(), None)
    out = np.array(["" if v is None else str(v) for v in nums], dtype=object)
    pick = rng.integers(0, 8, len(out))
    out[pick == 1] = [f"{v} bis" for v in out[pick == 1]]
    out[pick == 2] = [f"{v}-{v}4" for v in out[pick == 2]]
    out[pick == 3] = "0"
    out[pick == 4] = ""
    out[pick == 5] = None
    out[pick == 6] = [f" {v}ter" for v in out[pick == 6]]
    out[pick == 7] = [f"n° {v}" for v in out[pick == 7]]
    return pd.Series(out, index=numbers.index, dtype=object)


@pytest.mark.slow
def test_all_paris_ban_points_with_the_bench_rules(bench_data: dict[str, Any]) -> None:
    raw = bench_data["raw"]
    index = build_index(bench_data["perimeters"], rules=bench_data["rules"])
    assert len(bench_data["rules"]) == 488 and len(raw) == 158_048
    out = _same(raw, index)  # x / y columns, Arrow-backed text
    points = gpd.GeoDataFrame(raw, geometry=gpd.points_from_xy(raw["x"], raw["y"]), crs="EPSG:2154")
    _same(points, index)
    # the comparison is not vacuous: every kind of answer is there
    assert (out["qpv_status"] == "inside").sum() >= 889
    assert out["qpv_disagree"].sum() > 0
    assert set(out["qpv_reason"].astype(str)) >= {"both", "polygon"}
    assert np.isfinite(out["qpv_distance_m"].to_numpy()).sum() > 1000
    # without rules, no street is read at all, and the answers are still the old ones
    _same(raw, build_index(bench_data["perimeters"]))


@pytest.mark.parametrize("distance", [30.0, 1000.0])
def test_distance_limits_and_object_columns(bench_data: dict[str, Any], distance: float) -> None:
    """Other distance limits change the grid's cells; object columns take the non-Arrow path."""
    raw = bench_data["raw"].iloc[::3]
    index = build_index(bench_data["perimeters"], rules=bench_data["rules"], max_distance_m=distance)
    frame = raw.astype({"nom_voie": object, "nom_commune": object})
    out = _same(frame, index)
    assert np.isfinite(out["qpv_distance_m"].to_numpy()).any()


def test_messy_paris_table_with_overlapping_rules_and_territory(bench_data: dict[str, Any]) -> None:
    rng = np.random.default_rng(18)
    raw = bench_data["raw"]
    rows = raw[raw["code_postal"].isin([75020, 75019, 75011])].sample(30_000, random_state=18)
    messy = pd.DataFrame({
        "nom_voie": _messy_names(rows["nom_voie"], rng),
        "numero": _messy_numbers(rows["numero"], rng),
        "nom_commune": np.where(rng.random(len(rows)) < 0.1, "", rows["nom_commune"].to_numpy(dtype=object)),
        "x": np.where(rng.random(len(rows)) < 0.4, np.nan, rows["x"].to_numpy(dtype=float)),
        "y": rows["y"].to_numpy(dtype=float),
    }, index=rows.index)
    messy.loc[messy.index[:50], "nom_commune"] = "Lyon 3e Arrondissement"  # a commune no rule names
    messy.loc[messy.index[50:80], "nom_voie"] = None
    messy.loc[messy.index[80:100], ["nom_voie", "numero"]] = ["   ", None]
    rules: list[Rule] = list(bench_data["rules"])
    twenty = [r for r in rules if r.qpv == "QP075019"][:10]
    # a second QPV claiming the same streets (both in the rules: ambiguous, first one kept)
    rules += [Rule(qpv="QP075099", commune=r.commune, street=r.street, kind="range", from_number=1,
                   to_number=40, parity="even") for r in twenty]
    rules += [Rule(qpv="QP075019", commune="Paris", street=twenty[0].street, kind="except", from_number=2,
                   to_number=6)]
    perimeters = bench_data["perimeters"]
    ban = bench_data["ban"]
    territory = build_territory(perimeters=perimeters, addresses=ban[ban["commune_key"].str.contains("20E")])
    for index in (build_index(perimeters, rules=rules),
                  build_index(perimeters, rules=rules, territory=territory)):
        out = _same(messy, index)
        assert out["qpv_status"].astype(str).nunique() >= 4
        assert (out["qpv_status"] == "ambiguous").any()
        _same(messy, index, commune="Paris")
        _same(messy.drop(columns="nom_commune"), index, commune="Paris 20e Arrondissement")
        _same(messy.astype({"nom_voie": "str", "numero": "str"}), index, chunk_size=7_000)


def test_lillers_street_list(shared_data: Path) -> None:
    """The OCR'd Lillers list (rules only, no geodata) on its own streets written every way."""
    text = (shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt").read_text(encoding="utf-8")
    rules = parse_street_list(text).rules
    index = build_index(None, rules=rules)
    rng = np.random.default_rng(62)
    streets = pd.Series([r.street for r in rules] * 40, dtype=object)
    numbers = pd.Series(rng.integers(1, 120, len(streets)), dtype="Int64")
    table = pd.DataFrame({
        "nom_voie": _messy_names(streets, rng),
        "numero": _messy_numbers(numbers, rng),
        "nom_commune": rng.choice(np.array(["Lillers", "LILLERS", "lillers ", "", "Béthune"], dtype=object),
                                  len(streets)),
    })
    table.loc[:30, "nom_voie"] = ["Rue Inconnue"] * 31
    out = _same(table, index)
    assert {"inside", "outside", "not_found"} <= set(out["qpv_status"].astype(str))
    _same(table.drop(columns="nom_commune"), index, commune="Lillers")
    _same(table.drop(columns="nom_commune"), index)
    # free-text addresses take the same decision code
    texts = pd.DataFrame({"adresse": [f"{n} {s}, 62190 Lillers" for n, s in
                                      zip(table["numero"].fillna(""), table["nom_voie"], strict=True)][:300]})
    _same(texts, index, columns=AddressColumns(address="adresse"))


@pytest.mark.parametrize("distance", [200.0, 35.0])
def test_grid_cells_never_contradict_the_exact_tests(bench_data: dict[str, Any], distance: float) -> None:
    """Random points over every neighbourhood: a cell that answers alone answers as the exact tests."""
    from geo.perimeters._columnar import MIXED, OUTSIDE, cell_grid

    index = build_index(bench_data["perimeters"], max_distance_m=distance)
    geoms = index.perimeters.geometry.to_numpy()
    rng = np.random.default_rng(7)
    decided = 0
    for box, members in index.groups:
        grid = cell_grid(box, members, geoms, index.boundaries, distance)
        x = rng.uniform(box[0], box[2], 40_000)
        y = rng.uniform(box[1], box[3], 40_000)
        classes = grid.lookup(x, y)
        assert set(np.unique(classes).tolist()) <= {MIXED, OUTSIDE, *members}
        points = gpd.points_from_xy(x, y)
        for i in members:
            inside = shapely.contains_xy(geoms[i], x, y)
            near = shapely.distance(index.boundaries[i], points) <= distance
            clear = classes != MIXED
            # a cell that answers alone: inside exactly the perimeter it names, never near a boundary
            assert not (clear & near).any()
            assert np.array_equal(inside[clear], classes[clear] == i)
        decided += int((classes != MIXED).sum())
    assert decided > 0.3 * 40_000 * len(index.groups)  # the grid does spare most points


def test_answer_columns_added_as_assign_adds_them(bench_data: dict[str, Any]) -> None:
    """Plain frames get the columns in one concatenation, the others by ``assign``: same frames."""
    raw = bench_data["raw"].iloc[::40]
    index = build_index(bench_data["perimeters"])
    named = raw.copy()
    named.columns.name = "champs"
    with_attrs = raw.copy()
    with_attrs.attrs["source"] = "BAN"
    twice = lookup_many(raw, index)  # already holds the answer columns: they are replaced
    frames = [
        raw,
        raw.set_axis(pd.Index(list(raw.columns), dtype=object), axis=1),
        named,
        with_attrs,
        raw.set_axis(np.repeat(np.arange(len(raw) // 2 + 1), 2)[: len(raw)], axis=0),  # repeated labels
        twice,
        raw[["x", "y"]].iloc[:0],
    ]
    for frame in frames:
        out = _same(frame, index)
        assert list(out.columns[-3:]) == ["qpv_disagree", "qpv_distance_m", "qpv_detail"]
    assert np.isfinite(_same(raw, index)["qpv_distance_m"].to_numpy()).any()


def test_neighbourhoods_without_points_and_rows_without_points(bench_data: dict[str, Any]) -> None:
    """Neighbourhoods no point reaches are skipped; tables of unlocated rows read none."""
    raw = bench_data["raw"]
    index = build_index(bench_data["perimeters"], rules=bench_data["rules"])
    montpellier = raw.iloc[:30_000].assign(x=raw["x"].iloc[:30_000] + 115_000.0,
                                           y=raw["y"].iloc[:30_000] - 580_000.0)
    both = pd.concat([montpellier, raw.iloc[::5]], ignore_index=True)
    few = raw.iloc[:25_000]
    for frame in (montpellier, both, few.assign(x=np.nan), few.assign(x=np.inf, y=-np.inf)):
        _same(frame, index)
    assert (_same(montpellier, index)["qpv_status"] == "inside").any()  # Montpellier's grid did answer
