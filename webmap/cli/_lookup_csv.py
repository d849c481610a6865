"""``qpv localiser --csv``: read a CSV as its author wrote it, find the QPV of each row, write it back.

The address column is found by its name (``adresse``, ``address``, ``libelle``,
``adresse_complete``…, case and accents ignored), and so are coordinates (``lon``/``lat``,
``longitude``/``latitude``, ``lng``/``lat``, ``x``/``y``: WGS84 when every value fits,
Lambert-93 otherwise); ``--colonne-adresse``, ``--lon`` and ``--lat`` win over the guess.
The output keeps the input's columns, separator and encoding (UTF-8, with or without BOM,
or Windows-1252) and adds :data:`OUTPUT_COLUMNS`, in French with French values
(``oui``/``non``, empty when unknown).

The file is streamed: its encoding is checked in one pass over the bytes, then it is read,
looked up and written :data:`CHUNK_ROWS` rows at a time (memory bounded by the chunk, not the
file: a 26-million-row BAN runs like a small one), into a temporary file renamed at the end.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.errors import SourceFileError
from layers.mapping import column_key
from layers.sources import sniff_separator
from webmap.errors import CliInputError

logger = logging.getLogger(__name__)

#: Column names taken as the address (normalised: lower case, no accents, ``_`` between words).
ADDRESS_NAMES = ("adresse", "adresse_complete", "adresse_postale", "address", "full_address", "libelle",
                 "libelle_adresse", "adresses", "adr", "label", "localisation", "lieu")
#: Pairs of column names taken as coordinates (longitude/x first).
POINT_NAMES = (("lon", "lat"), ("longitude", "latitude"), ("lng", "lat"), ("long", "lat"), ("x", "y"))
#: Columns added to the output, in this order.
OUTPUT_COLUMNS = [
    "qpv_statut", "qpv_code", "qpv_nom", "qpv_geographie", "qpv_raison", "qpv_motif", "qpv_polygone",
    "qpv_liste_rues", "qpv_desaccord", "qpv_distance_m", "qpv_adresse_trouvee", "qpv_score",
    "qpv_approchee", "qpv_remarque", "qpv_lon", "qpv_lat",
]
#: Rows read, looked up and written at a time.
CHUNK_ROWS = 200_000
#: Bytes read at a time when checking the encoding.
_BLOCK = 16 * 1024**2


@dataclass(frozen=True)
class CsvColumns:
    """The columns of the input CSV used by the lookup (``None``: not used)."""

    address: str | None
    lon: str | None
    lat: str | None


def detect_columns(columns: list[str], *, address: str | None, lon: str | None, lat: str | None,
                   source: str) -> CsvColumns:
    """Choose the address and coordinate columns: the options given, else the recognised names.

    Raises
    ------
    CliInputError
        When a named column is missing, only one coordinate is named, or nothing is found.
    """
    for col in (address, lon, lat):
        if col is not None and col not in columns:
            raise CliInputError(f"Colonne « {col} » absente de {source} (colonnes : {', '.join(columns)}).")
    if (lon is None) != (lat is None):
        raise CliInputError("Indiquez les deux colonnes de coordonnées (--lon et --lat), ou aucune.")
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(column_key(col), col)
    explicit = address is not None or lon is not None
    if address is None and not explicit:
        address = next((by_norm[column_key(n)] for n in ADDRESS_NAMES if column_key(n) in by_norm), None)
    if lon is None and not explicit:
        pair = next(((by_norm[a], by_norm[b]) for a, b in POINT_NAMES if a in by_norm and b in by_norm), None)
        if pair is not None:
            lon, lat = pair
    if address is None and lon is None:
        raise CliInputError(
            f"Aucune colonne d'adresse ni de coordonnées reconnue dans {source} (colonnes : "
            f"{', '.join(columns)}). Nommez-la avec --colonne-adresse, ou --lon et --lat."
        )
    return CsvColumns(address, lon, lat)


@dataclass(frozen=True)
class CsvSource:
    """A CSV file with its detected separator and encoding."""

    path: Path
    sep: str
    encoding: str


def _decodes(path: Path, encoding: str, *, skip: int = 0) -> int | None:
    """Byte offset of the first byte ``encoding`` cannot decode (``None``: the whole file decodes)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = skip
    with path.open("rb") as fh:
        fh.seek(skip)
        while True:
            block = fh.read(_BLOCK)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                return offset + exc.start
            if not block:
                return None
            offset += len(block)


def detect_encoding(path: Path) -> str:
    """Encoding of a text file, as :func:`layers.sources.decode_text` finds it, in one streamed pass.

    Raises
    ------
    SourceFileError
        When the file is binary, or a BOM declares UTF-8 and a byte is not.
    """
    with path.open("rb") as fh:
        head = fh.read(4096)
    if head.startswith(codecs.BOM_UTF8):
        bad = _decodes(path, "utf-8", skip=len(codecs.BOM_UTF8))
        if bad is not None:
            raise SourceFileError(
                f"{path.name} commence par la marque d'encodage utf-8 mais n'est pas valide dans cet "
                f"encodage (octet invalide à la position {bad}) : fichier corrompu ou mal converti.")
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise SourceFileError(f"{path.name} semble binaire : ce n'est pas un fichier texte CSV.")
    for encoding in ("utf-8", "cp1252"):
        if _decodes(path, encoding) is None:
            return encoding
    return "latin-1"


