"""Reading source files as they come: CSV, GeoJSON, GeoPackage, Shapefile, JSON records.

CSV files are decoded with the encoding they really have (UTF-8, CP1252 or Latin-1,
detected), split on the separator they really use (``;``, ``,``, tab or ``|``,
detected), and every row keeps its line number for the reject report. Rows whose
number of columns is wrong (a truncated line, an unquoted separator) are not guessed
at: they are listed as rejects.

A JSON array of records (``[{...}, ...]``, the form many applications publish) becomes a
table with one point per record, from latitude/longitude properties under their usual names
(strings or numbers), nested ``{lat, lon}`` objects, ``coordinates`` pairs or GeoJSON
geometries. List-valued properties (arrays in GeoJSON or JSON) become comma-separated texts.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import logging
import re
import stat
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.errors import ShapelyError

from geo.errors import NetworkError
from layers.errors import SourceFileError
from layers.settings import get_settings

if TYPE_CHECKING:
    from _csv import Reader as CsvReader

logger = logging.getLogger(__name__)

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
SEPARATORS = (";", ",", "\t", "|")
_ENCODINGS = ("utf-8", "cp1252", "latin-1")
MAX_COLUMNS = 2000  # a wider header is not a table we import
MAX_ZIP_MEMBERS = 1000
GEOJSON_CHECK_BYTES = 64 * 1024**2  # GeoJSON up to this size have their features counted
MAX_ZIP_RATIO = 200  # unpacked / packed size of a whole archive
#: What an import accepts, named in the message for a file that cannot be read.
ACCEPTED_FORMATS = (
    "CSV (.csv, .txt, .tsv, éventuellement compressé en .gz), GeoJSON, tableau JSON "
    "d'enregistrements avec latitude et longitude (.json), GeoPackage (.gpkg), Shapefile zippé (.zip) "
    "ou extrait OpenStreetMap (.osm, .osm.pbf) pour les voies"
)
LIST_SEPARATOR = ", "
# GEOS and Python errors of a damaged file; pyogrio's own are added where it is imported
# (GDAL's libraries take tens of megabytes: a CSV import never loads them)
_READ_ERRORS: tuple[type[Exception], ...] = (
    ShapelyError, ValueError, RuntimeError, OSError, MemoryError, LookupError,
)


def _vector_errors() -> tuple[type[Exception], ...]:
    """Return what pyogrio / GDAL / GEOS raise on a damaged file: all become a SourceFileError."""
    from pyogrio import errors as ogr_errors

    return (ogr_errors.DataSourceError, ogr_errors.DataLayerError, ogr_errors.FeatureError,
            ogr_errors.FieldError, ogr_errors.GeometryError, ogr_errors.CRSError, *_READ_ERRORS)


@dataclass
class SourceTable:
    """A source file read into memory.

    Attributes
    ----------
    frame : pandas.DataFrame or geopandas.GeoDataFrame
        One row per record, raw values (strings for CSV).
    rows : pandas.Series
        Source row numbers (CSV line numbers; feature numbers for vector files).
    rejects : pandas.DataFrame
        Rows that could not even be split into fields (``row``, ``field``, ``value``, ``reason``).
    crs : object
        Declared CRS of vector files (None for CSV).
    encoding, separator : str or None
        What was detected or used.
    """

    frame: pd.DataFrame
    rows: pd.Series
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["row", "field", "value", "reason"]))
    crs: Any = None
    encoding: str | None = None
    separator: str | None = None
    kind: str = "csv"

    @property
    def n_read(self) -> int:
        """Number of records read, including those rejected while splitting."""
        return len(self.frame) + len(self.rejects)


def max_source_bytes() -> int:
    """Largest size a source file may have once decompressed (``QPV_MAX_IMPORT_MB``)."""
    return int(get_settings().max_import_mb * 1024 * 1024)


def _too_big(path: Path, limit: int, *, unpacked: bool = False) -> SourceFileError:
    what = "une fois décompressé " if unpacked else ""
    return SourceFileError(
        f"Fichier {path.name} trop volumineux {what}: plus de {limit / 1024**2:g} Mo "
        "(limite QPV_MAX_IMPORT_MB)."
    )


def _check_size(path: Path) -> int:
    """Refuse a missing file, or one bigger than the limit as it is on disk; return the limit."""
    if not path.exists():
        raise SourceFileError(f"Fichier introuvable : {path}.")
    limit = max_source_bytes()
    if path.stat().st_size > limit:
        raise _too_big(path, limit)
    return limit


def _gunzip(path: Path, limit: int, *, keep: bool) -> bytes:
    """Decompress ``path`` by blocks, stopping as soon as it exceeds ``limit`` bytes.

    With ``keep=False`` only the size is checked and nothing is kept in memory.
    """
    out = bytearray()
    size = 0
    try:
        with gzip.open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                size += len(block)
                if size > limit:
                    raise _too_big(path, limit, unpacked=True)
                if keep:
                    out += block
    except (OSError, EOFError, zlib.error) as exc:
        raise SourceFileError(f"Fichier illisible ou tronqué ({path.name}) : {exc}.") from exc
    return bytes(out)


def _read_bytes(path: Path) -> bytes:
    limit = _check_size(path)
    if path.suffix.lower() == ".gz":
        return _gunzip(path, limit, keep=True)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceFileError(f"Fichier illisible ({path.name}) : {exc}.") from exc


def decode_text(data: bytes, *, encoding: str | None = None, name: str = "") -> tuple[str, str]:
    """Decode bytes, detecting UTF-8 (with or without BOM), UTF-16, CP1252 or Latin-1.

    Parameters
    ----------
    data : bytes
        File content.
    encoding : str, optional
        Declared encoding; ``None`` or ``"auto"`` to detect.
    name : str
        File name for messages.

    Returns
    -------
    text, encoding : str
        The text and the encoding used.

    Raises
    ------
    SourceFileError
        When the declared encoding does not fit, or the file is binary.
    """
    if data.startswith(codecs.BOM_UTF8):
        return _decode_declared(data[len(codecs.BOM_UTF8):], "utf-8", name, "utf-8-sig"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _decode_declared(data, "utf-16", name, "utf-16 (BOM)"), "utf-16"
    if encoding and encoding.lower() != "auto":
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise SourceFileError(
                f"{name} n'est pas encodé en {encoding} (octet invalide ligne {line}). "
                "Laissez l'encodage en détection automatique ou précisez cp1252 / latin-1."
            ) from exc
        except LookupError as exc:
            raise SourceFileError(f"Encodage inconnu : {encoding}.") from exc
        return text, encoding
    if b"\x00" in data[:4096]:
        raise SourceFileError(f"{name} semble binaire : ce n'est pas un fichier texte CSV.")
    for enc in _ENCODINGS:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise SourceFileError(f"Encodage de {name} non reconnu.")  # pragma: no cover - latin-1 decodes all


def _decode_declared(data: bytes, encoding: str, name: str, declared: str) -> str:
    """Decode with the encoding a BOM declares; a French error naming the line otherwise."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
        raise SourceFileError(
            f"{name} commence par la marque d'encodage {declared} mais n'est pas valide dans cet "
            f"encodage (octet invalide ligne {line}) : fichier corrompu ou mal converti."
        ) from exc


