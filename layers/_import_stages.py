"""The stages of an import, one block of rows at a time (see :mod:`layers.importer`).

Each stage takes the rows still in play and returns those it keeps with the rejects of the
others. What must hold over the whole file (a source id seen once, the share of implausible
coordinates, content-based uids told apart by their occurrence) is kept in an
:class:`ImportTally` the importer carries from block to block.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyproj import Transformer

from geo.crs import area_of_use_bounds, resolve_crs
from geo.errors import CRSError
from geo.geometry import repair_polygons
from geo.walks.streets import street_levels
from layers._arrow_text import number_texts, plain_numbers
from layers.errors import MappingError
from layers.layouts import CODE_GEOGRAPHIES, geography_from_codes
from layers.mapping import Mapping_
from layers.sources import SourceTable
from layers.store.base import LayerStore
from layers.validate import REJECT_COLUMNS, fold

_LON = re.compile(r"""['"]lon['"]\s*:\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)""")
_LAT = re.compile(r"""['"]lat['"]\s*:\s*(-?\d+(?:\.\d+)?(?:[eE]-?\d+)?)""")


class SeenIds:
    """The source ids met so far in a file, with the row of each, in a few bytes per id.

    Sorted 64-bit hashes find the candidates; the id's own text (kept in pyarrow arrays)
    confirms each one, so that a hash collision never makes a row a false duplicate.
    """

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)  # sorted
        self._order = np.empty(0, dtype=np.int64)  # position of each sorted hash
        self._rows = np.empty(0, dtype=np.int64)  # by position
        self._texts: list[pa.Array] = []
        self._starts: list[int] = []

    def __len__(self) -> int:
        return len(self._rows)

    def _text(self, position: int) -> str:
        block = int(np.searchsorted(self._starts, position, side="right")) - 1
        return str(self._texts[block][position - self._starts[block]].as_py())

    @staticmethod
    def hashes(ids: list[str]) -> np.ndarray:
        """Return the 64-bit hashes :meth:`first_rows` and :meth:`add` sort ids by."""
        return pd.util.hash_array(np.asarray(ids, dtype=object))

    def first_rows(self, ids: list[str], hashes: np.ndarray | None = None) -> np.ndarray:
        """Row of the first occurrence of each id, -1 for ids not met yet.

        ``hashes``: :meth:`hashes` of ``ids`` when the caller has them already.
        """
        out = np.full(len(ids), -1, dtype=np.int64)
        if not len(self) or not ids:
            return out
        hashes = self.hashes(ids) if hashes is None else hashes
        at = np.searchsorted(self._hashes, hashes)
        hit = self._hashes[np.minimum(at, len(self._hashes) - 1)] == hashes
        for i in np.flatnonzero(hit).tolist():
            j = int(at[i])
            while j < len(self._hashes) and self._hashes[j] == hashes[i]:
                position = int(self._order[j])
                if self._text(position) == ids[i]:
                    out[i] = self._rows[position]
                    break
                j += 1
        return out

    def add(self, ids: list[str], rows: list[int], hashes: np.ndarray | None = None) -> None:
        """Remember ``ids`` (not met yet) first seen at ``rows`` (``hashes``: their :meth:`hashes`)."""
        if not ids:
            return
        self._starts.append(len(self))
        self._texts.append(pa.array(ids, type=pa.string()))
        self._rows = np.concatenate([self._rows, np.asarray(rows, dtype=np.int64)])
        new = self.hashes(ids) if hashes is None else np.asarray(hashes)
        order = np.argsort(new, kind="stable")
        # merged into the sorted hashes, after equal ones (a stable sort of old + new)
        at = np.searchsorted(self._hashes, new[order], side="right")
        positions = np.arange(len(self._order), len(self._rows))[order]
        self._hashes = np.insert(self._hashes, at, new[order])
        self._order = np.insert(self._order, at, positions)


@dataclass
class ImportTally:
    """What an import carries from one block of rows to the next.

    Attributes
    ----------
    seen_ids : SeenIds
        Source ids met in earlier blocks, with the row of their first occurrence.
    occurrences : dict
        Content key → times seen (uids of rows without a source id).
    n_rows, n_present, n_out_of_range, n_lambert, n_swapped : int
        Rows whose coordinates were checked, those with a geometry, and those out of the
        degrees' range, looking like Lambert 93, or with latitude and longitude swapped:
        whole-file shares decide :meth:`refuse_implausible`.
    geographic : bool
        The source CRS is in degrees.
    """

    seen_ids: SeenIds = field(default_factory=SeenIds)
    occurrences: dict[str, int] = field(default_factory=dict)
    n_rows: int = 0
    n_present: int = 0
    n_out_of_range: int = 0
    n_lambert: int = 0
    n_swapped: int = 0
    geographic: bool = False
    perimeters: Any = None
    transformers: dict[str, Any] = field(default_factory=dict)

    def refuse_implausible(self) -> None:
        """Raise CRSError when most coordinates of the file say its CRS is not the declared one."""
        present = max(self.n_present, 1)
        if self.geographic and self.n_out_of_range > 0.5 * present:
            guess = (" ; elles ressemblent à du Lambert 93 (EPSG:2154)"
                     if self.n_lambert > 0.5 * max(self.n_rows, 1) else "")
            raise CRSError(
                "Les coordonnées ne sont pas des degrés alors que le fichier est déclaré en "
                f"WGS84{guess}. Précisez « crs » dans la correspondance."
            )
        if self.geographic and self.n_swapped > 0.5 * present:
            raise CRSError(
                "Latitude et longitude semblent inversées pour la plupart des lignes : "
                "échangez x et y dans la correspondance."
            )