def sniff_csv(path: Path) -> CsvSource:
    """Detect the encoding and separator of a CSV (as every import does), reading its head only.

    Raises
    ------
    SourceFileError
        When the file is binary or its declared encoding does not fit.
    CliInputError
        When the file is empty.
    """
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        head = fh.read(64 * 1024)
    if not head.strip():
        raise CliInputError(f"Fichier {path.name} vide.")
    return CsvSource(path, sniff_separator(head.lstrip("\ufeff").split("\n", 1)[0]), encoding)


def _reader(source: CsvSource, fh: IO[bytes], rows: int) -> Iterator[pd.DataFrame]:
    """Chunks of ``rows`` rows of the CSV, every value as text."""
    try:
        yield from pd.read_csv(fh, sep=source.sep, dtype=str, keep_default_na=False, encoding=source.encoding,
                               chunksize=rows)
    except (pd.errors.ParserError, ValueError) as exc:
        raise CliInputError(
            f"Fichier {source.path.name} illisible comme CSV (séparateur « {source.sep} ») : {exc}") from None


def read_header(source: CsvSource) -> list[str]:
    """Column names of the CSV.

    Raises
    ------
    CliInputError
        When the file is not a readable CSV.
    """
    with source.path.open("rb") as fh:
        return [str(c) for c in next(_reader(source, fh, 1)).columns]


def _coordinates(data: pd.DataFrame, cols: CsvColumns, state: _Run) -> gpd.GeoSeries:
    """Points of the rows (None where a coordinate is missing), WGS84 or Lambert-93 by their values.

    The system is chosen on the first chunk with coordinates and kept for the file; a later
    chunk whose values do not fit it is an error, not a silent guess.
    """
    if cols.lon is None or cols.lat is None:
        raise CliInputError("Colonnes de coordonnées manquantes.")
    x = pd.to_numeric(data[cols.lon].str.replace(",", ".", regex=False).str.strip(), errors="coerce")
    y = pd.to_numeric(data[cols.lat].str.replace(",", ".", regex=False).str.strip(), errors="coerce")
    ok = x.notna() & y.notna()
    fits = bool(((x[ok].abs() <= 180) & (y[ok].abs() <= 90)).all())
    if state.wgs84 is None and ok.any():
        state.wgs84 = fits
    wgs84 = fits if state.wgs84 is None else state.wgs84
    if wgs84 and not fits:
        raise CliInputError(
            f"Coordonnées « {cols.lon} » / « {cols.lat} » en degrés (WGS84) au début du fichier, mais "
            f"hors des degrés à partir de la ligne {state.done + 2} : système de coordonnées mélangé.")
    crs = "EPSG:4326" if wgs84 else "EPSG:2154"
    points = gpd.GeoSeries(gpd.points_from_xy(x, y), index=data.index, crs=crs)
    return points.where(ok, None).to_crs("EPSG:4326") if not wgs84 else points.where(ok, None)


def _yes_no(values: pd.Series) -> np.ndarray:
    return np.where(values.to_numpy(dtype=bool), "oui", "non")


