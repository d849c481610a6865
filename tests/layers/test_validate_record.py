"""The scalar entry point (:func:`validate_record`, :func:`coerce_value`) against the vectorised one.

One rule set, two entry points: for every field of every schema, messy values (and the
real constats of the demo) are accepted or refused alike, coerced alike, with the same
French message naming the field. The reference is :func:`validate_frame`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon

from layers.errors import RecordError
from layers.schema import LAYERS, Field
from layers.settings import REPO_ROOT
from layers.validate import coerce_field, coerce_value, validate_frame, validate_record

#: Values made messy on purpose, tried on every field whatever its type.
MESSY: list[Any] = [
    None, "", "   ", float("nan"), pd.NA, pd.NaT, "abc", "  Propreté ", "PROPRETE", "propreté",
    "nouveau", " Traité ", "traite", "en cours", "0", "1", "-3", "12", "12.5", "12,5", " 1 234,5 ",
    "1\u202f234", "1e3", "1_000", "0x1A", "inf", "nan", "True", "oui", "Non", "x", "vrai", "peut-être",
    0, 1, -1, 7, 3.0, 3.5, 1e9, -0.0, True, False, np.int64(4), np.float64(2.25), np.bool_(True),
    "2024-03-01", "2024-03-01T10:20:30", "2024-03-01 10:20:30.750", "2024-03-01T10:20:30Z",
    "2024-03-01T10:20:30+02:00", "01/03/2024", "1/3/24", "01-03-2024", "2024/03/01",
    "01/03/2024 10:20", "01/03/2024 10:20:30", "31/02/2024", "2263-01-01", "0001-01-01", "1899-12-31",
    "45352", "99999", "12345", pd.Timestamp("2024-03-01 10:20:30"),
    pd.Timestamp("2024-03-01 10:20:30", tz="UTC"), dt.datetime(2023, 5, 6, 7, 8, 9), dt.date(2023, 5, 6),
    np.datetime64("2022-01-02T03:04:05"), '{"a": 1}', "[1, 2]", "{bad json", [1, "deux"], {"k": "v"},
    "75019", "7501", "ABC-12", "QN07501M", "bailleur", "ville", "publique", "Copropriété",
]


def _fields() -> list[Field]:
    seen: dict[tuple[Any, ...], Field] = {}
    for schema in LAYERS.values():
        for f in schema.all_fields:
            seen.setdefault((f.type, f.choices, f.pattern, f.minimum, f.maximum), f)
        for child in schema.children:
            for f in child.fields:
                seen.setdefault((f.type, f.choices, f.pattern, f.minimum, f.maximum), f)
    return list(seen.values())


FIELDS = _fields()


def _same(a: Any, b: Any) -> bool:
    if a is None or (not isinstance(a, (list, dict, str)) and pd.isna(a)):
        return b is None
    if isinstance(a, float) or isinstance(b, float):
        return b is not None and math.isclose(float(a), float(b))
    return bool(a == b)


def test_fields_cover_every_rule() -> None:
    kinds = {f.type for f in FIELDS}
    assert kinds >= {"str", "int", "float", "bool", "date", "datetime", "json"}
    assert any(f.choices for f in FIELDS) and any(f.pattern for f in FIELDS)
    assert any(f.minimum is not None or f.maximum is not None for f in FIELDS)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.name}:{f.type}")
def test_scalar_and_vectorised_agree_value_by_value(field: Field) -> None:
    """Each messy value alone (a one-row column, as the old per-record path validated it)."""
    for value in MESSY:
        column = pd.Series([value], dtype=object if isinstance(value, (list, dict)) else None)
        values, bad, reason = coerce_field(column, field)
        out, sbad, sreason = coerce_value(value, field)
        assert sbad == bool(bad.iloc[0]), (field.name, value)
        if sbad:
            assert sreason == reason, (field.name, value)
        else:
            assert _same(values.iloc[0], out), (field.name, value, values.iloc[0], out)


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.name}:{f.type}")
def test_scalar_and_vectorised_agree_in_a_mixed_column(field: Field) -> None:
    """Messy text values together in one column (how an import reads a file)."""
    texts = [v for v in MESSY if isinstance(v, str) or v is None]
    values, bad, _ = coerce_field(pd.Series(texts, dtype=object), field)
    for i, value in enumerate(texts):
        out, sbad, _ = coerce_value(value, field)
        assert sbad == bool(bad.iloc[i]), (field.name, value)
        if not sbad:
            assert _same(values.iloc[i], out), (field.name, value)


def _frame_answer(record: dict[str, Any], schema: Any) -> tuple[str, str] | dict[str, Any]:
    """What the vectorised path says of one record: (field, message) or the coerced row."""
    frame = pd.DataFrame([{k: v for k, v in record.items() if k != "geometry"}])
    if getattr(schema, "geometry", None) is not None:
        frame = gpd.GeoDataFrame(frame, geometry=[record.get("geometry")], crs=None)
    res = validate_frame(frame, schema)
    if not res.rejects.empty:
        first = res.rejects.iloc[0]
        return str(first["field"]), str(first["reason"])
    return {str(k): (None if not isinstance(v, (list, dict, shapely.Geometry)) and pd.isna(v) else v)
            for k, v in res.valid.iloc[0].to_dict().items()}


def _check_record(record: dict[str, Any], schema: Any) -> None:
    expected = _frame_answer(record, schema)
    if isinstance(expected, tuple):
        with pytest.raises(RecordError) as err:
            validate_record(record, schema)
        assert (err.value.field, str(err.value)) == expected
        return
    got = validate_record(record, schema)
    assert set(got) == set(expected)
    for key, value in expected.items():
        if isinstance(value, shapely.Geometry):
            assert value.equals(got[key]), key
        else:
            assert _same(value, got[key]), (key, value, got[key])


def _demo_constats() -> pd.DataFrame:
    path = REPO_ROOT / "data" / "demo" / "paris" / "dansmarue-2023-2024-echantillon.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, sep=None, engine="python", nrows=300, dtype=str)


def test_real_constats_validated_alike() -> None:
    """Real Dans Ma Rue rows, mapped by hand onto the constat fields, some made messy."""
    raw = _demo_constats()
    assert len(raw) >= 100
    schema = LAYERS["observations"]
    cols = {c.lower(): c for c in raw.columns}
    rng = np.random.default_rng(18)
    themes = [*(schema.field("theme").choices or ()), "PROPRETÉ", "inconnu", None]
    statuses = ["nouveau", "Traité", "clos non traité", "fermé", "", None]
    for i, row in enumerate(raw.itertuples(index=False)):
        values = dict(zip(raw.columns, row, strict=True))
        text = " ".join(str(v) for v in values.values() if isinstance(v, str))[:200]
        date = next((values[c] for c in raw.columns if "date" in c.lower()), None)
        record = {
            "theme": themes[int(rng.integers(len(themes)))], "status": statuses[i % len(statuses)],
            "description": text, "observed_at": date if i % 7 else "32/13/2024",
            "address": values.get(cols.get("adresse", "")), "source": "import",
            "geometry": Point(652_000 + i, 6_862_000 + i) if i % 11 else None,
        }
        _check_record(record, schema)


@pytest.mark.parametrize("geometry", [
    Point(1, 2), MultiPoint([(1, 2)]), MultiPoint([(1, 2), (3, 4)]), LineString([(0, 0), (1, 1)]),
    Point(), None, Polygon([(0, 0), (2, 2), (2, 0), (0, 2), (0, 0)]), Polygon([(0, 0), (1, 0), (1, 1)]),
])
@pytest.mark.parametrize("layer", ["observations", "perimetres", "voies"])
def test_geometries_checked_alike(geometry: Any, layer: str) -> None:
    if layer not in LAYERS:
        pytest.skip(f"no layer {layer}")
    schema = LAYERS[layer]
    record: dict[str, Any] = {f.name: None for f in schema.all_fields if not f.required}
    for f in schema.all_fields:
        if f.required:
            record[f.name] = (f.choices[0] if f.choices else "2024-01-01" if f.type in ("date", "datetime")
                              else 1 if f.type in ("int", "float") else True if f.type == "bool" else "x")
    record["geometry"] = geometry
    _check_record(record, schema)


def test_partial_checks_only_the_given_fields() -> None:
    schema = LAYERS["observations"]
    assert validate_record({"status": " Traité "}, schema, partial=True) == {"status": "traité"}
    with pytest.raises(RecordError) as err:
        validate_record({"status": None}, schema, partial=True, fill_defaults=False)
    assert err.value.field == "status" and "obligatoire" in str(err.value)
    with pytest.raises(RecordError) as err:
        validate_record({"status": "fermé"}, schema, partial=True)
    assert err.value.field == "status" and "« status »" in str(err.value)