def sniff_separator(header: str) -> str:
    """Pick the separator used in a CSV header line (outside quotes)."""
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for ch in header:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","


def read_csv(
    path: str | Path, *, encoding: str | None = None, separator: str | None = None
) -> SourceTable:
    """Read a CSV file into strings, keeping line numbers and listing malformed rows.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (optionally ``.gz``) file.
    encoding, separator : str, optional
        Declared values; detected when ``None`` or ``"auto"``.

    Returns
    -------
    SourceTable

    Raises
    ------
    SourceFileError
        Empty file, undecodable content, or a header that does not split.
    """
    path = Path(path)
    data = _read_bytes(path)
    if not data.strip():
        raise SourceFileError(f"Le fichier {path.name} est vide.")
    text, used = decode_text(data, encoding=encoding, name=path.name)
    sep = _csv_separator(text, separator, path.name)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep or ",")
    header = _csv_header(reader, path.name)
    records, rows, bad = _csv_records(reader, width=len(header), sep=sep, name=path.name)
    if not records and not bad:
        raise SourceFileError(f"Le fichier {path.name} ne contient qu'un en-tête, aucune ligne de données.")
    frame = pd.DataFrame(records, columns=header, dtype="object")
    return SourceTable(
        frame=frame,
        rows=pd.Series(rows, index=frame.index, dtype="int64"),
        rejects=pd.DataFrame(bad, columns=["row", "field", "value", "reason"]),
        encoding=used,
        separator=sep,
        kind="csv",
    )


