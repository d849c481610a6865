"""Import pipeline: read → map → check coordinates → validate → store, in one transaction.

Every input row ends up either stored (new, or already present from an earlier import
of the same data) or listed in the reject report with its row number and reason.
Re-importing the same file adds nothing: each record's ``uid`` derives from the
dataset and the source id, or from the record's content when the source has no id.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import area_of_use_bounds, resolve_crs
from geo.errors import CRSError
from geo.geometry import repair_polygons
from geo.walks.streets import LEVEL_COLUMNS, LEVEL_TAGS, street_levels
from layers.errors import MappingError, SourceFileError, StoreError
from layers.layouts import CODE_GEOGRAPHIES, geography_from_codes, recognise
from layers.mapping import Mapping_, column_renames, identity_mapping, load_mapping
from layers.schema import get_schema
from layers.sources import SourceTable, read_source
from layers.store.base import LayerStore, iter_chunks
from layers.validate import REJECT_COLUMNS, fold, validate_frame

logger = logging.getLogger(__name__)

#: Records per store write during an import (all in one transaction): the importer logs
#: its progress after each block.
WRITE_BLOCK = 10_000
#: Runs of the write transaction when the database aborts it to break a deadlock.
WRITE_ATTEMPTS = 5
_LON = re.compile(r"""['"]lon['"]\s*:\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)""")
_LAT = re.compile(r"""['"]lat['"]\s*:\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)""")


@dataclass
class ImportReport:
    """Summary and reject list of one import.

    ``n_read == n_inserted + n_existing + n_rejected`` always holds.
    """

    layer: str
    file_name: str
    dataset: str
    sha256: str
    n_read: int = 0
    n_inserted: int = 0
    n_existing: int = 0
    n_rejected: int = 0
    n_repaired: int = 0
    encoding: str | None = None
    separator: str | None = None
    seconds: float = 0.0
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECT_COLUMNS))
    repaired_rows: list[int] = field(default_factory=list)
    report_path: Path | None = None
    summary_path: Path | None = None
    unused_columns: list[str] = field(default_factory=list)
    layout: str | None = None

    @property
    def nothing_imported(self) -> bool:
        """Every row read was rejected: nothing stored, nothing already there."""
        return self.n_read > 0 and self.n_inserted + self.n_existing == 0

    def top_reasons(self, n: int = 3) -> list[tuple[str, int]]:
        """Return the ``n`` most frequent reject reasons with their number of rows."""
        if self.rejects.empty:
            return []
        counts = self.rejects.drop_duplicates(["row", "reason"])["reason"].value_counts()
        return [(str(reason), int(count)) for reason, count in counts.head(n).items()]

    def summary(self) -> dict[str, Any]:
        """Return the counts as a plain dictionary (French keys)."""
        return {
            "couche": self.layer,
            "fichier": self.file_name,
            "jeu_de_donnees": self.dataset,
            "lues": self.n_read,
            "ajoutees": self.n_inserted,
            "deja_presentes": self.n_existing,
            "rejetees": self.n_rejected,
            "reparees": self.n_repaired,
            "encodage": self.encoding,
            "separateur": self.separator,
            "format_reconnu": self.layout,
            "colonnes_inutilisees": self.unused_columns,
            "secondes": round(self.seconds, 2),
        }

    def write(self, folder: Path) -> Path:
        """Write the reject CSV and the summary JSON of this run in ``folder``; return the CSV path.

        Names carry the time of the run (``<file>.<layer>.rejets-20261205T201500.csv`` and
        ``….resume-….json``): a later import of the same file never overwrites them.
        """
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{Path(self.file_name).name}.{self.layer}"
        stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
        run = stamp
        for n in range(2, 1000):
            if not (folder / f"{stem}.rejets-{run}.csv").exists():
                break
            run = f"{stamp}-{n}"
        csv_path = folder / f"{stem}.rejets-{run}.csv"
        json_path = folder / f"{stem}.resume-{run}.json"
        self.rejects.sort_values("row", kind="stable").to_csv(csv_path, index=False, sep=";",
                                                               encoding="utf-8")
        summary = self.summary() | {"lignes_reparees": self.repaired_rows, "rejets": csv_path.name}
        json_path.write_text(json.dumps(summary, ensure_ascii=False, indent=2), encoding="utf-8")
        self.report_path = csv_path
        self.summary_path = json_path
        return csv_path


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _reject(rows: pd.Series, mask: pd.Series, field_name: str, reason: str,
            values: pd.Series | None = None) -> pd.DataFrame:
    return pd.DataFrame({
        "row": rows[mask].to_numpy(),
        "field": field_name,
        "value": (values[mask].astype("string").fillna("").str.slice(0, 80).to_numpy()
                  if values is not None else ""),
        "reason": reason,
    }, columns=REJECT_COLUMNS)


