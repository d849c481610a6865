"""Storage backends behind the :class:`~layers.store.base.LayerStore` interface."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from layers.errors import StoreError
from layers.store.base import LayerInfo, LayerStore, WriteResult

__all__ = ["LayerInfo", "LayerStore", "WriteResult", "open_store"]


def open_store(url: str | Path, *, create: bool = True, **options: Any) -> LayerStore:
    """Open the store at ``url``.

    Parameters
    ----------
    url : str or Path
        A GeoPackage path (``territoire.gpkg`` or ``gpkg:///chemin/territoire.gpkg``) or,
        with the ``postgis`` extra, a ``postgresql://`` database URL.
    create : bool
        Create an empty GeoPackage when the file does not exist.

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
        raise StoreError(
            "Le stockage PostGIS n'est pas encore disponible dans cette version ; "
            "utilisez un fichier GeoPackage (.gpkg)."
        )
    if text.startswith("gpkg://"):
        text = text[len("gpkg://"):]
    if "://" in text:
        raise StoreError(f"Adresse d'entrepôt non reconnue : {text!r}.")
    from layers.store.gpkg import GeoPackageStore

    return GeoPackageStore(Path(text), create=create, **options)