def _csv_separator(text: str, declared: str | None, name: str) -> str:
    """Return the separator to split on: the declared one when it fits the header, else the detected one."""
    header_line = _first_line(text)
    detected = sniff_separator(header_line)
    sep = detected if declared is None or declared == "auto" else declared
    if sep != detected and header_line.count(sep or ",") == 0:
        raise SourceFileError(
            f"Le séparateur déclaré « {sep} » n'apparaît pas dans l'en-tête de {name} ; "
            f"le fichier semble utiliser « {detected} »."
        )
    if len(sep or ",") != 1:
        raise SourceFileError(f"Séparateur « {sep} » invalide : un seul caractère attendu.")
    return sep


def _csv_header(reader: CsvReader, name: str) -> list[str]:
    """Read and clean the header row; refuse a header too wide, with duplicates or one column."""
    try:
        header = next(reader)
    except StopIteration:
        raise SourceFileError(f"Le fichier {name} est vide.") from None
    except csv.Error as exc:
        raise SourceFileError(f"En-tête de {name} illisible : {exc}.") from exc
    if len(header) > MAX_COLUMNS:
        raise SourceFileError(
            f"L'en-tête de {name} a {len(header)} colonnes (au plus {MAX_COLUMNS}) : "
            "ce n'est pas un tableau importable."
        )
    header = _clean_header(header)
    if len(header) < 2 or len(set(header)) != len(header):
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise SourceFileError(f"Colonnes en double dans l'en-tête : {', '.join(dupes)}.")
        raise SourceFileError(
            f"L'en-tête de {name} ne contient qu'une colonne : vérifiez le séparateur."
        )
    return header


def _csv_records(
    reader: CsvReader, *, width: int, sep: str, name: str
) -> tuple[list[list[str]], list[int], list[dict[str, Any]]]:
    """Read the data rows after the header.

    Returns the well-formed records, their line numbers, and the rejects of blank,
    malformed and unreadable lines.
    """
    records: list[list[str]] = []
    rows: list[int] = []
    bad: list[dict[str, Any]] = []
    start_line = 2
    try:
        for rec in reader:
            line = start_line
            start_line = reader.line_num + 1
            if not rec or all(not c.strip() for c in rec):
                bad.append({"row": line, "field": "", "value": sep.join(rec)[:80],
                            "reason": "ligne vide"})
                continue
            if len(rec) != width:
                bad.append({"row": line, "field": "", "value": sep.join(rec)[:80],
                            "reason": f"nombre de colonnes incorrect ({len(rec)} au lieu de {width})"
                                      " : ligne tronquée ou mal formée"})
                continue
            records.append(rec)
            rows.append(line)
    except csv.Error as exc:
        if "field limit" in str(exc):
            raise SourceFileError(
                f"{name}, ligne {start_line} : champ de plus de {csv.field_size_limit()} caractères "
                "(guillemet non fermé ?) : fichier refusé."
            ) from exc
        bad.append({"row": start_line, "field": "", "value": "",
                    "reason": f"ligne illisible : {exc} (fichier tronqué ?)"})
    return records, rows, bad


def _first_line(text: str) -> str:
    """Return the first non-blank line of ``text``, without splitting the whole text into lines."""
    start = 0
    while start < len(text):
        end = len(text)
        for newline in ("\n", "\r"):
            pos = text.find(newline, start, end)
            if pos != -1:
                end = pos
        line = text[start:end]
        if line.strip():
            return line
        start = end + 1
    return ""


_DBF_HEADER = re.compile(r"^(?P<name>[^,]+),[CNDLF],\d+(?:,\d+)?$")


def _clean_header(header: list[str]) -> list[str]:
    """Strip spaces, and dBase type suffixes (« Nom,C,254 ») that some exports keep."""
    names = [h.strip().lstrip("\ufeff") for h in header]
    matches = [_DBF_HEADER.match(h) for h in names]
    if names and all(matches):
        return [m.group("name") for m in matches if m]
    return names


