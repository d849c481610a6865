"""Property-based fuzzing of every importer entry point with hostile files.

For every mapping of ``data/mappings`` (and the identity mapping of a layer), hypothesis
writes hostile CSV (encodings, BOMs, separators, quotes, NUL bytes, mixed line endings,
missing / duplicated headers, huge fields, NaN / infinite / swapped coordinates, garbage
dates), hostile GeoJSON (invalid JSON, wrong types, nested garbage, NaN and empty
geometries, huge coordinate arrays, wrong geometry types) and corrupt GeoPackage / zipped
Shapefile bytes. The property, for each file:

* either :func:`layers.importer.import_file` succeeds with exact accounting —
  ``lues = ajoutées + déjà présentes + rejetées``, the store grew by ``ajoutées``, the reject
  report lists ``rejetées`` rows, and re-importing the same file adds nothing;
* or it raises one of our own errors (:class:`geo.errors.QPVError`) with a message, and
  the store is unchanged.

Any other exception (KeyError, TypeError, UnicodeDecodeError, pyogrio internals...) fails.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import math
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import shapely
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.errors import QPVError
from layers.errors import SourceFileError
from layers.importer import ImportOptions, import_file
from layers.mapping import Mapping_, list_mappings, load_mapping
from layers.store import LayerStore
from tests.layers.conftest import snapshot

MAPPINGS = {m.dataset: m for m in list_mappings()}
CSV_MAPPINGS = sorted(n for n, m in MAPPINGS.items() if {"x", "wkt", "point_dict"} & set(m.geometry))
VECTOR_MAPPINGS = sorted(set(MAPPINGS) - set(CSV_MAPPINGS))
IDENTITY = "identite-observations"  # no mapping: columns named like the layer's fields

# QPV_FUZZ_EXAMPLES=n: a longer, random hunt (CI: 60 examples, derandomized)
FUZZ = settings(max_examples=int(os.environ.get("QPV_FUZZ_EXAMPLES", "60")), deadline=None,
                derandomize="QPV_FUZZ_EXAMPLES" not in os.environ, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

HOSTILE_TEXT = [
    "", " ", "NaN", "nan", "inf", "-inf", "Infinity", "1e400", "-1e400", "1e308", "0", "-0",
    "null", "None", "#N/A", "N/A", "\x00", "a\x00b", '"', '""', "'", ";", ",", "\t", "|",
    "\r", "\n", "\r\n", "\ufeff", "\u202e", "\u200b", "é", "Ã©", "\udcff".encode("utf-8", "surrogatepass")
    .decode("utf-8", "replace"), "{", "}", "{'lon': }", "[1, 2]", "{0}", "%s", "' OR 1=1 --",
    "<script>", "2024-13-45", "0000-00-00", "31/02/2024", "99999-01-01T00:00", "45000", "-45000",
    "1" * 400, "x" * 5000, "2024-01-01T25:61", "2024-01-01", "01/01/2024 10:00",
]
DATES = st.one_of(
    st.sampled_from(["2024-01-15", "2024-01-15T10:30:00", "15/01/2024", "2023-12-31 23:59:59"]),
    st.sampled_from(HOSTILE_TEXT),
    st.datetimes().map(lambda d: d.isoformat()),
    st.integers(-10**12, 10**12).map(str),
)
# plausible coordinates (so that rows reach validation) and hostile ones
LONLAT = st.tuples(st.floats(2.25, 2.42), st.floats(48.82, 48.90))
LAMBERT = st.tuples(st.floats(645_000, 662_000), st.floats(6_857_000, 6_869_000))
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 0.0, 5e-324]),
    st.integers(-10**30, 10**30),
)
CELL = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20), NUMBER.map(str), DATES)


def _fmt(v: float, comma: bool) -> str:
    text = repr(v) if isinstance(v, float) else str(v)
    return text.replace(".", ",") if comma else text


@st.composite
def coordinates(draw: st.DrawFn, crs: str) -> tuple[str, str]:
    """x and y as text: plausible, swapped, NaN / infinite / huge, or garbage."""
    kind = draw(st.sampled_from(["ok", "ok", "ok", "swapped", "number", "text"]))
    comma = draw(st.booleans())
    if kind in ("ok", "swapped"):
        x, y = draw(LAMBERT if crs == "EPSG:2154" else LONLAT)
        if kind == "swapped":
            x, y = y, x
        return _fmt(x, comma), _fmt(y, comma)
    if kind == "number":
        return _fmt(draw(NUMBER), comma), _fmt(draw(NUMBER), comma)
    return draw(CELL), draw(CELL)


def _columns(mapping: Mapping_ | None) -> list[str]:
    if mapping is None:
        return ["lon", "lat", "theme", "observed_at", "status", "source", "description", "source_id"]
    return sorted(mapping.columns() | set(mapping.filter))


def _cell(draw: st.DrawFn, column: str, mapping: Mapping_ | None) -> str:
    geometry = mapping.geometry if mapping is not None else {"x": "lon", "y": "lat"}
    if mapping is not None and column in mapping.filter:
        allowed = mapping.filter[column]
        allowed_list = allowed if isinstance(allowed, list) else [allowed]
        return draw(st.one_of(st.sampled_from([str(a) for a in allowed_list]), CELL))
    if column == geometry.get("point_dict"):
        x, y = draw(coordinates(str(geometry.get("crs", "EPSG:4326"))))
        return draw(st.sampled_from([f"{{'lon': {x}, 'lat': {y}}}", f'{{"lat": {y}, "lon": {x}}}',
                                     f"{x}, {y}", "{'lon': 1e999, 'lat': nan}"]) | CELL)
    if "date" in column.lower() or column in ("observed_at",):
        return draw(DATES)
    if column == "theme":
        return draw(st.sampled_from(["propreté", "encombrants", "Propreté", "PROPRETE"]) | CELL)
    if column == "status":
        return draw(st.sampled_from(["nouveau", "traité"]) | CELL)
    if column == "source":
        return draw(st.sampled_from(["habitant", "import"]) | CELL)
    return draw(st.one_of(st.integers(0, 50).map(str), CELL))


def _damaged_header(draw: st.DrawFn, header: list[str]) -> list[str]:
    """The header, perhaps with a column dropped, duplicated, added or left unnamed."""
    header = list(header)
    damage = draw(st.sampled_from(["none"] * 6 + ["drop", "duplicate", "extra", "empty-name"]))
    if damage == "drop":
        header.pop(draw(st.integers(0, len(header) - 1)))
    elif damage == "duplicate":
        header.append(draw(st.sampled_from(header)))
    elif damage == "extra":
        header.append(draw(st.text(min_size=1, max_size=10)))
    elif damage == "empty-name":
        header.append("")
    return header


def _hostile_row(draw: st.DrawFn, header: list[str], geometry: dict[str, object],
                 mapping: Mapping_ | None) -> list[str]:
    """One data row: hostile cells, coordinates where the mapping reads them, perhaps a cell short or long."""
    xy = draw(coordinates(str(geometry.get("crs", "EPSG:4326")))) if "x" in geometry else None
    row = []
    for col in header:
        if xy is not None and col == geometry["x"]:
            row.append(xy[0])
        elif xy is not None and col == geometry["y"]:
            row.append(xy[1])
        else:
            row.append(_cell(draw, col, mapping))
    width = draw(st.sampled_from(["ok"] * 8 + ["short", "long"]))
    if width == "short":
        row = row[:-1]
    elif width == "long":
        row.append("en trop")
    return row


def _damaged_bytes(draw: st.DrawFn, data: bytes) -> tuple[bytes, bool]:
    """The encoded file, perhaps with a NUL, bare CRs, a cut, two BOMs or garbage; and whether damaged."""
    byte_damage = draw(st.sampled_from(["none"] * 5 + ["nul", "cr", "truncate", "bom-twice", "garbage"]))
    if byte_damage == "nul":
        pos = draw(st.integers(0, len(data)))
        data = data[:pos] + b"\x00" + data[pos:]
    elif byte_damage == "cr":
        data = data.replace(b"\n", b"\r", draw(st.integers(1, 3)))
    elif byte_damage == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif byte_damage == "bom-twice":
        data = codecs.BOM_UTF8 + codecs.BOM_UTF8 + data
    elif byte_damage == "garbage":
        data = draw(st.binary(max_size=300))
    return data, byte_damage != "none"


@st.composite
def hostile_csv(draw: st.DrawFn, mapping: Mapping_ | None) -> tuple[bytes, int | None]:
    """CSV bytes, and the number of data rows when no byte-level damage was done."""
    columns = _columns(mapping)
    geometry = mapping.geometry if mapping is not None else {"x": "lon", "y": "lat"}
    header = _damaged_header(draw, list(columns))
    n = draw(st.integers(0, 6))
    rows = [_hostile_row(draw, header, geometry, mapping) for _ in range(n)]
    if n and draw(st.booleans()):  # the same row twice: duplicate ids, or identical content
        rows.append(list(rows[0]))
        n += 1
    sep = draw(st.sampled_from([";", ",", "\t", "|"]))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
                        lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    text = out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]))
    data, damaged = _damaged_bytes(draw, text.encode(encoding, errors="replace"))
    intact: int | None = n
    if damaged or "\x00" in text or "\r" in text.replace("\r\n", ""):
        intact = None
    return data, intact


def _check_import(store: LayerStore, path: Path, mapping: Mapping_ | None, layer: str,
                  expected_rows: int | None = None) -> None:
    """The property: exact accounting and idempotence, or our error and nothing changed."""
    before = snapshot(store)
    counts = dict(before)
    try:
        report = import_file(store, path, layer=layer if mapping is None else None,
                             options=ImportOptions(mapping=mapping, territory_margin_m=None))
    except QPVError as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        assert snapshot(store) == before, "a failed import changed the store"
        return
    after = dict(snapshot(store))
    assert report.n_read == report.n_inserted + report.n_existing + report.n_rejected
    assert report.rejects["row"].nunique() == report.n_rejected  # one line per error of a row
    assert not report.rejects.duplicated(["row", "field", "reason"]).any(), "an error listed twice"
    assert report.rejects["reason"].astype(str).str.len().gt(0).all()
    assert after[layer] - counts.get(layer, 0) == report.n_inserted
    assert after["imports"] == counts["imports"] + 1
    if expected_rows is not None:
        assert report.n_read == expected_rows, "rows lost or invented"
    again = import_file(store, path, layer=layer if mapping is None else None,
                        options=ImportOptions(mapping=mapping, territory_margin_m=None))
    assert again.n_inserted == 0, "re-importing added records"
    assert (again.n_read, again.n_existing, again.n_rejected) == (
        report.n_read, report.n_inserted + report.n_existing, report.n_rejected)
    assert dict(snapshot(store))[layer] == after[layer]


@pytest.fixture
def store(gpkg_store: LayerStore) -> LayerStore:
    """One GeoPackage store for all the examples of a test: the fuzzing targets the readers
    and the import pipeline; the backends have their own tests."""
    return gpkg_store


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A folder for the generated files (files are overwritten between examples)."""
    folder = tmp_path / "fuzz"
    folder.mkdir()
    yield folder


