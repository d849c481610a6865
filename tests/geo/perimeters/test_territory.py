"""Lookups that know their coverage, on real data: the Paris and Montpellier QPV, the BAN of the
20e and Montpellier's address points as the territory; points and addresses of Lyon, Lille and
Paris 1er (absent from it); misspelt addresses; the Lillers street list with a second list of
another commune made from real Montpellier addresses."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.perimeters.addressmatch import ParsedAddress, parse_address, read_addresses, split_commune
from geo.perimeters.lookup import (
    MATCH_COLUMNS,
    AddressColumns,
    build_index,
    lookup_address,
    lookup_many,
    lookup_point,
)
from geo.perimeters.rules import reverse_perimeter
from geo.perimeters.streetlist import parse_street_list
from geo.perimeters.streetnames import street_key
from geo.perimeters.territory import build_territory, department_of_code, department_of_postcode
from layers.settings import REPO_ROOT

DEMO = REPO_ROOT / "data" / "demo"
LYON = (4.8357, 45.7640)  # place Bellecour
LILLE = (3.0573, 50.6292)  # Grand Place


@pytest.fixture(scope="module")
def demo(shared_data: Path) -> dict[str, Any]:
    """Paris + Montpellier perimeters (official columns renamed as the store names them), the BAN
    of the 20e and Montpellier's address points, indexed with their territory."""
    paris = gpd.read_file(shared_data / "paris" / "qpv-paris-idf-2015.geojson")
    mtp = gpd.read_file(DEMO / "montpellier" / "qp-montpellier-2015.geojson").rename(
        columns={"code_qp": "code", "nom_qp": "name", "commune_qp": "communes"})
    columns = ["code", "name", "communes", "geometry"]
    perimeters = pd.concat([paris[columns], mtp[columns].to_crs(paris.crs)], ignore_index=True)
    perimeters = gpd.GeoDataFrame(perimeters, crs=paris.crs)
    ban = read_addresses(DEMO / "paris" / "adresses-75020.csv.gz")
    points = read_addresses(DEMO / "montpellier" / "VilleMTP_MTP_PointAdresse.zip", commune="Montpellier")
    addresses = pd.concat([ban, points])
    territory = build_territory(perimeters=perimeters, addresses=addresses)
    index = build_index(perimeters, addresses=addresses, territory=territory)
    return {"perimeters": perimeters, "ban": ban, "addresses": addresses, "territory": territory,
            "index": index}


def test_codes_and_postcodes_give_departements() -> None:
    assert [department_of_postcode(p) for p in ("75020", "34000", "97110", "2A004", "")] == \
        ["75", "34", "971", "", ""]
    assert [department_of_code(c) for c in ("QP075019", "QN07501M", "QP971001", "LOCAL")] == \
        ["75", "75", "971", ""]


def test_territory_communes(demo: dict[str, Any]) -> None:
    territory = demo["territory"]
    assert territory.knows_commune("PARIS")  # fits « Paris 20e Arrondissement »
    assert territory.knows_commune("MONTPELLIER")
    assert territory.knows_commune("CHAMPIGNY SUR MARNE")  # from the perimeters' communes field
    assert not territory.knows_commune("LYON")
    assert territory.departments >= {"75", "34", "93", "94"}
    assert not territory.commune_outside("", "75020")
    assert territory.commune_outside("", "69001")


def test_points_elsewhere_are_out_of_territory(demo: dict[str, Any], shared_data: Path) -> None:
    index = demo["index"]
    for lon, lat in (LYON, LILLE):
        res = lookup_point((lon, lat), index, crs="EPSG:4326")
        assert (res.status, res.code) == ("out_of_territory", ""), (lon, lat)
        assert "Hors territoire" in res.detail
    # an address of Paris 1er: Paris is known, but only the 20e's addresses and perimeters
    raw = pd.read_csv(shared_data / "paris" / "adresses-75.csv.gz", sep=";", usecols=["code_insee", "x", "y"])
    first = raw[raw["code_insee"] == 75101].iloc[0]
    assert lookup_point((first["x"], first["y"]), index).status == "out_of_territory"
    # but an address of the 20e outside every QPV is « outside »: the territory is known there
    ban = demo["ban"]
    qp = demo["perimeters"].to_crs(2154)
    far = ban[~ban.within(shapely.union_all(qp.geometry.buffer(300).to_numpy()))].iloc[0]
    res = lookup_point(far.geometry, index)
    assert (res.status, res.code) == ("outside", "")
    # and inside a QPV of Montpellier it is inside
    mosson = qp.loc[qp["code"] == "QP034005"].geometry.iat[0]
    res = lookup_point(mosson.representative_point(), index)
    assert (res.status, res.code) == ("inside", "QP034005")
    # in batch too
    xs, ys = [LYON[0], LILLE[0], 3.8799], [LYON[1], LILLE[1], 43.6085]
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(xs, ys), crs=4326)
    expected = ["out_of_territory", "out_of_territory", "outside"]
    assert lookup_many(pts, index)["qpv_status"].tolist() == expected