def read_vector(path: str | Path, *, layer: str | None = None, encoding: str | None = None) -> SourceTable:
    """Read a GeoJSON, GeoPackage or (zipped) Shapefile with pyogrio.

    Raises
    ------
    SourceFileError
        When GDAL cannot open the file (truncated, not a vector file, no such layer).
    """
    import pyogrio

    path = Path(path)
    limit = _check_size(path)
    if path.stat().st_size == 0:
        raise SourceFileError(f"Le fichier {path.name} est vide.")
    if path.suffix.lower() == ".zip":
        _check_zip(path, limit)
    elif path.suffix.lower() == ".gz":
        _gunzip(path, limit, keep=False)
    kwargs: dict[str, Any] = {}
    if encoding and encoding.lower() != "auto":
        kwargs["encoding"] = encoding
    try:
        # GDAL reports through warnings (mixed property types, skipped coordinates): they go
        # to the log; geometries GEOS cannot build become empty ones, rejected row by row
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gdf = pyogrio.read_dataframe(path, layer=layer, on_invalid="ignore", **kwargs)
    except _vector_errors() as exc:
        logger.info("GDAL cannot read %s: %s", path.name, exc)
        raise SourceFileError(
            f"Impossible de lire {path.name} : fichier tronqué, corrompu ou d'un format non géré ; "
            f"formats acceptés : {ACCEPTED_FORMATS}."
        ) from exc
    for w in caught:
        logger.info("lecture de %s : %s", path.name, w.message)
    _check_geojson_features(path, limit, len(gdf))
    if not isinstance(gdf, gpd.GeoDataFrame):  # pragma: no cover - attribute-only table
        raise SourceFileError(f"{path.name} ne contient pas de géométries.")
    gdf = flatten_lists(gdf.reset_index(drop=True))
    if len(gdf) == 0:
        raise SourceFileError(f"Le fichier {path.name} ne contient aucune entité.")
    return SourceTable(
        frame=gdf,
        rows=pd.Series(range(1, len(gdf) + 1), index=gdf.index, dtype="int64"),
        crs=gdf.crs,
        kind="vector",
    )


def _join_list(value: Any) -> Any:
    """Return a list or array cell as comma-separated text; other values unchanged."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return LIST_SEPARATOR.join(str(v) for v in value if v is not None and str(v) != "")
    return value


def flatten_lists(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with list-valued cells (GeoJSON arrays) as comma-separated texts."""
    out = frame
    for col in frame.columns:
        if col == getattr(frame, "_geometry_column_name", None) or frame[col].dtype != object:
            continue
        cells = frame[col]
        if cells.map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            if out is frame:
                out = frame.copy()
            out[col] = cells.map(_join_list)
    return out


def _check_geojson_features(path: Path, limit: int, n_read: int) -> None:
    """Refuse a GeoJSON whose ``features`` holds entries GDAL skipped without a word.

    GDAL drops array entries that are not Feature objects (``{}``, ``null``, numbers): those
    rows would be lost, neither stored nor listed among the rejects.
    """
    suffixes = [s.lower() for s in path.suffixes]
    if not {".geojson", ".json"} & set(suffixes) or path.stat().st_size > GEOJSON_CHECK_BYTES:
        return
    try:
        raw = _gunzip(path, limit, keep=True) if suffixes[-1] == ".gz" else path.read_bytes()
        doc = json.loads(raw)
    except (ValueError, RecursionError, SourceFileError):
        return  # GDAL read it its own way: nothing to compare with
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list) or len(features) == n_read:
        return
    for number, feature in enumerate(features, start=1):
        if not (isinstance(feature, dict) and feature.get("type") == "Feature"):
            raise SourceFileError(
                f"{path.name}, entité n° {number} : ce n'est pas un objet GeoJSON « Feature » "
                f"({json.dumps(feature, ensure_ascii=False)[:60]}) ; corrigez ou retirez-la."
            )
    raise SourceFileError(  # pragma: no cover - GDAL skipped a well-formed Feature
        f"{path.name} : {len(features)} entités déclarées, {n_read} lisibles."
    )


