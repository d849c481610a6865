"""Address bases, street matching and text geocoding on the real Paris and Montpellier files."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo.errors import AddressError
from geo.perimeters.addressmatch import (
    geocode,
    match_streets,
    parse_address,
    read_addresses,
    standardize_addresses,
)


@pytest.fixture(scope="module")
def ban(shared_data: Path) -> gpd.GeoDataFrame:
    return read_addresses(shared_data / "paris" / "adresses-75.csv.gz")


@pytest.fixture(scope="module")
def mtp(shared_data: Path) -> gpd.GeoDataFrame:
    path = shared_data / "montpellier" / "VilleMTP_MTP_PointAdresse.zip"
    return read_addresses(path, commune="Montpellier")


def test_ban_is_standardised(ban: gpd.GeoDataFrame) -> None:
    assert len(ban) == 158_048
    assert ban.crs.to_epsg() == 2154
    assert str(ban["number"].dtype) == "Int64"
    first = ban.iloc[0]
    assert first["street_key"] == "AVENUE GENERAL LEMONNIER"
    assert first["commune_key"] == "PARIS 1ER ARRONDISSEMENT"
    assert {"", "b", "a"} <= set(ban["suffix"].unique())  # Paris BAN suffixes are letters
    assert ban.index.equals(pd.RangeIndex(len(ban)))


def test_montpellier_points_placeholders_and_crs(mtp: gpd.GeoDataFrame, shared_data: Path) -> None:
    raw = gpd.read_file(f"zip://{shared_data / 'montpellier' / 'VilleMTP_MTP_PointAdresse.zip'}")
    assert len(mtp) == len(raw) == 36_395
    assert mtp.crs.to_epsg() == 2154  # the IGNF Lambert-93 WKT is recognised
    # number 0 is a placeholder: missing, not zero
    assert mtp["number"].isna().sum() == (raw["NUM_VOI"] == 0).sum() > 0
    assert (mtp["commune"] == "Montpellier").all()
    assert mtp.loc[0, "code"] == "2546"
    # coordinates untouched (already Lambert-93)
    assert mtp.geometry.iloc[0].equals_exact(raw.geometry.iloc[0], 1e-6)
    assert raw.columns.tolist()[0] == "ID_REFP"  # input not modified


def test_standardize_needs_columns() -> None:
    with pytest.raises(AddressError, match="voie"):
        standardize_addresses(pd.DataFrame({"a": [1], "x": [1.0], "y": [2.0]}))
    with pytest.raises(AddressError, match="géométrie"):
        standardize_addresses(pd.DataFrame({"nom_voie": ["Rue A"], "numero": [1]}))
    frame = pd.DataFrame({"voie": ["R. de la Paix"], "num": ["12"], "lon": [2.33], "lat": [48.87]},
                         index=[7])
    out = standardize_addresses(frame, street_column="voie", number_column="num", commune="Paris")
    assert out.index.tolist() == [7]
    assert out.loc[7, "street_key"] == "RUE PAIX" and out.loc[7, "number"] == 12
    assert 640_000 < out.geometry.iloc[0].x < 660_000


def test_match_streets_report(ban: gpd.GeoDataFrame, mtp: gpd.GeoDataFrame) -> None:
    names = pd.Series(
        ["Rue des Pyrénées", "rue des pyrenes", "rue de belleville", "Rue Inconnue du Trou", ""],
        index=list("abcde"),
    )
    report = match_streets(names, ban, communes="Paris")
    assert report.index.tolist() == list("abcde")
    assert report["status"].tolist() == ["exact", "fuzzy", "ambiguous", "unmatched", "empty"]
    assert report.loc["b", "matched_name"] == "Rue des Pyrénées" and 0.85 <= report.loc["b", "score"] < 1
    assert "19E" in report.loc["c", "candidates"] and "20E" in report.loc["c", "candidates"]
    assert report.loc["a", "n_addresses"] > 100
    # a commune removes the ambiguity
    one = match_streets(["rue de belleville"], ban, communes=["Paris 20e Arrondissement"])
    assert one["status"].iat[0] == "exact"
    # RIVOLI / local street code
    by_code = match_streets(["2546"], mtp)
    assert by_code["status"].iat[0] == "code" and by_code["matched_name"].iat[0] == "Rue Bernard Blier"
    with pytest.raises(AddressError):
        match_streets(["Rue A"], pd.DataFrame({"street": ["Rue A"]}))


@pytest.mark.parametrize(
    ("text", "number", "suffix", "to", "street", "postcode", "commune"),
    [
        ("12 bis rue de la Paix, 75002 Paris", 12, "bis", None, "rue de la Paix", "75002", "Paris"),
        ("12-14 RUE X", 12, "", 14, "RUE X", "", ""),
        ("118, Rue Bernard Blier", 118, "", None, "Rue Bernard Blier", "", ""),
        ("3B avenue Foch", 3, "b", None, "avenue Foch", "", ""),
        ("rue Sans Numéro, Lillers", None, "", None, "rue Sans Numéro", "", "Lillers"),
        ("", None, "", None, "", "", ""),
        (None, None, "", None, "", "", ""),
    ],
)
def test_parse_address(text: str | None, number: int | None, suffix: str, to: int | None, street: str,
                       postcode: str, commune: str) -> None:
    parsed = parse_address(text)
    got = (parsed.number, parsed.suffix, parsed.number_to, parsed.street, parsed.postcode, parsed.commune)
    assert got == (number, suffix, to, street, postcode, commune)


def test_geocode_statuses(ban: gpd.GeoDataFrame) -> None:
    texts = pd.Series([
        "12 rue des Pyrénées 75020 Paris",
        "12 ter rue des pyrenees 75020",
        "12-14 rue des Pyrénées, 75020 Paris",
        "9999 avenue Gambetta, Paris",
        "1 rue qui n'existe pas, Paris",
        "",
        "12 bis rue de belleville",
        "rue des Pyrénées, Paris",
    ], index=range(10, 18))
    out = geocode(texts, ban)
    assert out.index.tolist() == list(range(10, 18))
    assert out["status"].tolist() == [
        "found", "found_without_suffix", "found", "number_not_found", "street_not_found", "empty",
        "ambiguous", "no_number",
    ]
    assert out.geometry.iloc[0].equals(out.geometry.iloc[2])
    assert out.geometry.iloc[3] is None and out.crs.to_epsg() == 2154
    assert out["commune_key"].iat[0] == "PARIS 20E ARRONDISSEMENT"