def _coordinates_text(geoms: np.ndarray) -> pd.Series:
    """Where each geometry is, for the reject report: the point's WKT, else its centroid's."""
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    out = np.full(len(geoms), "", dtype=object)
    if present.any():
        g = geoms[present]
        points = shapely.get_type_id(g) == 0
        where = np.where(points, g, shapely.centroid(g))
        text = shapely.to_wkt(where, rounding_precision=6)
        out[present] = np.where(points, text, np.char.add("centroïde ", text.astype(str)))
    return pd.Series(out, dtype="object")


def _apply_rules(table: SourceTable, mapping: Mapping_) -> pd.DataFrame:
    frame = table.frame
    missing = sorted(c for c in mapping.columns() if c not in frame.columns)
    if missing:
        hint = ""
        if table.separator and len(frame.columns) <= 2:
            hint = " Le séparateur semble incorrect."
        raise MappingError(
            f"Colonnes absentes du fichier : {', '.join(missing)}."
            f" Colonnes présentes : {', '.join(map(str, frame.columns[:15]))}.{hint}"
        )
    out: dict[str, pd.Series] = {}
    for rule in mapping.fields:
        if rule.column is not None:
            values = frame[rule.column]
        elif rule.template is not None:
            cols = sorted(rule.columns())
            parts = frame[cols].astype("string").fillna("")
            values = pd.Series(
                [rule.template.format(**dict(zip(cols, r, strict=True)))
                 for r in parts.itertuples(index=False)],
                index=frame.index, dtype="object",
            )
        else:
            values = pd.Series([rule.value] * len(frame), index=frame.index, dtype="object")
        if rule.missing:
            unknown = values.astype("string").fillna("").map(fold).isin(rule.missing)
            values = values.astype("object").where(~unknown, None)
        if rule.patterns:
            folded = values.astype("string").fillna("").map(fold)

            def first_match(text: str, r: Any = rule) -> Any:
                for pattern, value in r.patterns:
                    if pattern.search(text):
                        return value
                return None

            # astype: when nothing matches, pandas infers a null-typed arrow column
            matched = folded.map(first_match).astype("object")
            values = matched.where(matched.notna(), values).astype("object")
        if rule.values:
            folded = values.astype("string").fillna("").map(fold)
            mapped = folded.map(lambda v, r=rule: r.values.get(v)).astype("object")
            fallback = rule.default if rule.default is not None else values
            values = mapped.where(mapped.notna(), fallback).astype("object")
        elif rule.default is not None:
            blank = values.isna() | values.astype("string").str.strip().fillna("").eq("")
            values = values.astype("object").where(~blank, rule.default)
        out[rule.name] = values
    return pd.DataFrame(out, index=frame.index)