def _check_zip(path: Path, limit: int) -> None:
    """Refuse broken archives, zip bombs and hostile members before GDAL unpacks them.

    Refused: more than :data:`MAX_ZIP_MEMBERS` members, an unpacked size over ``limit`` or a
    compression ratio over :data:`MAX_ZIP_RATIO`, member names that climb out of the archive
    (``../``, absolute paths), symbolic links, and archives nested inside the archive.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise SourceFileError(f"Archive {path.name} illisible ou tronquée.") from exc
    if len(infos) > MAX_ZIP_MEMBERS:
        raise SourceFileError(
            f"Archive {path.name} refusée : {len(infos)} fichiers (au plus {MAX_ZIP_MEMBERS})."
        )
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > limit:
        raise _too_big(path, limit, unpacked=True)
    if total / packed > MAX_ZIP_RATIO:
        raise SourceFileError(f"Archive {path.name} refusée : taux de compression anormal.")
    for info in infos:
        name = info.filename.replace("\\", "/")
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in name.split("/") \
                or "\x00" in name:
            raise SourceFileError(
                f"Archive {path.name} refusée : le chemin « {info.filename[:120]} » sort de l'archive."
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise SourceFileError(
                f"Archive {path.name} refusée : « {info.filename[:120]} » est un lien symbolique."
            )
        if name.lower().endswith((".zip", ".gz", ".7z", ".rar", ".tar", ".tgz")):
            raise SourceFileError(
                f"Archive {path.name} refusée : elle contient une autre archive ({info.filename[:120]})."
            )
    if not any(i.filename.lower().endswith((".shp", ".gpkg", ".geojson", ".json")) for i in infos):
        raise SourceFileError(f"L'archive {path.name} ne contient ni Shapefile ni GeoPackage.")


def read_source(
    path: str | Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    separator: str | None = None,
    layer: str | None = None,
) -> SourceTable:
    """Read any supported source file.

    Parameters
    ----------
    path : str or Path
        CSV (``.csv``, ``.txt``, ``.csv.gz``), GeoJSON, JSON array of records, GeoPackage or
        zipped Shapefile.
    fmt : {"csv", "json", "vector"}, optional
        Force the reader; chosen from the file name otherwise (a ``.json`` file holding an
        array of records is read as records, any other as a vector file).
    encoding, separator, layer : str, optional
        Passed to the reader.

    Returns
    -------
    SourceTable
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    is_csv = fmt == "csv" or (fmt is None and bool(set(suffixes) & CSV_SUFFIXES))
    if is_csv:
        return read_csv(path, encoding=encoding, separator=separator)
    if fmt == "json" or (fmt is None and ".json" in suffixes and ".geojson" not in suffixes):
        table = _read_json_records(path, encoding=encoding)
        if table is not None:
            return table
    if fmt is None and (suffixes[-1:] == [".osm"] or suffixes[-1:] == [".pbf"]):
        return read_osm(path)
    return read_vector(path, layer=layer, encoding=encoding)


def read_osm(path: str | Path) -> SourceTable:
    """Read the walkable ways of an OpenStreetMap extract (``.osm`` XML or ``.osm.pbf``).

    One row per way with ``osm_id``, ``name``, ``highway``, ``layer``, ``bridge`` and
    ``tunnel`` (the ``osm-voies`` layout of the ``voies`` layer); other ways (rivers,
    motorways…) are not streets a walker uses and are not read.

    Raises
    ------
    SourceFileError
        When the extract cannot be read or holds no walkable way.
    MissingDependencyError
        When pyosmium (extra ``osm``) is not installed.
    """
    from geo.walks.osm import read_osm_ways

    path = Path(path)
    _check_size(path)
    try:
        ways = read_osm_ways(path)
    except NetworkError as exc:
        raise SourceFileError(f"{exc} Formats acceptés : {ACCEPTED_FORMATS}.") from exc
    ways = ways.reset_index(drop=True)
    return SourceTable(frame=ways, rows=pd.Series(range(1, len(ways) + 1), index=ways.index, dtype="int64"),
                       crs=ways.crs, kind="vector")


def _read_json_records(path: Path, *, encoding: str | None) -> SourceTable | None:
    """Read a JSON array of records (None when the file is GeoJSON or another JSON)."""
    from layers._json_records import json_records_frame

    data = _read_bytes(path)
    if data.lstrip().lstrip(codecs.BOM_UTF8).lstrip()[:1] not in (b"[", b"{"):
        return None
    text, _used = decode_text(data, encoding=encoding, name=path.name)
    gdf = json_records_frame(path.name, text)
    if gdf is None:
        return None
    return SourceTable(frame=gdf, rows=pd.Series(range(1, len(gdf) + 1), index=gdf.index, dtype="int64"),
                       crs=gdf.crs, kind="vector")
