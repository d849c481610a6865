"""What a QPV lookup is built on: the index of perimeters, rules and addresses, and the address columns.

:func:`geo.perimeters.lookup.build_index` builds a :class:`LookupIndex` once;
:func:`geo.perimeters.lookup.lookup_many` and its siblings answer from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from geo.errors import QPVLookupError
from geo.perimeters._boundary_distance import NearSegments
from geo.perimeters._columnar import CellGrid
from geo.perimeters._rulekeys import CompiledRules
from geo.perimeters.territory import Territory

__all__ = ["AddressColumns", "LookupIndex"]


#: Column names of the Base Adresse Nationale, used when no street, number or commune column is named.
_BAN_COLUMNS = {"street": "nom_voie", "number": "numero", "commune": "nom_commune"}


@dataclass(frozen=True)
class AddressColumns:
    """Where the addresses are in a table given to :func:`lookup_many`.

    Either street, number and commune columns (BAN names ``nom_voie``, ``numero`` and
    ``nom_commune`` are used when present and not named), or one free-text column.

    Attributes
    ----------
    street, number, commune : str, optional
        Address columns. Numbers may be text (« 12 bis » and « 12-14 » count as 12).
    address : str, optional
        A free-text address column (« 12 bis rue X, 75020 Paris »); when given, the
        other three are not read and rows without a point are geocoded in the address
        base of the index.

    Raises
    ------
    QPVLookupError
        When a column name is blank.
    """

    street: str | None = None
    number: str | None = None
    commune: str | None = None
    address: str | None = None

    def __post_init__(self) -> None:
        """Check the values on construction (French errors naming the value)."""
        for name in (self.street, self.number, self.commune, self.address):
            if name is not None and not str(name).strip():
                raise QPVLookupError("Nom de colonne d'adresse vide.")

    def check(self, data: pd.DataFrame) -> None:
        """Raise :class:`~geo.errors.QPVLookupError` when a named column is missing from ``data``."""
        for col in (self.street, self.number, self.commune, self.address):
            if col is not None and col not in data.columns:
                raise QPVLookupError(f"Colonne « {col} » absente des données à rechercher.")

    def with_ban_defaults(self, data: pd.DataFrame) -> AddressColumns:
        """Return a copy naming the BAN columns of ``data`` for the columns left unnamed."""
        found = {role: column if column in data.columns else None for role, column in _BAN_COLUMNS.items()}
        return replace(self, street=self.street or found["street"], number=self.number or found["number"],
                       commune=self.commune or found["commune"])


@dataclass
class LookupIndex:
    """Perimeters and rules prepared for fast lookups (build it once with :func:`build_index`).

    Attributes
    ----------
    perimeters : geopandas.GeoDataFrame
        ``code``, ``name``, ``geography`` and valid MultiPolygons in EPSG:2154.
    bounds : numpy.ndarray
        (n, 4) bounding boxes of the perimeters.
    rules : pandas.DataFrame
        :func:`geo.perimeters.rules.rules_frame` of the rules (possibly empty).
    ruled_codes : frozenset of str
        Codes of the perimeters that have rules.
    addresses : geopandas.GeoDataFrame or None
        Standardised address base for text lookups.
    max_distance_m : float
        Distances to boundaries beyond this are not computed (NaN).
    territory : Territory or None
        Communes and area known (:func:`geo.perimeters.territory.build_territory`): rows
        outside it are ``out_of_territory``; ``None``: no such check.
    rule_communes : dict
        Street key → keys of the communes whose rules name it.
    compiled : CompiledRules or None
        The rules as integer keys and arrays (``None`` without rules).
    grids : dict
        Neighbourhood number → its :class:`~geo.perimeters._columnar.CellGrid`, built on
        first use by a large lookup, then kept.
    near : dict
        (neighbourhood, perimeter) → the boundary segments to measure per cell of that
        grid (:class:`~geo.perimeters._boundary_distance.NearSegments`), built on first use.
    """

    perimeters: gpd.GeoDataFrame
    bounds: np.ndarray
    rules: pd.DataFrame
    ruled_codes: frozenset[str]
    addresses: gpd.GeoDataFrame | None = None
    max_distance_m: float = 200.0
    codes: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    names_array: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    geos_array: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    ruled: np.ndarray = field(default_factory=lambda: np.array([], dtype=bool))
    boundaries: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    zones: dict[int, BaseGeometry] = field(default_factory=dict)
    groups: list[tuple[np.ndarray, list[int]]] = field(default_factory=list)
    rule_keys: frozenset[str] = frozenset()
    tokens: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    territory: Territory | None = None
    rule_communes: dict[str, frozenset[str]] = field(default_factory=dict)
    commune_names: dict[str, str] = field(default_factory=dict)
    compiled: CompiledRules | None = None
    grids: dict[int, CellGrid] = field(default_factory=dict)
    near: dict[tuple[int, int], NearSegments] = field(default_factory=dict)

    def known_communes(self) -> frozenset[str]:
        """Commune keys recognised at the end of a text address (territory, rules, addresses)."""
        keys = set(self.commune_names)
        if self.territory is not None:
            keys |= self.territory.keys
        if self.addresses is not None and "commune_key" in self.addresses.columns:
            keys |= set(pd.unique(self.addresses["commune_key"]))
        return frozenset(k for k in keys if k)