def french_columns(found: pd.DataFrame) -> dict[str, Any]:
    """:data:`OUTPUT_COLUMNS` from the columns of :func:`geo.perimeters.lookup.lookup_many`."""
    from layers.perimeters import REASON_CODES, STATUS_CODES

    def text(col: str) -> np.ndarray:
        values = found[col].astype(object)
        return values.where(values.notna(), "").astype(str).to_numpy()

    def number(values: pd.Series, digits: int) -> np.ndarray:
        arr = values.to_numpy(dtype=float)
        return np.array(["" if v != v else f"{v:.{digits}f}".rstrip("0").rstrip(".") for v in arr],
                        dtype=object)

    n = len(found)
    status = text("qpv_status")
    has_match = "qpv_match" in found.columns
    x = found["qpv_x"].to_numpy(dtype=float) if has_match else np.full(n, np.nan)
    y = found["qpv_y"].to_numpy(dtype=float) if has_match else np.full(n, np.nan)
    if not has_match and isinstance(found, gpd.GeoDataFrame):
        pts = found.geometry.to_crs("EPSG:2154")
        ok = pts.notna() & ~pts.is_empty
        x[ok.to_numpy()], y[ok.to_numpy()] = pts[ok].x.to_numpy(), pts[ok].y.to_numpy()
    lon = np.full(n, np.nan)
    lat = np.full(n, np.nan)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any():
        ll = gpd.GeoSeries(gpd.points_from_xy(x[ok], y[ok]), crs="EPSG:2154").to_crs("EPSG:4326")
        lon[ok], lat[ok] = ll.x.to_numpy(), ll.y.to_numpy()
    score = found["qpv_match_score"] if has_match else pd.Series(np.nan, index=found.index)
    note = text("qpv_match_note") if has_match else np.full(n, "", dtype=object)
    approx = (score.to_numpy(dtype=float) < 1) | pd.Series(note).str.contains("absent de la base").to_numpy()
    rule = found["qpv_rule"].astype(object)
    poly = found["qpv_polygon"].astype(object)

    def side(values: pd.Series) -> np.ndarray:
        named = np.where(values == "", "hors QPV", values.astype(str))
        return np.where(values.isna(), "", named).astype(object)

    return {
        "qpv_statut": np.array([STATUS_CODES.get(v, v) for v in status], dtype=object),
        "qpv_code": text("qpv_code"),
        "qpv_nom": text("qpv_name"),
        "qpv_geographie": text("qpv_geography"),
        "qpv_raison": text("qpv_detail"),
        "qpv_motif": np.array([REASON_CODES.get(v, v) for v in text("qpv_reason")], dtype=object),
        "qpv_polygone": side(poly),
        "qpv_liste_rues": side(rule),
        "qpv_desaccord": _yes_no(found["qpv_disagree"]),
        "qpv_distance_m": number(found["qpv_distance_m"], 1),
        "qpv_adresse_trouvee": text("qpv_match") if has_match else np.full(n, "", dtype=object),
        "qpv_score": number(score, 2),
        "qpv_approchee": np.where(np.isnan(score.to_numpy(dtype=float)), "", np.where(approx, "oui", "non")),
        "qpv_remarque": note,
        "qpv_lon": number(pd.Series(lon), 6),
        "qpv_lat": number(pd.Series(lat), 6),
    }


@dataclass
class _Run:
    """What a streamed lookup carries from chunk to chunk."""

    done: int = 0
    wgs84: bool | None = None
    counts: dict[str, int] = field(default_factory=dict)


def _lookup_chunk(index: Any, data: pd.DataFrame, *, columns: CsvColumns, commune: str | None,
                  state: _Run) -> pd.DataFrame:
    """Look up one chunk; return it with :data:`OUTPUT_COLUMNS` (the input's columns first)."""
    from geo.perimeters.lookup import AddressColumns, lookup_many

    text = data[columns.address] if columns.address else pd.Series("", index=data.index, dtype=object)
    if columns.lon is not None:
        frame: pd.DataFrame = gpd.GeoDataFrame({"adresse": text}, geometry=_coordinates(data, columns, state),
                                               crs="EPSG:4326")
    else:
        frame = pd.DataFrame({"adresse": text})
    found = lookup_many(frame, index, columns=AddressColumns(address="adresse" if columns.address else None),
                        commune=commune, chunk_size=len(data) + 1)
    added = french_columns(found)
    clash = [c for c in OUTPUT_COLUMNS if c in data.columns]
    if clash and not state.done:
        logger.info("output columns replaced: %s", clash)
    return data.drop(columns=clash).assign(**added)


def lookup_csv(index: Any, source: CsvSource, output: Path, *, columns: CsvColumns, commune: str | None,
               chunk_rows: int = CHUNK_ROWS,
               progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Look up every row of ``source`` and write ``output``, :data:`CHUNK_ROWS` rows at a time.

    Parameters
    ----------
    index : geo.perimeters.lookup.LookupIndex
        The lookup index.
    source : CsvSource
        The input (:func:`sniff_csv`).
    output : Path
        The CSV written (separator and encoding of the input); replaced only at the end.
    columns : CsvColumns
        The address and coordinate columns.
    commune : str, optional
        Commune assumed when an address names none.
    chunk_rows : int
        Rows read, looked up and written at a time.
    progress : callable, optional
        ``progress(bytes_read, file_size)`` after each chunk.

    Returns
    -------
    dict
        Rows per ``qpv_statut`` (most frequent first).

    Raises
    ------
    CliInputError
        When the file is not a readable CSV or mixes coordinate systems.
    """
    state = _Run()
    size = source.path.stat().st_size
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partiel")
    try:
        with source.path.open("rb") as raw, partial.open("w", encoding=source.encoding, errors="replace",
                                                         newline="") as fh:
            header = True
            for data in _reader(source, raw, max(1, int(chunk_rows))):
                out = _lookup_chunk(index, data, columns=columns, commune=commune, state=state)
                out.to_csv(fh, sep=source.sep, index=False, header=header)
                header = False
                state.done += len(data)
                for status, n in out["qpv_statut"].value_counts(sort=False).items():
                    state.counts[str(status)] = state.counts.get(str(status), 0) + int(n)
                if progress is not None:
                    progress(min(raw.tell(), size), size)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)
    return dict(sorted(state.counts.items(), key=lambda kv: -kv[1]))