def test_without_territory_nothing_changes(demo: dict[str, Any]) -> None:
    bare = build_index(demo["perimeters"])
    assert lookup_point(LYON, bare, crs="EPSG:4326").status == "outside"


def test_misspelt_address_shows_what_it_matched(demo: dict[str, Any]) -> None:
    index = demo["index"]
    ban = demo["ban"]
    rows = (ban["street"] == "Rue Félix Terrier") & (ban["number"] == 10) & (ban["suffix"] == "")
    terrier = ban[rows].iloc[0]
    for typed, note in (("10 avenue Félix Terrier 75020 Paris", "type de voie différent"),
                        ("10 rue Felix Terier, 75020 Paris", "orthographe approchée")):
        res = lookup_address(typed, index)
        assert res.match == "10 Rue Félix Terrier 75020 Paris 20e Arrondissement", typed
        expected = difflib.SequenceMatcher(None, street_key("Rue Félix Terrier"),
                                           street_key(typed.split(" 75020")[0].split(",")[0][3:])).ratio()
        assert res.score == pytest.approx(expected, abs=1e-3) and res.score < 1
        assert res.approximate and res.match_note.startswith(note)
        assert (res.x, res.y) == pytest.approx((terrier.geometry.x, terrier.geometry.y))
    exact = lookup_address("10 rue Félix Terrier, 75020 Paris", index)
    assert exact.score == 1 and not exact.approximate and exact.match_note == ""


def test_address_without_postcode_is_searched_by_commune_name(demo: dict[str, Any]) -> None:
    index = demo["index"]
    with_postcode = lookup_address("12 boulevard Davout 75020 Paris", index)
    without = lookup_address("12 boulevard Davout Paris", index)
    assert without.status != "not_found"
    assert (without.status, without.code, without.match, without.x) == \
        (with_postcode.status, with_postcode.code, with_postcode.match, with_postcode.x)
    assert lookup_address("3 rue de la République 69001 Lyon", index).status == "out_of_territory"
    assert lookup_address("3 rue de la République, Lyon", index).status == "out_of_territory"
    assert lookup_address("3 rue des Sapins Imaginaires, 75020 Paris", index).status == "not_found"


def test_split_commune_keeps_street_names_ending_with_a_commune() -> None:
    known = {"PARIS 20E ARRONDISSEMENT", "SAINT DENIS", "LILLERS"}
    assert split_commune(parse_address("12 rue de Verdun Lillers"), known) == \
        ParsedAddress(12, "", None, "rue de Verdun", "", "Lillers")
    assert split_commune(parse_address("12 boulevard de Paris"), known).street == "boulevard de Paris"
    kept = split_commune(parse_address("4 rue du Faubourg Saint-Denis"), known,
                         streets={street_key("rue du Faubourg Saint-Denis")})
    assert kept.street == "rue du Faubourg Saint-Denis" and kept.commune == ""


@pytest.fixture(scope="module")
def two_lists(shared_data: Path) -> dict[str, Any]:
    """Lillers' list, and a second list in Montpellier reversed from the real sous-quartier that
    holds most of Montpellier's real « Rue de Verdun » addresses (local code MTP-VERDUN)."""
    text = (shared_data / "lillers" / "liste-des-rues-QP062057-ocr.txt").read_text(encoding="utf-8")
    lillers = parse_street_list(text, commune="Lillers", qpv="QP062057").rules
    points = read_addresses(DEMO / "montpellier" / "VilleMTP_MTP_PointAdresse.zip", commune="Montpellier")
    zones = gpd.read_file(shared_data / "montpellier" / "VilleMTP_MTP_SousQuartiers.geojson").to_crs(2154)
    verdun = points[points["street"] == "Rue de Verdun"]
    hits = gpd.sjoin(verdun, zones[["geometry"]], predicate="within")["index_right"].mode().iat[0]
    zone = zones.loc[[hits]].assign(code="MTP-VERDUN", name="Verdun")
    second = reverse_perimeter(zone, points, code="MTP-VERDUN")
    assert any(r.key == street_key("Rue de Verdun") for r in second)
    return {"lillers": lillers, "montpellier": second, "points": points}