@FUZZ
@given(data=st.data(), name=st.sampled_from([*CSV_MAPPINGS, IDENTITY]), gz=st.booleans())
def test_hostile_csv(store: LayerStore, scratch: Path, data: st.DataObject, name: str, gz: bool) -> None:
    mapping = None if name == IDENTITY else MAPPINGS[name]
    content, rows = data.draw(hostile_csv(mapping))
    path = scratch / ("source.csv.gz" if gz else "source.csv")
    path.write_bytes(gzip.compress(content) if gz else content)
    _check_import(store, path, mapping, "observations" if mapping is None else mapping.layer, rows)


@FUZZ
@given(content=st.binary(max_size=2000), name=st.sampled_from(CSV_MAPPINGS))
def test_random_bytes_as_csv(store: LayerStore, scratch: Path, content: bytes, name: str) -> None:
    path = scratch / "octets.csv"
    path.write_bytes(content)
    _check_import(store, path, MAPPINGS[name], MAPPINGS[name].layer)


# -- GeoJSON -------------------------------------------------------------------------

COORD = st.one_of(st.floats(-1e6, 7e6), NUMBER, st.just(None), st.text(max_size=3))
POSITION = st.one_of(
    LAMBERT.map(list), LONLAT.map(list), st.lists(COORD, max_size=4),
    st.just([]), st.just([[[]]]), st.just({"x": 1}),
)
RING = st.lists(POSITION, max_size=6)
GEOMETRY = st.one_of(
    st.builds(lambda p: {"type": "Point", "coordinates": p}, POSITION),
    st.builds(lambda r: {"type": "LineString", "coordinates": r}, RING),
    st.builds(lambda r: {"type": "Polygon", "coordinates": [r]}, RING),
    st.builds(lambda r: {"type": "MultiPolygon", "coordinates": [[r]]}, RING),
    st.builds(lambda r: {"type": "MultiPoint", "coordinates": r}, RING),
    st.builds(lambda p: {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": p}]},
              POSITION),
    st.builds(lambda t, p: {"type": t, "coordinates": p},
              st.sampled_from(["Cercle", "", "point", "Feature", "FeatureCollection"]), POSITION),
    st.sampled_from([None, {}, [], "POINT (1 2)", 42, {"type": "Point"},
                     {"type": "Point", "coordinates": [math.nan, math.nan]},
                     {"type": "LineString",
                      "coordinates": [[650_000 + i, 6_860_000.0] for i in range(20_000)]},
                     {"type": "Polygon", "coordinates": []}]),
)
JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=False),
              st.sampled_from(HOSTILE_TEXT), st.text(max_size=20)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@st.composite
