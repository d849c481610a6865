"""Coordinate transformations between the store CRS and CRS84, done in one long-lived thread.

pyproj rebuilds a transformer's PROJ objects in every new thread (about 15 ms), and
threaded WSGI servers run each connection in a new thread: the few transformations of a
request (a bbox, the coordinates of the features it answers) are handed to one thread
that keeps its PROJ contexts.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from pyproj import Transformer

T = TypeVar("T")

#: CRS84 (WGS84 longitude, latitude) as pyproj names it.
CRS84 = "OGC:CRS84"


@functools.lru_cache(maxsize=16)
def transformer(src: str, dst: str) -> Transformer:
    """Return a cached always-xy transformer between two CRS (use it through :func:`project`)."""
    return Transformer.from_crs(src, dst, always_xy=True)


@functools.lru_cache(maxsize=1)
def _proj_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="qpv-proj")


def in_proj_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` in the one thread that owns the PROJ contexts."""
    if threading.current_thread().name.startswith("qpv-proj"):
        return fn(*args)
    return _proj_pool().submit(fn, *args).result()


def project(src: str, dst: str, x: Any, y: Any) -> tuple[Any, Any]:
    """Transform coordinates (scalars or arrays) from ``src`` to ``dst``, longitude first."""
    return in_proj_thread(transformer(src, dst).transform, x, y)


def _bounds(src: str, dst: str, bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    xmin, ymin, xmax, ymax = in_proj_thread(
        functools.partial(transformer(src, dst).transform_bounds, densify_pts=5), *bbox)
    return float(xmin), float(ymin), float(xmax), float(ymax)


def bbox_to_store(
    bbox: tuple[float, float, float, float], store_crs: str
) -> tuple[float, float, float, float]:
    """Project a CRS84 bbox to the store CRS (envelope of the densified edges)."""
    return _bounds(CRS84, store_crs, bbox)


def bbox_to_wgs84(bbox: tuple[float, ...] | None, store_crs: str) -> list[float] | None:
    """Project a store-CRS bbox to CRS84, rounded."""
    if bbox is None:
        return None
    xmin, ymin, xmax, ymax = bbox[:4]
    return [round(v, 6) for v in _bounds(store_crs, CRS84, (xmin, ymin, xmax, ymax))]
