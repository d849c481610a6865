"""Quality of the street network kept in the store (``voies``) or in a street file.

:func:`street_network_quality` builds the noded street graph (see
:mod:`geo.walks.noding`) of the store's ``voies`` layer, or of a street file, and
returns :class:`~geo.walks.quality.NetworkQuality` with per-quartier figures for the
store's perimeters. It runs after every import of ``voies`` and in ``qpv reseau verifier``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import geopandas as gpd

from geo.walks.build import graph_from_streets
from geo.walks.noding import NodingOptions
from geo.walks.osm import graph_from_osm_file
from geo.walks.quality import MIN_LARGEST_SHARE, NetworkQuality, network_quality
from geo.walks.streets import read_street_layer
from layers.errors import WalkError
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

__all__ = ["street_network_quality"]

#: Streets kept around a quartier when only one is checked, metres.
_QUARTIER_MARGIN_M = 800.0


def street_network_quality(
    store: LayerStore,
    *,
    quartier: str | None = None,
    streets_file: str | Path | None = None,
    options: NodingOptions | None = None,
    threshold: float = MIN_LARGEST_SHARE,
) -> NetworkQuality:
    """Measure the street network of the store (or of a file) for walks.

    Parameters
    ----------
    store : LayerStore
        Store whose ``perimetres`` give the per-quartier figures and whose ``voies``
        are measured when no file is given.
    quartier : str, optional
        Only this QPV code (its streets plus a margin).
    streets_file : str or Path, optional
        Street file (layer, OpenStreetMap ``.osm``/``.pbf``) to measure instead of ``voies``.
    options : NodingOptions, optional
        Noding options (gap tolerance, level column).
    threshold : float, default 0.9
        Share of the length the largest connected part must hold.

    Returns
    -------
    NetworkQuality

    Raises
    ------
    WalkError
        On an unknown quartier or when there is no street to measure.
    NetworkError
        When the file cannot be read.
    """
    perimeters = store.read("perimetres")
    if quartier is not None:
        perimeters = perimeters[perimeters["code"].astype(str) == quartier.strip().upper()]
        if perimeters.empty:
            raise WalkError(f"Quartier inconnu « {quartier} » dans l'entrepôt.")
    bbox = None
    if quartier is not None:
        x0, y0, x1, y1 = (float(v) for v in perimeters.total_bounds)
        m = _QUARTIER_MARGIN_M
        bbox = (x0 - m, y0 - m, x1 + m, y1 + m)
    if streets_file is not None:
        path = Path(streets_file)
        if path.suffix.lower() in {".osm", ".pbf", ".xml"}:
            # OpenStreetMap ways join at shared nodes: PBF ways are noded at their junctions only
            osm_options = replace(options, crossings="junctions") if options is not None else None
            G = graph_from_osm_file(path, options=osm_options)
        else:
            G = graph_from_streets(read_street_layer(path, level_column=options.level_column if options
                                                     else None), options=options)
    else:
        streets: gpd.GeoDataFrame = store.read("voies", bbox=bbox) if bbox else store.read("voies")
        if streets.empty:
            where = f" autour du quartier {quartier}" if quartier else ""
            raise WalkError(f"Aucune voie dans l'entrepôt{where}"
                            " : importer la couche « voies » (filaire des voies).")
        G = graph_from_streets(streets, options=options)
    quality = network_quality(G, areas=perimeters if len(perimeters) else None, threshold=threshold)
    logger.info("street network: %s", quality.summary())
    return quality
