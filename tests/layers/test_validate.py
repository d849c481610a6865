"""Typed coercion and reject reasons of validate_frame / validate_record."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon

from layers.errors import RecordError
from layers.schema import LAYERS, get_schema
from layers.validate import fold, parse_datetimes, validate_frame, validate_record


def test_every_layer_declares_a_consistent_schema() -> None:
    for name, schema in LAYERS.items():
        assert schema.name == name
        names = schema.field_names
        assert len(names) == len(set(names)), name
        assert schema.time_field is None or schema.time_field in names
        for child in schema.children:
            assert child.time_field in [f.name for f in child.fields]
    assert LAYERS["videoprotection"].confidential
    assert get_schema("observations").field("status").choices == (
        "nouveau", "transmis", "en cours", "traité", "clos non traité")


def test_fold() -> None:
    assert fold("  Propreté’S  ") == "proprete's"


def test_dates_in_the_forms_publishers_use() -> None:
    got = parse_datetimes(pd.Series(["2024-01-02", "02/01/2024", "02/01/24", "42058",
                                     "2024-07-25T12:00:00+02:00", "2024-01-02T10:00:00Z", "hier"]))
    assert got.dt.strftime("%Y-%m-%d %H").tolist()[:6] == [
        "2024-01-02 00", "2024-01-02 00", "2024-01-02 00", "2015-02-23 00", "2024-07-25 12",
        "2024-01-02 11"]
    assert pd.isna(got.iloc[6])


def test_validate_frame_reasons_name_fields() -> None:
    gdf = gpd.GeoDataFrame(
        {"observed_at": ["2024-01-02", "pas une date", "2024-01-03", None],
         "theme": ["PROPRETE", "voirie", "licorne", "voirie"]},
        geometry=[Point(1, 2), Point(1, 2), Point(1, 2), Point(1, 2)], crs=2154)
    res = validate_frame(gdf, get_schema("observations"), rows=pd.Series([10, 11, 12, 13]))
    assert res.valid["theme"].tolist() == ["propreté"]
    assert res.rejects[["row", "field"]].values.tolist() == [
        [11, "observed_at"], [12, "theme"], [13, "observed_at"]]


def test_geometry_type_and_repair() -> None:
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)])
    gdf = gpd.GeoDataFrame({"code": ["QP1", "QP2", "QP3"], "name": ["a", "b", "c"]},
                           geometry=[bowtie, Point(0, 0), None], crs=2154)
    res = validate_frame(gdf, get_schema("perimetres"))
    assert res.valid["code"].tolist() == ["QP1"]
    assert res.valid.geometry.iloc[0].geom_type == "MultiPolygon"
    assert res.valid.geometry.iloc[0].is_valid
    assert abs(res.valid.geometry.iloc[0].area - 50) < 1e-9  # both lobes kept
    assert bool(res.valid["repaired"].iloc[0])
    assert res.rejects["reason"].tolist() == [
        "type de géométrie incorrect (attendu : MultiPolygon)", "géométrie manquante ou vide"]
    lines = gpd.GeoDataFrame({"name": ["r"]}, geometry=[LineString([(0, 0), (1, 1)])], crs=2154)
    assert len(validate_frame(lines, get_schema("voies")).valid) == 1


def test_validate_record_for_api() -> None:
    rec = validate_record({"observed_at": "2024-05-01T10:00", "theme": "Éclairage",
                           "geometry": Point(1, 1)}, get_schema("observations"))
    assert rec["theme"] == "éclairage" and rec["status"] == "nouveau"
    with pytest.raises(RecordError) as err:
        validate_record({"observed_at": "2024-05-01", "theme": "voirie", "couleur": "rouge",
                         "geometry": Point(1, 1)}, get_schema("observations"))
    assert err.value.field == "couleur"
    with pytest.raises(RecordError) as err2:
        validate_record({"observed_at": "2024-05-01", "theme": "voirie", "geometry": None},
                        get_schema("observations"))
    assert err2.value.field == "geometry"
    with pytest.raises(RecordError) as err3:
        validate_record({"parent_uid": "b1", "measured_at": "2024-05-01", "fill_pct": "130"},
                        get_schema("bacs").child("releves"))
    assert err3.value.field == "fill_pct"
