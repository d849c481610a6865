"""Storage backends behind the :class:`~layers.store.base.LayerStore` interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layers.errors import StoreError
from layers.store.base import LayerInfo, LayerStore, WriteResult
from layers.store.filters import RecordFilter

__all__ = ["LayerInfo", "LayerStore", "RecordFilter", "WriteResult", "describe_store", "open_store"]


def describe_store(url: str | Path) -> str:
    """Return the store URL fit for messages and logs (a database password is left out)."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from layers.store._postgis_conn import parse_url

        return parse_url(text).display
    return text


def open_store(url: str | Path, *, create: bool = True, **options: Any) -> LayerStore:
    """Open the store at ``url``.

    Parameters
    ----------
    url : str or Path
        A GeoPackage path (``territoire.gpkg`` or ``gpkg:///chemin/territoire.gpkg``) or,
        with the ``postgis`` extra, a database URL
        ``postgresql://user:password@host:port/base?schema=NAME`` (``postgres://`` too;
        schema ``qpv`` by default).
    create : bool
        Create an empty store (GeoPackage file, or PostgreSQL schema and tables) when
        missing.
    **options
        Passed to the backend (``crs`` of a new store).

    Returns
    -------
    LayerStore

    Raises
    ------
    StoreError
        When the URL scheme is not supported or the store cannot be opened.
    """
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from layers.store.postgis import PostGISStore

        return PostGISStore(text, create=create, **options)
    if text.startswith("gpkg://"):
        text = text[len("gpkg://"):]
    if "://" in text:
        raise StoreError(f"Adresse d'entrepôt non reconnue : {text!r}.")
    from layers.store.gpkg import GeoPackageStore

    return GeoPackageStore(Path(text), create=create, **options)