def hostile_geojson(draw: st.DrawFn, mapping: Mapping_) -> str:
    """GeoJSON text: a feature collection with hostile features, or a broken document."""
    kind = draw(st.sampled_from(["collection"] * 6 + ["invalid", "json", "features-not-list"]))
    if kind == "invalid":
        return draw(st.sampled_from(['{"type": "FeatureCollection", "features": [', "{", "", "null",
                                     '{"type": "FeatureCollection", "features": [{"type": "Feat']))
    if kind == "json":
        return json.dumps(draw(JSON_VALUE))
    if kind == "features-not-list":
        return json.dumps({"type": "FeatureCollection", "features": draw(JSON_VALUE)})
    features = []
    for _ in range(draw(st.integers(0, 5))):
        props: dict[str, Any] = {}
        for col in sorted(mapping.columns() | set(mapping.filter)):
            if draw(st.integers(0, 9)) == 0:
                continue  # a missing property
            props[col] = draw(st.one_of(st.integers(0, 99), st.sampled_from(["Nom 1", "2019", "rue X"]),
                                        JSON_VALUE))
        feature: dict[str, Any] = {"type": "Feature", "properties": props, "geometry": draw(GEOMETRY)}
        if draw(st.integers(0, 9)) == 0:
            feature = draw(st.sampled_from([{"type": "Feature"}, {"type": "Feature", "properties": None,
                                                                   "geometry": None}, {}]))
        features.append(feature)
    doc: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if draw(st.booleans()):
        doc["crs"] = draw(st.sampled_from([
            {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::2154"}},
            {"type": "name", "properties": {"name": "EPSG:999999"}}, {"type": "name"}, "x"]))
    return json.dumps(doc, allow_nan=True)


@FUZZ
@given(data=st.data(), name=st.sampled_from(VECTOR_MAPPINGS))
def test_hostile_geojson(store: LayerStore, scratch: Path, data: st.DataObject, name: str) -> None:
    mapping = MAPPINGS[name]
    path = scratch / "source.geojson"
    text = data.draw(hostile_geojson(mapping))
    path.write_text(text, encoding="utf-8")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    features = doc.get("features") if isinstance(doc, dict) else None
    # every entry of « features » is stored, already present or rejected: none vanishes
    _check_import(store, path, mapping, mapping.layer,
                  len(features) if isinstance(features, list) else None)


# -- corrupt GeoPackage / zipped Shapefile ---------------------------------------------


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small valid files of the Montpellier cameras' shape: GeoPackage, zipped Shapefile, GeoJSON."""
    folder = tmp_path_factory.mktemp("seeds")
    gdf = gpd.GeoDataFrame(
        {"Nom": [f"CAM{i}" for i in range(4)], "Adresse": ["rue A"] * 4, "Année": ["2019"] * 4},
        geometry=shapely.points([[770_000 + 50 * i, 6_279_000.0] for i in range(4)]), crs="EPSG:2154")
    pyogrio.write_dataframe(gdf, folder / "cam.gpkg")
    pyogrio.write_dataframe(gdf, folder / "cam.geojson")
    pyogrio.write_dataframe(gdf, folder / "cam.shp", encoding="utf-8")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for part in folder.glob("cam.*"):
            if part.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
                zf.write(part, part.name)
    (folder / "cam.zip").write_bytes(buf.getvalue())
    return {suffix: folder / f"cam{suffix}" for suffix in (".gpkg", ".zip", ".geojson")}


@FUZZ
@given(suffix=st.sampled_from([".gpkg", ".zip", ".geojson"]),
       how=st.sampled_from(["truncate", "flip", "both", "random"]),
       flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=8),
       cut=st.floats(0, 1, exclude_max=True), noise=st.binary(max_size=4000))