def _parse_float(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip().str.replace(",", ".", regex=False)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _build_geometry(table: SourceTable, mapping: Mapping_) -> tuple[np.ndarray, Any, pd.DataFrame]:
    """Return geometries in their source CRS, that CRS, and rejects for unreadable ones."""
    frame = table.frame
    spec = mapping.geometry
    rejects = []
    if table.kind == "vector":
        geoms = frame.geometry.to_numpy()
        declared = table.crs
        crs = spec.get("crs") or declared
        if crs is None:
            raise CRSError(
                f"{mapping.dataset} : le fichier ne déclare pas de système de coordonnées ; "
                "précisez « crs » dans la correspondance."
            )
        return geoms, crs, pd.DataFrame(columns=REJECT_COLUMNS)
    crs = spec.get("crs", "EPSG:4326")
    if "x" in spec:
        x = _parse_float(frame[spec["x"]])
        y = _parse_float(frame[spec["y"]])
        bad = x.isna() | y.isna()
        rejects.append(_reject(table.rows, bad, str(spec["x"]),
                               "coordonnées manquantes ou illisibles", frame[spec["x"]]))
        geoms = np.asarray(shapely.points(x.fillna(0).to_numpy(), y.fillna(0).to_numpy()))
        geoms[bad.to_numpy()] = None
    elif "wkt" in spec:
        text = frame[spec["wkt"]].astype("string").fillna("").to_numpy(dtype=object)
        geoms = shapely.from_wkt(text, on_invalid="ignore")
        bad = pd.Series(shapely.is_missing(geoms) | shapely.is_empty(geoms), index=frame.index)
        rejects.append(_reject(table.rows, bad, str(spec["wkt"]),
                               "géométrie WKT illisible ou vide", frame[spec["wkt"]]))
    elif "point_dict" in spec:
        raw = frame[spec["point_dict"]].astype("string").fillna("")
        lon = _parse_float(raw.str.extract(_LON, expand=False))
        lat = _parse_float(raw.str.extract(_LAT, expand=False))
        need = lon.isna() | lat.isna()
        for i in np.flatnonzero(need.to_numpy()):  # unusual spellings: fall back to a real parser
            try:
                d = ast.literal_eval(str(raw.iloc[i]))
                lon.iloc[int(i)], lat.iloc[int(i)] = float(d["lon"]), float(d["lat"])
            except (ValueError, SyntaxError, KeyError, TypeError):
                continue
        bad = lon.isna() | lat.isna()
        rejects.append(_reject(table.rows, bad, str(spec["point_dict"]),
                               "point illisible (attendu {'lon': …, 'lat': …})", raw))
        geoms = np.asarray(shapely.points(lon.fillna(0).to_numpy(), lat.fillna(0).to_numpy()))
        geoms[bad.to_numpy()] = None
    else:
        raise MappingError(f"{mapping.dataset} : la correspondance ne dit pas où est la géométrie.")
    return geoms, crs, pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(
        columns=REJECT_COLUMNS)


def _check_coordinates(
    geoms: np.ndarray, crs: Any, rows: pd.Series, *, target_crs: Any
) -> tuple[pd.Series, pd.DataFrame]:
    """Catch swapped lat/lon, projected coordinates declared as degrees, points off the map.

    Returns the mask of rows to keep and the rejects.
    """
    west, south, east, north = area_of_use_bounds(target_crs)
    source = resolve_crs(crs)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    cx = np.full(len(geoms), np.nan)
    cy = np.full(len(geoms), np.nan)
    if present.any():
        centroids = shapely.centroid(geoms[present])
        cx[present] = shapely.get_x(centroids)
        cy[present] = shapely.get_y(centroids)
    index = rows.index
    if source.is_geographic:
        out_of_range = present & ((np.abs(cx) > 180) | (np.abs(cy) > 90))
        if out_of_range.sum() > 0.5 * max(present.sum(), 1):
            lambert = (cx > 50_000) & (cx < 1_300_000) & (cy > 6_000_000) & (cy < 7_200_000)
            guess = " ; elles ressemblent à du Lambert 93 (EPSG:2154)" if lambert.mean() > 0.5 else ""
            raise CRSError(
                "Les coordonnées ne sont pas des degrés alors que le fichier est déclaré en "
                f"WGS84{guess}. Précisez « crs » dans la correspondance."
            )
        lon, lat = cx, cy
    else:
        out_of_range = np.zeros(len(geoms), dtype=bool)
        pts = gpd.GeoSeries(shapely.points(np.nan_to_num(cx), np.nan_to_num(cy)), crs=source)
        ll = pts.to_crs("EPSG:4326")
        lon, lat = ll.x.to_numpy(), ll.y.to_numpy()
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    swapped = present & ~inside & (lat >= west) & (lat <= east) & (lon >= south) & (lon <= north)
    if source.is_geographic and swapped.sum() > 0.5 * max(present.sum(), 1):
        raise CRSError(
            "Latitude et longitude semblent inversées pour la plupart des lignes : "
            "échangez x et y dans la correspondance."
        )
    outside = present & ~inside & ~swapped & ~out_of_range
    where = _coordinates_text(geoms).set_axis(index)
    rejects = pd.concat([
        _reject(rows, pd.Series(out_of_range, index=index), "geometry",
                "coordonnées hors des bornes (degrés attendus)", where),
        _reject(rows, pd.Series(swapped, index=index), "geometry",
                "latitude et longitude inversées ?", where),
        _reject(rows, pd.Series(outside, index=index), "geometry",
                "point hors du territoire couvert par le système de coordonnées", where),
    ], ignore_index=True)
    keep = pd.Series(~(out_of_range | swapped | outside), index=index)
    return keep, rejects


def _far_from_territory(store: LayerStore, gdf: gpd.GeoDataFrame, margin_m: float) -> pd.Series:
    perimeters = store.read("perimetres")
    if perimeters.empty or gdf.empty:
        return pd.Series(False, index=gdf.index)
    tree = shapely.STRtree(perimeters.geometry.to_numpy())
    geoms = gdf.geometry.to_numpy()
    near = tree.query(geoms, predicate="dwithin", distance=margin_m)
    ok = np.zeros(len(gdf), dtype=bool)
    ok[np.unique(near[0])] = True
    return pd.Series(~ok, index=gdf.index)


def _uids(frame: pd.DataFrame, mapping: Mapping_, source_ids: pd.Series | None) -> pd.Series:
    prefix = f"{mapping.layer}|{mapping.dataset}|"
    if source_ids is not None:
        keys = prefix + source_ids.astype("string")
    else:
        canon = frame.drop(columns=[frame.geometry.name]).astype("string").fillna("")
        wkb = shapely.to_wkb(shapely.set_precision(frame.geometry.to_numpy(), 0.01), hex=True)
        content = pd.Series(["\x1f".join(r) for r in canon.itertuples(index=False)],
                            index=frame.index, dtype="object") + "\x1f" + pd.Series(wkb, index=frame.index)
        occurrence = content.groupby(content).cumcount().astype("string")
        keys = prefix + content + "#" + occurrence
    return keys.map(lambda k: hashlib.sha1(k.encode()).hexdigest()[:20])


def _is_deadlock(exc: BaseException) -> bool:
    """Tell whether a store error comes from the database breaking a deadlock (PostGIS).

    Two imports inserting the same uids in different orders lock each other; the
    database aborts one of them, which can simply run again.
    """
    cause = exc.__cause__
    return cause is not None and type(cause).__name__ in ("DeadlockDetected", "SerializationFailure")


def _store_valid(store: LayerStore, layer: str, valid: gpd.GeoDataFrame, report: ImportReport, *,
                 path: Path, dataset: str, actor: str | None, t0: float) -> None:
    """Write ``valid`` and the import log entry in one transaction (counts into ``report``)."""
    n_valid = len(valid)
    report.n_inserted = report.n_existing = 0
    with store.transaction():
        # by blocks, in the one transaction: the progress of a long import shows in the log
        for block in list(iter_chunks(n_valid, WRITE_BLOCK)) or [slice(0, 0)]:
            written = store.write(layer, valid.iloc[block], actor=actor, validated=True)
            report.n_inserted += written.n_inserted
            report.n_existing += written.n_existing
            logger.info("enregistrement %s : %d/%d lignes (transaction en cours)", path.name,
                        block.stop, n_valid)
        report.seconds = time.perf_counter() - t0
        store.record_import({
            "layer": layer, "file_name": path.name, "sha256": report.sha256,
            "mapping": dataset, "started_at": datetime.now().isoformat(timespec="seconds"),
            "finished_at": datetime.now().isoformat(timespec="seconds"), "actor": actor,
            "n_read": report.n_read, "n_inserted": report.n_inserted,
            "n_existing": report.n_existing, "n_rejected": report.n_rejected,
            "n_repaired": report.n_repaired, "report": json.dumps(report.summary(), ensure_ascii=False),
        })


@dataclass(frozen=True, kw_only=True)
class ImportOptions:
    """How :func:`import_file` reads, checks and records one file.

    Attributes
    ----------
    mapping : str, Path or Mapping_, optional
        A mapping name from ``data/mappings``, a YAML path, or a parsed mapping. Without
        one, the file's columns must carry the layer's field names.
    actor : str, optional
        Who imports (kept in the import log and status histories).
    territory_margin_m : float or None
        Reject points farther than this from every stored perimeter (None: no check).
    report_dir : str or Path, optional
        Write the reject CSV and the summary JSON there.
    strict : bool
        Store nothing if any row is rejected.
    progress : callable, optional
        Called with a short French label at each stage.
    """

    mapping: str | Path | Mapping_ | None = None
    actor: str | None = None
    territory_margin_m: float | None = 20_000
    report_dir: str | Path | None = None
    strict: bool = False
    progress: Callable[[str], None] | None = None


def _resolve_mapping(mapping: str | Path | Mapping_ | None, layer: str | None) -> Mapping_ | None:
    """Load a named mapping and check it is for ``layer`` (when both are given)."""
    if isinstance(mapping, (str, Path)):
        mapping = load_mapping(mapping)
    if mapping is not None and layer is not None and mapping.layer != layer:
        raise MappingError(
            f"La correspondance {mapping.dataset} est pour la couche « {mapping.layer} », "
            f"pas « {layer} »."
        )
    return mapping


def _read_table(path: Path, mapping: Mapping_ | None) -> SourceTable:
    """Read the source file with the reading options of ``mapping``."""
    read_opts = dict(mapping.read) if mapping is not None else {}
    return read_source(path, fmt=read_opts.get("format"), encoding=read_opts.get("encoding"),
                       separator=read_opts.get("separator"), layer=read_opts.get("layer"))


def _mapping_for(table: SourceTable, mapping: Mapping_ | None, layer: str | None,
                 path: Path) -> tuple[Mapping_, str | None]:
    """Return the mapping to apply and the name of the recognised layout (if any).

    Without a mapping, a known published layout of ``layer`` (national QPV files, BAN CSV,
    OSM highways) is recognised from the columns; otherwise the columns must carry the
    layer's field names (any case).
    """
    if mapping is not None:
        return mapping, None
    if layer is None:
        raise MappingError("Précisez la couche ou une correspondance.")
    columns = [str(c) for c in table.frame.columns]
    layout = recognise(layer, columns)
    if layout is not None:
        return layout.to_mapping(columns), layout.name
    return identity_mapping(layer, columns, dataset=re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower())), None


