"""Street centreline layers as sources of a pedestrian graph: reading, columns, levels, walkability.

A street layer (shapefile, GeoJSON, GeoPackage…, such as Montpellier's « Filaire des
voies », an IGN BD TOPO « tronçons de route » file or an OpenStreetMap export) is read
into lines in EPSG:2154 with ``name``, ``street_code``, ``domanialite`` and ``level``
columns, whatever the source calls them; the lines pedestrians may not use (motorways,
« Type autoroutier », ``foot=no``…) are dropped.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import to_territory_crs
from geo.errors import NetworkError

logger = logging.getLogger(__name__)

__all__ = ["LEVEL_COLUMNS", "LEVEL_TAGS", "NOT_WALKABLE_FOOT", "NOT_WALKABLE_HIGHWAYS", "NOT_WALKABLE_VALUES",
           "normalise_streets", "read_street_layer", "street_levels", "walkable_tags"]


#: OpenStreetMap ``highway`` values pedestrians may not use (dropped from street layers).
NOT_WALKABLE_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "construction", "proposed", "raceway",
    "bus_guideway", "busway", "abandoned", "platform", "razed", "escape",
})

#: OpenStreetMap ``foot`` values that forbid a way to pedestrians.
NOT_WALKABLE_FOOT = frozenset({"no", "private"})
#: Columns (folded) giving a line's level: 0 on the ground, > 0 bridges, < 0 tunnels
#: (``layer`` of OpenStreetMap, ``POS_SOL`` of the IGN BD TOPO).
LEVEL_COLUMNS = ("level", "niveau", "layer", "pos_sol")
#: OpenStreetMap tags that set a level when no level column does.
LEVEL_TAGS = (("bridge", 1.0), ("tunnel", -1.0))


# Column names recognised in street layers (lower case), first match wins.
_NAME_COLUMNS = ("name", "lib_off", "nom_voie", "nom", "nomvoie", "libelle", "nom_1_g", "nom_rue",
                 "lib_voie", "libelle_voie", "nom_de_la_voie", "nom_complet", "denomination", "appellation",
                 "street", "street_name", "voie", "rue")


_CODE_COLUMNS = ("street_code", "rivoli_dgi", "rivoli", "code_voie", "code_fantoir", "fantoir")


_DOMANIALITE_COLUMNS = ("domanialite", "domanialit", "domanial", "statut_juridique", "gestion")


def _column_key(name: str) -> str:
    """Return a column name folded: no case, accents, spaces or punctuation (nom_de_la_voie)."""
    plain = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "_", plain).strip("_")


def _find_column(columns: Sequence[str], candidates: Sequence[str]) -> str | None:
    keyed: dict[str, str] = {}
    for c in columns:
        keyed.setdefault(_column_key(c), str(c))
    for cand in candidates:
        if cand in keyed:
            return keyed[cand]
    return None


def read_street_layer(path: str | Path, *, layer: str | None = None,
                      level_column: str | None = None) -> gpd.GeoDataFrame:
    """Read a street centreline layer and normalise it for :func:`graph_from_streets`.

    Parameters
    ----------
    path : str or Path
        Any file GDAL reads (zipped shapefile, GeoJSON, GeoPackage…).
    layer : str, optional
        Layer name inside a multi-layer file.
    level_column : str, optional
        Column of the level of each line (see :func:`street_levels`).

    Returns
    -------
    geopandas.GeoDataFrame
        Lines in EPSG:2154 with columns ``name``, ``street_code``, ``domanialite``
        (``None`` where the source has no such attribute), ``level`` and ``geometry``;
        lines an OpenStreetMap ``highway`` column marks as not walkable are dropped.

    Raises
    ------
    NetworkError
        When the file cannot be read or holds no line.
    """
    try:
        raw = gpd.read_file(path, layer=layer) if layer else gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types
        raise NetworkError(f"Impossible de lire la couche des voies « {path} » : {exc}") from exc
    return normalise_streets(raw, level_column=level_column)


def normalise_streets(raw: gpd.GeoDataFrame, *, level_column: str | None = None) -> gpd.GeoDataFrame:
    """Return walkable street lines in EPSG:2154 with their usual columns.

    Single parts, with ``name``, ``street_code``, ``domanialite`` and ``level`` found
    under the source's own names (see :func:`read_street_layer`).

    Raises
    ------
    NetworkError
        When there is no line, or no walkable one.
    """
    streets = to_territory_crs(raw)
    streets = streets[streets.geometry.notna() & ~streets.geometry.is_empty]
    streets = streets[streets.geom_type.isin(["LineString", "MultiLineString"])]
    if streets.empty:
        raise NetworkError("La couche des voies ne contient aucune ligne.")
    streets = streets.explode(index_parts=False, ignore_index=True)
    streets = _walkable(streets)
    out: dict[str, Any] = {}
    for target, candidates in (
        ("name", _NAME_COLUMNS),
        ("street_code", _CODE_COLUMNS),
        ("domanialite", _DOMANIALITE_COLUMNS),
    ):
        col = _find_column(list(streets.columns), candidates)
        if col is None or col == streets.geometry.name:
            out[target] = [None] * len(streets)
        else:
            out[target] = [None if pd.isna(v) else str(v) for v in streets[col]]
    out["level"] = street_levels(streets, column=level_column)
    return gpd.GeoDataFrame(out, geometry=streets.geometry.to_numpy(), crs=streets.crs)


#: Columns (lower case) whose values mark a line as not walkable, and those values (lower
#: case): OpenStreetMap ``highway``/``foot``, IGN BD TOPO ``nature``/``acces_pieton``.
NOT_WALKABLE_VALUES: tuple[tuple[str, frozenset[str]], ...] = (
    ("highway", NOT_WALKABLE_HIGHWAYS),
    ("foot", NOT_WALKABLE_FOOT),
    ("nature", frozenset({"type autoroutier", "bretelle"})),
    ("acces_pieton", frozenset({"interdit", "restreint aux ayants droit"})),
    ("acces_ped", frozenset({"interdit"})),
    # the ``voies`` layer of a store: street types imported from either source
    ("street_type", NOT_WALKABLE_HIGHWAYS | {"type autoroutier", "bretelle"}),
)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("object").map(lambda v: "" if v is None or v is pd.NA
                                       or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower())


def _walkable(streets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop the lines the source marks as not walkable (OSM motorways, BD TOPO « Type autoroutier »…)."""
    bad = pd.Series(False, index=streets.index)
    why: set[str] = set()
    for column, forbidden in NOT_WALKABLE_VALUES:
        col = _find_column(list(streets.columns), (column,))
        if col is None or col == streets.geometry.name:
            continue
        hit = _text(streets[col]).isin(forbidden)
        why.update(f"{column}={v}" for v in _text(streets[col])[hit].unique()[:3])
        bad |= hit
    if not bad.any():
        return streets
    if bad.all():
        raise NetworkError("Aucune voie piétonne dans la couche : toutes les lignes sont des voies "
                           f"interdites aux piétons ({', '.join(sorted(why)[:5])}).")
    logger.info("%d non-walkable lines dropped (%s)", int(bad.sum()), sorted(why)[:5])
    return streets[~bad.to_numpy()]