def test_corrupt_vector_files(store: LayerStore, scratch: Path, seeds: dict[str, Path], suffix: str,
                              how: str, flips: list[tuple[float, int]], cut: float, noise: bytes) -> None:
    content = bytearray(seeds[suffix].read_bytes())
    if how in ("flip", "both"):
        for where, value in flips:
            content[int(where * len(content))] = value
    if how in ("truncate", "both"):
        content = content[: int(cut * len(content))]
    if how == "random":
        content = bytearray(noise)
    path = scratch / f"cameras{suffix}"
    path.write_bytes(bytes(content))
    _check_import(store, path, MAPPINGS["montpellier-cameras"], "videoprotection")


def test_seeds_import(store: LayerStore, scratch: Path, seeds: dict[str, Path]) -> None:
    """The undamaged seeds import fully (so the corrupt variants test damage, not the seeds)."""
    for suffix, seed in seeds.items():
        path = scratch / f"cameras{suffix}"
        path.write_bytes(seed.read_bytes())
        report = import_file(store, path,
                             options=ImportOptions(mapping=MAPPINGS["montpellier-cameras"],
                                                   territory_margin_m=None))
        assert report.n_read == 4 and report.n_rejected == 0, (suffix, report.rejects)


def test_no_value_matches_the_translation_table(store: LayerStore, tmp_path: Path) -> None:
    """Found by the fuzzer: when no value of a ``values`` column was in the table, pandas
    inferred a null-typed arrow column and the default could not be put in (ArrowInvalid)."""
    path = tmp_path / "dmr.csv"
    path.write_text("adresse;datedecl;geo_point_2d;id_dmr;intervenant;soustype;type\n"
                    "0;2024-01-15;{'lon': 2.25, 'lat': 48.875};0;0;0;0\n", encoding="utf-8")
    report = import_file(store, path, options=ImportOptions(mapping="dansmarue", territory_margin_m=None))
    assert (report.n_read, report.n_inserted) == (1, 1)
    assert store.read("observations")["theme"].tolist() == ["autre"]