def _align_columns(table: SourceTable, mapping: Mapping_) -> SourceTable:
    """Rename the file's columns the mapping names in another case or without accents."""
    renames = column_renames(sorted(mapping.columns()), [str(c) for c in table.frame.columns])
    geometry_name = table.frame.geometry.name if isinstance(table.frame, gpd.GeoDataFrame) else None
    renames.pop(str(geometry_name), None)
    if not renames:
        return table
    logger.info("columns matched without case or accents: %s", renames)
    return replace(table, frame=table.frame.rename(columns=renames))


def _unused_columns(table: SourceTable, mapping: Mapping_) -> list[str]:
    """Return the file's columns that no field, id, geometry or filter of the mapping reads."""
    used = mapping.columns()
    geometry_name = table.frame.geometry.name if isinstance(table.frame, gpd.GeoDataFrame) else None
    if mapping.layer == "voies":  # read by _street_levels when the mapping gives no level
        used = set(used) | {str(c) for c in table.frame.columns if fold(str(c)) in STREET_LEVEL_TAGS}
    return [str(c) for c in table.frame.columns if str(c) not in used and c != geometry_name]


#: Source columns (folded) of street levels: OpenStreetMap tags, IGN BD TOPO, plain names.
STREET_LEVEL_TAGS = frozenset({*LEVEL_COLUMNS, *(tag for tag, _ in LEVEL_TAGS)})


