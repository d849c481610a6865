"""Pure spatial computation for the QPV observation platform.

Everything here works on GeoDataFrames and graphs and never touches storage or
the web: perimeters, street-list rules and address matching, street networks,
routing, hotspots, recurrence, coverage and the data of the reports (rendered by
:mod:`webmap.documents`).
"""

from geo.crs import TERRITORY_CRS, resolve_crs, to_territory_crs
from geo.errors import CRSError, GeometryError, QPVError

__all__ = [
    "TERRITORY_CRS",
    "CRSError",
    "GeometryError",
    "QPVError",
    "resolve_crs",
    "to_territory_crs",
]