#: The reject frame of a stage that rejects nothing (built once, copied).
_NO_REJECT = pd.DataFrame({"row": np.empty(0, dtype=np.int64), "field": "", "value": "", "reason": ""},
                          columns=REJECT_COLUMNS)


def _reject(rows: pd.Series, mask: pd.Series, field_name: str, reason: str,
            values: pd.Series | None = None) -> pd.DataFrame:
    if not mask.any():  # the usual case, block after block: no frame to build
        return _NO_REJECT.copy()
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
    plain = plain_numbers(number_texts(values))  # the usual column, read by Arrow (same floats)
    if plain is not None:
        return pd.Series(plain, index=values.index, name=values.name)
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
    geoms: np.ndarray, crs: Any, rows: pd.Series, *, target_crs: Any, tally: ImportTally
) -> tuple[pd.Series, pd.DataFrame]:
    """Catch swapped lat/lon, projected coordinates declared as degrees, points off the map.

    Returns the mask of rows to keep and the rejects; the counts of the whole file go to
    ``tally`` (:meth:`ImportTally.refuse_implausible` decides on them).
    """
    west, south, east, north = area_of_use_bounds(target_crs)
    source = resolve_crs(crs)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    cx = np.full(len(geoms), np.nan)
    cy = np.full(len(geoms), np.nan)
    if present.any():
        kept = geoms[present]
        # a point is its own centroid
        centroids = kept if (shapely.get_type_id(kept) == 0).all() else shapely.centroid(kept)
        cx[present] = shapely.get_x(centroids)
        cy[present] = shapely.get_y(centroids)
    index = rows.index
    tally.n_rows += len(geoms)
    tally.n_present += int(present.sum())
    if source.is_geographic:
        tally.geographic = True
        out_of_range = present & ((np.abs(cx) > 180) | (np.abs(cy) > 90))
        lambert = (cx > 50_000) & (cx < 1_300_000) & (cy > 6_000_000) & (cy < 7_200_000)
        tally.n_out_of_range += int(out_of_range.sum())
        tally.n_lambert += int(lambert.sum())
        lon, lat = cx, cy
    else:
        out_of_range = np.zeros(len(geoms), dtype=bool)
        key = source.to_wkt()
        if key not in tally.transformers:
            tally.transformers[key] = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
        lon, lat = tally.transformers[key].transform(np.nan_to_num(cx), np.nan_to_num(cy))
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    inside = (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)
    swapped = present & ~inside & (lat >= west) & (lat <= east) & (lon >= south) & (lon <= north)
    if source.is_geographic:
        tally.n_swapped += int(swapped.sum())
    outside = present & ~inside & ~swapped & ~out_of_range
    flagged = out_of_range | swapped | outside
    where = pd.Series("", index=index, dtype="object")
    if flagged.any():  # where each rejected row is, written for those rows only
        where[flagged] = _coordinates_text(geoms[flagged]).to_numpy()
    rejects = pd.concat([
        _reject(rows, pd.Series(out_of_range, index=index), "geometry",
                "coordonnées hors des bornes (degrés attendus)", where),
        _reject(rows, pd.Series(swapped, index=index), "geometry",
                "latitude et longitude inversées ?", where),
        _reject(rows, pd.Series(outside, index=index), "geometry",
                "point hors du territoire couvert par le système de coordonnées", where),
    ], ignore_index=True) if flagged.any() else _NO_REJECT.copy()
    keep = pd.Series(~flagged, index=index)
    return keep, rejects


def _far_from_territory(store: LayerStore, gdf: gpd.GeoDataFrame, margin_m: float, *,
                        tally: ImportTally) -> pd.Series:
    if tally.perimeters is None:  # read once per import
        perimeters = store.read("perimetres")
        tally.perimeters = shapely.STRtree(perimeters.geometry.to_numpy()) if len(perimeters) else False
    tree = tally.perimeters
    if tree is False or gdf.empty:
        return pd.Series(False, index=gdf.index)
    geoms = gdf.geometry.to_numpy()
    near = tree.query(geoms, predicate="dwithin", distance=margin_m)
    ok = np.zeros(len(gdf), dtype=bool)
    ok[np.unique(near[0])] = True
    return pd.Series(~ok, index=gdf.index)