def test_geojson_entries_that_are_not_features(store: LayerStore, tmp_path: Path) -> None:
    """Found by the fuzzer: GDAL skipped ``{}`` entries of « features » silently (rows lost)."""
    path = tmp_path / "cameras.geojson"
    point = {"type": "Feature", "properties": {"Nom": "A"},
             "geometry": {"type": "Point", "coordinates": [770_000, 6_279_000]}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [point, {}]}), encoding="utf-8")
    with pytest.raises(SourceFileError, match=r"entité n° 2 : ce n'est pas un objet GeoJSON « Feature »"):
        import_file(store, path,
                    options=ImportOptions(mapping="montpellier-cameras", territory_margin_m=None))


@pytest.mark.parametrize("data", [b"\xff\xfea\x00;\x00b\x00\n\x00x", b"\xef\xbb\xbfa;b\n\xff;1\n"])
def test_bom_then_invalid_bytes(store: LayerStore, tmp_path: Path, data: bytes) -> None:
    """Found by the fuzzer: a BOM followed by bytes invalid in its encoding leaked UnicodeDecodeError."""
    path = tmp_path / "bom.csv"
    path.write_bytes(data)
    with pytest.raises(SourceFileError, match=r"marque d'encodage .*octet invalide ligne \d"):
        import_file(store, path, options=ImportOptions(mapping="dansmarue"))