def _street_levels(table: SourceTable, mapped: pd.DataFrame) -> pd.DataFrame:
    """Fill the ``level`` of street lines the mapping leaves empty from the source's own tags.

    OpenStreetMap ``layer``/``bridge``/``tunnel`` and IGN BD TOPO ``POS_SOL`` say where a
    street passes over or under another: kept, the network does not join them where they cross.
    """
    if "level" in mapped.columns and mapped["level"].notna().any():
        return mapped
    levels = street_levels(table.frame.loc[mapped.index])
    if not levels.any():
        return mapped
    out = mapped.copy()
    out["level"] = pd.Series(np.round(levels).astype(int), index=mapped.index)
    return out


def _check_geography(mapped: pd.DataFrame, rows: pd.Series) -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    """Deduce each perimeter's geography from its code; reject codes contradicting a declared one.

    ``QP…`` codes are the 2015 geography, ``QN…`` codes the 2024 one.
    """
    if "code" not in mapped.columns:
        return mapped, rows, pd.DataFrame(columns=REJECT_COLUMNS)
    declared = mapped["geography"] if "geography" in mapped.columns else None
    geography, contradicts = geography_from_codes(mapped["code"], declared)
    rejects = _reject(rows, contradicts, "geography", "", mapped["code"])
    rejects["reason"] = [
        f"le code {code} est de la géographie {CODE_GEOGRAPHIES[str(code).strip().upper()[:2]]} "
        f"(préfixe {str(code).strip().upper()[:2]}) mais la géographie déclarée est {given}"
        for code, given in zip(mapped["code"][contradicts], declared[contradicts]
                               if declared is not None else [], strict=True)
    ]
    out = mapped.copy()
    out["geography"] = geography
    keep = ~contradicts
    return out[keep], rows[keep], rejects