def _truthy(values: pd.Series) -> np.ndarray:
    text = values.astype("object").map(lambda v: "" if v is None or v is pd.NA
                                       or (isinstance(v, float) and np.isnan(v)) else str(v).strip().lower())
    return ~text.isin(["", "no", "non", "0", "false", "none", "nan"]).to_numpy()


def street_levels(streets: pd.DataFrame, *, column: str | None = None) -> np.ndarray:
    """Return the level of each street line (0 on the ground, > 0 bridges, < 0 tunnels).

    Parameters
    ----------
    streets : pandas.DataFrame
        Street lines with their source columns.
    column : str, optional
        Column holding a numeric level; otherwise ``level``/``niveau``/``layer`` when
        present (or IGN BD TOPO ``pos_sol``), completed by the OpenStreetMap ``bridge`` (+1)
        and ``tunnel`` (-1) tags.

    Returns
    -------
    numpy.ndarray
        One float per line.

    Raises
    ------
    NetworkError
        When ``column`` is not a column of ``streets``.
    """
    if column is not None and column not in streets.columns:
        raise NetworkError(f"Colonne de niveau « {column} » absente de la couche des voies "
                           f"(colonnes : {', '.join(map(str, streets.columns))}).")
    col = column or _find_column(list(streets.columns), LEVEL_COLUMNS)
    level = np.zeros(len(streets))
    known = np.zeros(len(streets), dtype=bool)
    if col is not None:
        raw = pd.to_numeric(streets[col], errors="coerce").to_numpy(dtype=float)
        known = np.isfinite(raw)
        level = np.where(known, raw, 0.0)
    for tag, value in LEVEL_TAGS:
        tcol = _find_column(list(streets.columns), (tag,))
        if tcol is not None:
            flag = _truthy(streets[tcol]) & ~known
            level = np.where(flag, value, level)
    return level


def walkable_tags(highway: Any, foot: Any = None, area: Any = None) -> bool:
    """Tell whether pedestrians may walk an OpenStreetMap way (footway, residential, steps…)."""
    values = highway if isinstance(highway, list) else [highway]
    kinds = {str(v) for v in values if v is not None and str(v) not in {"", "nan"}}
    if not kinds or kinds <= NOT_WALKABLE_HIGHWAYS:
        return False
    return str(foot).lower() not in NOT_WALKABLE_FOOT and str(area).lower() != "yes"