# -- hostile mapping files ----------------------------------------------------------------

MAPPING_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8),
              st.sampled_from(["observations", "lon", "lat", "theme", "{lon:d}", "{", "{0}", "{lon.real}"])),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["x", "y", "wkt", "crs", "column", "value", "template", "values", "default", "format",
                         "patterns", "missing", "match", "theme", "description", "encoding", "separator"])
        | st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
MAPPING_KEYS = ("fields", "geometry", "id", "read", "title", "licence", "simulated", "filter")


@FUZZ
@given(data=st.fixed_dictionaries(
    {"layer": st.just("observations") | MAPPING_VALUE, "dataset": st.just("essai") | MAPPING_VALUE},
    optional=dict.fromkeys(MAPPING_KEYS, MAPPING_VALUE)))
def test_hostile_mapping(store: LayerStore, scratch: Path, data: dict[str, Any]) -> None:
    """A mapping of the wrong YAML types is a MappingError naming the key, never a TypeError."""
    path = scratch / "obs.csv"
    path.write_text("lon;lat;theme;observed_at\n2.38;48.88;propreté;2024-01-01\n", encoding="utf-8")
    mapping_file = scratch / "correspondance.yaml"
    mapping_file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        mapping = load_mapping(mapping_file)
    except QPVError as exc:
        assert str(exc).strip()
        return
    _check_import(store, path, mapping, mapping.layer)


@pytest.mark.parametrize("text", [
    "fields: [1, 2]", "filter: 3", "read: [a, b]", "id: [1]", "fields: {theme: {template: '{x:d}'}}",
    "geometry: {x: [1], y: lat}", "simulated: peut-être", ": : :", "\x00", "[", "- 1", "id: true",
    "geometry: {x: true, y: lat}",
])
def test_garbage_mapping_files(tmp_path: Path, text: str) -> None:
    """Found by fuzzing: wrong YAML types leaked AttributeError / TypeError from parse_mapping."""
    f = tmp_path / "m.yaml"
    f.write_text("layer: observations\ndataset: essai\n" + text + "\n" if text[0].isalpha() else text,
                 encoding="utf-8")
    with pytest.raises(QPVError):
        load_mapping(f)