def _uids(frame: pd.DataFrame, mapping: Mapping_, source_ids: pd.Series | None, *,
          tally: ImportTally) -> pd.Series:
    """Stable uids: from the source id, else from the content and its occurrence in the file."""
    prefix = f"{mapping.layer}|{mapping.dataset}|"
    if source_ids is not None:
        keys = (prefix + source_ids.astype("string")).tolist()
    else:
        canon = frame.drop(columns=[frame.geometry.name]).astype("string").fillna("")
        wkb = shapely.to_wkb(shapely.set_precision(frame.geometry.to_numpy(), 0.01), hex=True)
        content = pd.Series(["\x1f".join(r) for r in canon.itertuples(index=False)],
                            index=frame.index, dtype="object") + "\x1f" + pd.Series(wkb, index=frame.index)
        occurrence = content.groupby(content).cumcount()
        if tally.occurrences:  # the same content in earlier blocks of the file
            occurrence += content.map(tally.occurrences).fillna(0).astype("int64")
        counts = tally.occurrences
        for text, n in content.value_counts().items():
            counts[str(text)] = counts.get(str(text), 0) + int(n)
        keys = (prefix + content + "#" + occurrence.astype("string")).tolist()
    return pd.Series([hashlib.sha1(k.encode()).hexdigest()[:20] for k in keys], index=frame.index,
                     dtype="object")


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
    table: SourceTable, mapped: pd.DataFrame, rows: pd.Series, mapping: Mapping_, *,
    tally: ImportTally,
) -> tuple[pd.DataFrame, pd.Series, pd.Series | None, list[pd.DataFrame]]:
    """Reject rows whose source id is blank or repeated; add ``source_id`` to the kept ones.

    An id is repeated when an earlier row of this block or of an earlier block
    (``tally.seen_ids``) carries it. Returns the kept mapped rows, their row numbers, their
    source ids (None when the mapping names no id column) and the rejects.
    """
    if not mapping.id:
        return mapped, rows, None, []
    source_ids = table.frame[mapping.id].astype("string").str.strip()
    blank = source_ids.isna() | source_ids.eq("")
    blank_rej = _reject(rows, blank, mapping.id, "identifiant source manquant")
    seen = tally.seen_ids
    ids = [str(v) for v in source_ids.fillna("").tolist()]
    hashes = seen.hashes(ids)  # once for both the look-up and the adding
    earlier_rows = seen.first_rows(ids, hashes)
    earlier = pd.Series(earlier_rows >= 0, index=source_ids.index)
    repeated = source_ids.duplicated()
    dup = (repeated | earlier) & ~blank
    firsts = ~repeated & ~blank & ~earlier
    dup_rej = _reject(rows, dup, mapping.id, "", source_ids)
    if len(dup_rej):
        first_row = dict(zip(source_ids[firsts].tolist(), rows[firsts].tolist(), strict=True))
        first_row |= dict(zip(source_ids[earlier].tolist(), earlier_rows[earlier.to_numpy()].tolist(),
                              strict=True))
        dup_rej["reason"] = [f"identifiant en double (déjà vu ligne {first_row[v]})"
                             for v in source_ids[dup].tolist()]
    kept = firsts.to_numpy()
    seen.add([i for i, k in zip(ids, kept.tolist(), strict=True) if k], rows[firsts].tolist(), hashes[kept])
    keep = ~(blank | dup)
    mapped, rows, source_ids = mapped[keep], rows[keep], source_ids[keep]
    mapped["source_id"] = source_ids
    return mapped, rows, source_ids, [blank_rej, dup_rej]


def _locate(
    table: SourceTable, mapped: pd.DataFrame, rows: pd.Series, mapping: Mapping_, *, target_crs: Any,
    tally: ImportTally,
) -> tuple[gpd.GeoDataFrame, pd.Series, list[pd.DataFrame]]:
    """Attach the geometries (in their source CRS) to the mapped rows whose coordinates hold.

    Returns the located rows, their row numbers and the rejects (unreadable, missing,
    implausible coordinates).
    """
    geoms, src_crs, geom_rejects = _build_geometry(table, mapping)
    if not mapped.index.equals(table.frame.index):  # rows set aside for their id
        geoms = pd.Series(geoms, index=table.frame.index).reindex(mapped.index).to_numpy()
    rejects = [geom_rejects[geom_rejects["row"].isin(rows)]]
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    keep_coords, coord_rejects = _check_coordinates(geoms, src_crs, rows, target_crs=target_crs,
                                                    tally=tally)
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
    store: LayerStore, gdf: gpd.GeoDataFrame, rows: pd.Series, margin_m: float, *, tally: ImportTally
) -> tuple[gpd.GeoDataFrame, pd.Series, pd.DataFrame]:
    """Drop the rows farther than ``margin_m`` from every stored perimeter (as rejects)."""
    far = _far_from_territory(store, gdf, margin_m, tally=tally)
    where = pd.Series("", index=gdf.index, dtype="object")
    if far.any():  # where each rejected row is, written for those rows only
        where[far] = _coordinates_text(gdf.geometry[far].to_crs("EPSG:4326").to_numpy()).to_numpy()
    rejects = _reject(rows, far, "geometry", f"point à plus de {margin_m / 1000:g} km de tout périmètre",
                      where)
    return gdf[~far], rows[~far], rejects


