"""``qpv localiser --csv``: read a CSV as its author wrote it, find the QPV of each row, write it back.

The address column is found by its name (``adresse``, ``address``, ``libelle``,
``adresse_complete``…, case and accents ignored), and so are coordinates (``lon``/``lat``,
``longitude``/``latitude``, ``lng``/``lat``, ``x``/``y``: WGS84 when every value fits,
Lambert-93 otherwise); ``--colonne-adresse``, ``--lon`` and ``--lat`` win over the guess.
The output keeps the input's columns, separator and encoding (UTF-8, with or without BOM,
or Windows-1252) and adds :data:`OUTPUT_COLUMNS`, in French with French values
(``oui``/``non``, empty when unknown).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.mapping import column_key
from layers.sources import decode_text, sniff_separator
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


def read_table(path: Path) -> tuple[pd.DataFrame, str, str]:
    """Read a CSV as text: (table, separator, encoding), both detected as every import does.

    Raises
    ------
    SourceFileError
        When the file is binary or its declared encoding does not fit.
    CliInputError
        When the file is empty or not a readable CSV.
    """
    text, encoding = decode_text(path.read_bytes(), name=path.name)
    if not text.strip():
        raise CliInputError(f"Fichier {path.name} vide.")
    sep = sniff_separator(text.split("\n", 1)[0])
    try:
        data = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, ValueError) as exc:
        raise CliInputError(
            f"Fichier {path.name} illisible comme CSV (séparateur « {sep} ») : {exc}") from None
    return data, sep, encoding


def _coordinates(data: pd.DataFrame, cols: CsvColumns) -> gpd.GeoSeries:
    """Points of the rows (None where a coordinate is missing), WGS84 or Lambert-93 by their values."""
    if cols.lon is None or cols.lat is None:
        raise CliInputError("Colonnes de coordonnées manquantes.")
    x = pd.to_numeric(data[cols.lon].str.replace(",", ".", regex=False).str.strip(), errors="coerce")
    y = pd.to_numeric(data[cols.lat].str.replace(",", ".", regex=False).str.strip(), errors="coerce")
    ok = x.notna() & y.notna()
    wgs84 = bool(((x[ok].abs() <= 180) & (y[ok].abs() <= 90)).all())
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


def lookup_csv(index: Any, path: Path, output: Path, *, columns: CsvColumns, commune: str | None,
               data: pd.DataFrame, sep: str, encoding: str,
               progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Look up every row of ``data`` (read from ``path``) and write ``output``; return the written table."""
    from geo.perimeters.lookup import AddressColumns, lookup_many

    text = data[columns.address] if columns.address else pd.Series("", index=data.index, dtype=object)
    if columns.lon is not None:
        frame: pd.DataFrame = gpd.GeoDataFrame({"adresse": text}, geometry=_coordinates(data, columns),
                                               crs="EPSG:4326")
    else:
        frame = pd.DataFrame({"adresse": text})
    found = lookup_many(frame, index, columns=AddressColumns(address="adresse" if columns.address else None),
                        commune=commune, chunk_size=max(500, len(data) // 50), progress=progress)
    added = french_columns(found)
    clash = [c for c in OUTPUT_COLUMNS if c in data.columns]
    if clash:
        logger.info("output columns replaced in %s: %s", path.name, clash)
    out = data.drop(columns=clash).assign(**added)
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding=encoding, errors="replace", newline="") as fh:
        out.to_csv(fh, sep=sep, index=False)
    return out