def _filter_rows(table: SourceTable, mapping: Mapping_) -> tuple[SourceTable, list[pd.DataFrame]]:
    """Keep the rows the mapping's ``filter`` allows; the others become rejects."""
    if not mapping.filter:
        return table, []
    keep = pd.Series(True, index=table.frame.index)
    for col, allowed in mapping.filter.items():
        if col not in table.frame:
            raise MappingError(f"Filtre sur une colonne absente : {col}.")
        allowed_list = allowed if isinstance(allowed, list) else [allowed]
        keep &= table.frame[col].astype("string").isin([str(a) for a in allowed_list])
    rejects = _reject(table.rows, ~keep, "", "hors du filtre de la correspondance")
    return replace(table, frame=table.frame[keep], rows=table.rows[keep]), [rejects]


def _check_source_ids(
    table: SourceTable, mapped: pd.DataFrame, rows: pd.Series, mapping: Mapping_
) -> tuple[pd.DataFrame, pd.Series, pd.Series | None, list[pd.DataFrame]]:
    """Reject rows whose source id is blank or repeated; add ``source_id`` to the kept ones.

    Returns the kept mapped rows, their row numbers, their source ids (None when the
    mapping names no id column) and the rejects.
    """
    if not mapping.id:
        return mapped, rows, None, []
    source_ids = table.frame[mapping.id].astype("string").str.strip()
    blank = source_ids.isna() | source_ids.eq("")
    blank_rej = _reject(rows, blank, mapping.id, "identifiant source manquant")
    dup = source_ids.duplicated() & ~blank
    first_row = pd.Series(rows.to_numpy(), index=source_ids.to_numpy())
    first_row = first_row[~first_row.index.duplicated()]
    dup_rej = _reject(rows, dup, mapping.id, "", source_ids)
    dup_rej["reason"] = [
        f"identifiant en double (déjà vu ligne {first_row[v]})" for v in source_ids[dup]
    ]
    keep = ~(blank | dup)
    mapped, rows, source_ids = mapped[keep], rows[keep], source_ids[keep]
    mapped["source_id"] = source_ids
    return mapped, rows, source_ids, [blank_rej, dup_rej]


def _locate(
    table: SourceTable, mapped: pd.DataFrame, rows: pd.Series, mapping: Mapping_, *, target_crs: Any
) -> tuple[gpd.GeoDataFrame, pd.Series, list[pd.DataFrame]]:
    """Attach the geometries (in their source CRS) to the mapped rows whose coordinates hold.

    Returns the located rows, their row numbers and the rejects (unreadable, missing,
    implausible coordinates).
    """
    geoms, src_crs, geom_rejects = _build_geometry(table, mapping)
    geoms = pd.Series(geoms, index=table.frame.index).reindex(mapped.index).to_numpy()
    rejects = [geom_rejects[geom_rejects["row"].isin(rows)]]
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    keep_coords, coord_rejects = _check_coordinates(geoms, src_crs, rows, target_crs=target_crs)
    rejects.append(coord_rejects)
    unread = pd.Series(~present, index=mapped.index) & ~rows.isin(geom_rejects["row"])
    rejects.append(_reject(rows, unread, "geometry", "géométrie manquante ou vide"))
    keep = keep_coords & pd.Series(present, index=mapped.index)
    gdf = gpd.GeoDataFrame(mapped[keep], geometry=geoms[keep.to_numpy()], crs=resolve_crs(src_crs))
    return gdf, rows[keep], rejects


def _repair(gdf: gpd.GeoDataFrame, geometry_type: str | None) -> tuple[gpd.GeoDataFrame, pd.Index]:
    """Repair invalid polygons (in the source CRS); return the frame and the repaired index."""
    if geometry_type not in ("MultiPolygon", "Geometry"):
        return gdf, pd.Index([])
    # repair in the source CRS, where the publisher's geometry was (in)valid
    gdf = gdf.copy()
    polygonal = gdf.geom_type.isin(["Polygon", "MultiPolygon"])
    fixed, was_invalid = repair_polygons(gdf[polygonal])
    gdf.loc[polygonal, gdf.geometry.name] = fixed.geometry
    return gdf, fixed.index[was_invalid]


