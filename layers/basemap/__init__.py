"""The territory's offline basemap: vector tiles built from the store, tile files read for the web map."""

from layers.basemap.build import ABSENT, BasemapOptions, BasemapResult, build_basemap
from layers.basemap.read import TileFile, open_tile_file, tile_attribution

__all__ = ["ABSENT", "BasemapOptions", "BasemapResult", "TileFile", "build_basemap", "open_tile_file",
           "tile_attribution"]