def test_street_lists_of_two_communes(two_lists: dict[str, Any]) -> None:
    rules = [*two_lists["lillers"], *two_lists["montpellier"]]
    territory = build_territory(rule_communes=[r.commune for r in rules], rule_codes=[r.qpv for r in rules])
    index = build_index(None, rules=rules, territory=territory,
                        rule_names={"QP062057": "Ville Centre Lillers"})
    cases = {
        "12 rue de Verdun 62190 Lillers": ("inside", "QP062057"),
        "39 rue de Verdun 62190 Lillers": ("outside", ""),  # beyond n° 38
        "12 rue de Verdun Lillers": ("inside", "QP062057"),
        "12 rue de Verdun": ("ambiguous", ""),
        "12 rue de Verdun, Béthune": ("out_of_territory", ""),
        "3 rue de la Paix 69002 Lyon": ("out_of_territory", ""),
    }
    for text, expected in cases.items():
        res = lookup_address(text, index)
        assert (res.status, res.code) == expected, text
    amb = lookup_address("12 rue de Verdun", index)
    assert "Lillers" in amb.match_note and "Montpellier" in amb.match_note
    assert lookup_address("12 rue de Verdun Lillers", index).name == "Ville Centre Lillers"
    # one list only: the commune is assumed, and said
    alone = build_index(None, rules=two_lists["lillers"])
    res = lookup_address("12 rue de Verdun", alone)
    assert (res.status, res.code) == ("inside", "QP062057") and "commune supposée : Lillers" in res.match_note
    # in batch, with the match columns
    out = lookup_many(pd.DataFrame({"a": list(cases)}), index, columns=AddressColumns(address="a"))
    assert out["qpv_status"].tolist() == [v[0] for v in cases.values()]
    assert set(MATCH_COLUMNS) <= set(out.columns) and np.isnan(out["qpv_x"]).all()


def test_address_base_without_communes_answers_for_the_commune_named(demo: dict[str, Any]) -> None:
    """Montpellier's own address file has no commune column: « … Montpellier » still finds its points."""
    points = read_addresses(DEMO / "montpellier" / "VilleMTP_MTP_PointAdresse.zip")  # no commune given
    assert (points["commune_key"] == "").all()
    mtp = demo["perimeters"][demo["perimeters"]["code"].str.startswith("QP034")]
    territory = build_territory(perimeters=mtp, addresses=points)
    index = build_index(mtp, addresses=points, territory=territory)
    row = points[(points["street_key"] == street_key("Rue de Salerne")) & (points["number"] == 64)]
    assert len(row) == 1
    for text in ("64 rue de Salerne Montpellier", "64 rue de Salerne 34080 Montpellier", "64 rue de Salerne"):
        res = lookup_address(text, index)
        assert (res.status, res.code) == ("inside", "QP034005"), text
        assert res.match.startswith("64 Rue de Salerne"), text


def test_misspelt_commune_at_the_end_is_recognised(demo: dict[str, Any]) -> None:
    """« Montpelier » (one l) ends the address: the one known commune that close is taken."""
    index = demo["index"]
    res = lookup_address("64 rue de Salern Montpelier", index)
    assert (res.status, res.code) == ("inside", "QP034005")
    assert res.match.startswith("64 Rue de Salerne") and 0.9 < res.score < 1.0
    parsed = split_commune(parse_address("64 rue de Salerne Montpelier"), {"MONTPELLIER", "PARIS"})
    assert (parsed.street, parsed.commune) == ("rue de Salerne", "MONTPELLIER")
    # a word too short to be told from a street word stays in the street
    assert split_commune(parse_address("3 rue des Lilas Lile"), {"LILLE", "LILLERS"}).commune == ""
    assert split_commune(parse_address("3 rue des Lilas Lilers"), {"LILLE", "LILLERS"}).commune == "LILLERS"
    assert split_commune(parse_address("3 rue des Lilas Pari"), {"PARIS"}).commune == ""