def _keep_near_territory(
    store: LayerStore, gdf: gpd.GeoDataFrame, rows: pd.Series, margin_m: float
) -> tuple[gpd.GeoDataFrame, pd.Series, pd.DataFrame]:
    """Drop the rows farther than ``margin_m`` from every stored perimeter (as rejects)."""
    far = _far_from_territory(store, gdf, margin_m)
    where = _coordinates_text(gdf.geometry.to_crs("EPSG:4326").to_numpy()).set_axis(gdf.index)
    rejects = _reject(rows, far, "geometry", f"point à plus de {margin_m / 1000:g} km de tout périmètre",
                      where)
    return gdf[~far], rows[~far], rejects


def _count_rejects(report: ImportReport, rejects: list[pd.DataFrame]) -> None:
    """Put the sorted rejects and their count into ``report``."""
    all_rejects = pd.concat([r for r in rejects if len(r)], ignore_index=True) if any(
        len(r) for r in rejects) else pd.DataFrame(columns=REJECT_COLUMNS)
    report.rejects = all_rejects.sort_values("row", kind="stable").reset_index(drop=True)
    # a row may have several errors, one line each
    report.n_rejected = int(all_rejects["row"].nunique())


def _refuse_if_strict(report: ImportReport) -> None:
    """Strict mode: refuse the whole file when a row is rejected."""
    if report.n_rejected:
        raise SourceFileError(
            f"Import refusé : {report.n_rejected} ligne(s) rejetée(s) (mode strict), "
            f"première : ligne {report.rejects.iloc[0]['row']} — {report.rejects.iloc[0]['reason']}."
        )


def _write_with_retries(store: LayerStore, layer: str, valid: gpd.GeoDataFrame, report: ImportReport, *,
                        path: Path, dataset: str, actor: str | None, t0: float) -> None:
    """Run :func:`_store_valid`, again (in uid order) when the database breaks a deadlock."""
    to_write = valid
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            _store_valid(store, layer, to_write, report, path=path, dataset=dataset, actor=actor, t0=t0)
            return
        except StoreError as exc:
            if not _is_deadlock(exc):
                raise
            if attempt == WRITE_ATTEMPTS:
                raise StoreError(
                    f"Import de {path.name} annulé : il est resté en conflit avec d'autres écritures "
                    f"simultanées après {WRITE_ATTEMPTS} tentatives ; rien n'a été enregistré, "
                    "relancez-le."
                ) from exc
            # again in uid order: writers that all lock their rows in the same order cannot
            # deadlock each other (the first attempt keeps the file's order)
            to_write = valid.sort_values("uid", kind="stable")
            logger.warning("import %s: deadlock with another writer, attempt %d/%d", path.name,
                           attempt + 1, WRITE_ATTEMPTS)
            time.sleep(random.uniform(0.05, 0.3) * attempt)


@dataclass
class _Prepared:
    """An import read, mapped, located and validated, not yet stored."""

    report: ImportReport
    valid: gpd.GeoDataFrame
    valid_rows: pd.Series
    dataset: str
    path: Path


def _prepare(store: LayerStore, path: Path, layer: str | None, opts: ImportOptions) -> _Prepared:
    """Run every stage of an import but the write: the report (rejects, counts read) and the valid rows."""
    step = opts.progress or (lambda _label: None)
    mapping = _resolve_mapping(opts.mapping, layer)
    step("lecture")
    table = _read_table(path, mapping)
    mapping, layout = _mapping_for(table, mapping, layer, path)
    table = _align_columns(table, mapping)
    schema = get_schema(mapping.layer)
    report = ImportReport(layer=schema.name, file_name=path.name, dataset=mapping.dataset,
                          sha256=file_sha256(path), encoding=table.encoding,
                          separator=table.separator, layout=layout,
                          unused_columns=_unused_columns(table, mapping))
    rejects = [table.rejects]
    n_read = table.n_read  # before the mapping's filter: the rows it leaves out are rejects
    table, filter_rejects = _filter_rows(table, mapping)
    rejects += filter_rejects
    step("correspondance")
    mapped = _apply_rules(table, mapping)
    all_mapped = mapped
    formats = {r.name: r.format for r in mapping.fields if r.format}
    mapped, rows, source_ids, id_rejects = _check_source_ids(table, mapped, table.rows, mapping)
    rejects += id_rejects
    if schema.name == "perimetres":
        mapped, rows, geography_rejects = _check_geography(mapped, rows)
        rejects.append(geography_rejects)
    if schema.name == "voies":
        mapped = _street_levels(table, mapped)
    step("géométrie")
    gdf, rows, geometry_rejects = _locate(table, mapped, rows, mapping, target_crs=store.crs)
    rejects += geometry_rejects
    gdf, repaired_src = _repair(gdf, schema.geometry)
    gdf = gdf.to_crs(store.crs)
    if opts.territory_margin_m is not None and schema.name != "perimetres":
        gdf, rows, far_rejects = _keep_near_territory(store, gdf, rows, opts.territory_margin_m)
        rejects.append(far_rejects)
    gdf["simulated"] = mapping.simulated
    gdf["source_dataset"] = mapping.dataset
    step("validation")
    result = validate_frame(gdf, schema, rows=rows, formats=formats)
    rejects.append(result.rejects)
    # rows set aside before validation (id, geography, coordinates): their other errors too
    set_aside = all_mapped.index.difference(gdf.index)
    if len(set_aside):
        rejects.append(validate_frame(all_mapped.loc[set_aside], schema, rows=table.rows.loc[set_aside],
                                      formats=formats, check_geometry=False).rejects)
    valid = result.valid
    valid["uid"] = _uids(valid.drop(columns=["source_id"], errors="ignore"), mapping,
                         source_ids.loc[valid.index] if source_ids is not None else None)
    _count_rejects(report, rejects)
    report.n_read = n_read
    repaired = result.repaired.union(repaired_src.intersection(valid.index))
    if "repaired" in valid.columns and len(repaired):
        valid.loc[repaired, "repaired"] = True
    report.repaired_rows = sorted(int(r) for r in rows.loc[repaired])
    report.n_repaired = len(report.repaired_rows)
    return _Prepared(report=report, valid=valid, valid_rows=rows.loc[valid.index],
                     dataset=mapping.dataset, path=path)


