"""Address suggestions over the real Paris 20e BAN, clean and made messy."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo.perimeters.addresssearch import AddressIndex

BAN = Path(__file__).resolve().parents[3] / "data" / "demo" / "paris" / "adresses-75020.csv.gz"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(BAN, sep=";", dtype={"numero": "Int64", "code_postal": str}, low_memory=False)


def _layer(raw: pd.DataFrame) -> gpd.GeoDataFrame:
    """The BAN rows as the ``adresses`` layer (Lambert-93, as stored)."""
    return gpd.GeoDataFrame(
        {"number": raw["numero"], "suffix": raw["rep"], "street": raw["nom_voie"],
         "postcode": raw["code_postal"], "commune": raw["nom_commune"]},
        geometry=gpd.points_from_xy(raw["x"], raw["y"]), crs="EPSG:2154")


@pytest.fixture(scope="module")
def index(raw: pd.DataFrame) -> AddressIndex:
    return AddressIndex(_layer(raw))


def test_every_spelling_of_an_address_finds_it(index: AddressIndex, raw: pd.DataFrame) -> None:
    row = raw[(raw["nom_voie"] == "Avenue Gambetta") & (raw["numero"] == 5) & raw["rep"].isna()].iloc[0]
    for q in ("5 avenue gambetta", "5 AV GAMBETTA", "5, av. Gambetta 75020", "5 avenue gambet"):
        hits = index.search(q)
        assert hits and hits[0].label == "5 Avenue Gambetta, 75020 Paris 20e Arrondissement", q
        assert hits[0].lon == pytest.approx(row["lon"], abs=2e-6)
        assert hits[0].lat == pytest.approx(row["lat"], abs=2e-6)


def test_suffixes_and_street_types(index: AddressIndex, raw: pd.DataFrame) -> None:
    bis = raw[(raw["rep"] == "b") & raw["nom_voie"].str.startswith("Rue ")].iloc[0]
    for word in ("bis", "b", "BIS"):
        hits = index.search(f"{bis['numero']} {word} {bis['nom_voie']}")
        assert [h.suffix for h in hits] == ["bis"], word
    # « r » before a street word is the street type, not a suffix
    street = bis["nom_voie"].removeprefix("Rue ")
    plain = index.search(f"{bis['numero']} r {street}")
    assert plain and plain[0].street == bis["nom_voie"]
    # without suffix: the plain number first, then its bis
    numbered = index.search(f"{bis['numero']} {bis['nom_voie']}")
    if raw[(raw["nom_voie"] == bis["nom_voie"]) & (raw["numero"] == bis["numero"]) & raw["rep"].isna()].empty:
        assert numbered[0].suffix == "bis"
    else:
        assert numbered[0].suffix is None and "bis" in [h.suffix for h in numbered]


def test_no_guess(index: AddressIndex) -> None:
    assert index.search("5 avenue gambeta") == []       # a typo
    assert index.search("99999 avenue gambetta") == []  # a number the street has not
    assert index.search("5 avenue des champs elysees") == []  # not in the territory
    assert index.search("de la") == []                   # articles only
    assert index.search("12") == []                      # a number alone


def test_messy_rows(raw: pd.DataFrame) -> None:
    """Missing communes, postcodes, numbers and geometries, upper-case names: no crash, no « NONE »."""
    messy = _layer(raw).copy()
    rng = np.random.default_rng(17)
    pick = rng.random(len(messy))
    messy.loc[pick < 0.1, "commune"] = None
    messy.loc[(pick >= 0.1) & (pick < 0.2), "postcode"] = None
    messy.loc[(pick >= 0.2) & (pick < 0.25), "number"] = pd.NA
    messy.loc[(pick >= 0.25) & (pick < 0.3), "street"] = messy["street"].str.upper()
    messy.loc[(pick >= 0.3) & (pick < 0.31), "street"] = None
    messy.loc[(pick >= 0.31) & (pick < 0.32), "geometry"] = None
    index = AddressIndex(messy)
    assert len(index) == int(((pick < 0.3) | (pick >= 0.32)).sum())
    assert index.search("none") == [] and index.search("nan") == []
    hits = index.search("avenue gambetta")
    assert hits and all("GAMBETTA" in h.street.upper() for h in hits)
    assert all(h.number is None and h.suffix is None for h in hits)