@dataclass(frozen=True)
class ImportPreview:
    """What an import would do, without storing anything (:func:`preview_file`).

    Attributes
    ----------
    report : ImportReport
        Counts read and rejected and the reject list of the whole file (``n_inserted`` and
        ``n_existing`` stay 0: only the write tells new rows from those already stored).
    valid : geopandas.GeoDataFrame
        The rows that would be stored, as they would be stored (typed, in the store's CRS).
    valid_rows : pandas.Series
        Row number in the file of each valid row (same index as ``valid``).
    """

    report: ImportReport
    valid: gpd.GeoDataFrame
    valid_rows: pd.Series


def preview_file(store: LayerStore, path: str | Path, *, layer: str | None = None,
                 options: ImportOptions | None = None) -> ImportPreview:
    """Run the checks of :func:`import_file` on ``path`` and store nothing.

    Parameters and errors are those of :func:`import_file` (``report_dir`` and ``strict``
    are ignored: nothing is written, nothing refused).
    """
    prepared = _prepare(store, Path(path), layer, options if options is not None else ImportOptions())
    return ImportPreview(report=prepared.report, valid=prepared.valid, valid_rows=prepared.valid_rows)


def import_file(
    store: LayerStore,
    path: str | Path,
    *,
    layer: str | None = None,
    options: ImportOptions | None = None,
) -> ImportReport:
    """Import a source file into a layer of ``store``, all or nothing.

    Parameters
    ----------
    store : LayerStore
        Destination.
    path : str or Path
        Source file (CSV, GeoJSON, GeoPackage, zipped Shapefile).
    layer : str, optional
        Destination layer; taken from the mapping when omitted.
    options : ImportOptions, optional
        Mapping, actor, territory check, report folder, strict mode, progress callback
        (defaults: :class:`ImportOptions`).

    Returns
    -------
    ImportReport

    Raises
    ------
    SourceFileError, MappingError, CRSError, RecordError
        When the file as a whole cannot be imported; the store is then unchanged.
    """
    opts = options if options is not None else ImportOptions()
    t0 = time.perf_counter()
    path = Path(path)
    prepared = _prepare(store, path, layer, opts)
    report = prepared.report
    if opts.strict:
        _refuse_if_strict(report)
    (opts.progress or (lambda _label: None))("enregistrement")
    _write_with_retries(store, report.layer, prepared.valid, report, path=path, dataset=prepared.dataset,
                        actor=opts.actor, t0=t0)
    accounted = report.n_inserted + report.n_existing + report.n_rejected
    if accounted != report.n_read:  # pragma: no cover - would be a bug in this module
        raise SourceFileError(
            f"Comptage incohérent : {report.n_read} lues, {accounted} comptabilisées."
        )
    if opts.report_dir is not None:
        report.write(Path(opts.report_dir))
    logger.info("import %s → %s: %s", path.name, report.layer, report.summary())
    return report
