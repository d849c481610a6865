"""Every exception of the :mod:`layers` package: bad files, mappings, records, store problems.

Messages are in French: they reach technicians as they are, in the CLI and the web map.
Bad input is also a ``ValueError``; a store that cannot be opened or written also an
``OSError``. All are :class:`~geo.errors.QPVError`, which the CLI and the app catch once.
"""

from __future__ import annotations

from geo.errors import MissingDependencyError, QPVError

__all__ = [
    "ActionImportError",
    "ConventionError",
    "MappingError",
    "MissingDependencyError",
    "NotFoundError",
    "PerimeterStoreError",
    "QPVError",
    "RecordError",
    "SourceFileError",
    "StoreAnalysisError",
    "StoreError",
    "UnknownLayerError",
    "WalkError",
]


class ConventionError(QPVError, ValueError):
    """A convention file (``data/conventions/*.yaml``) is missing, unreadable or malformed."""


class ActionImportError(QPVError, ValueError):
    """A plan d'actions / tableau de suivi spreadsheet cannot be imported (nothing was changed).

    Attributes
    ----------
    problems : list of str
        One French line per problem, naming the row and the column.
    """

    def __init__(self, message: str, *, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class UnknownLayerError(QPVError, ValueError):
    """The layer name is not one of the declared layer kinds."""


class SourceFileError(QPVError, ValueError):
    """A source file cannot be read (empty, truncated, wrong format or encoding...)."""


class MappingError(QPVError, ValueError):
    """A field-mapping file is invalid or does not fit the source file."""


class RecordError(QPVError, ValueError):
    """A record does not satisfy its layer schema.

    Attributes
    ----------
    field : str or None
        The offending field, named in the message and in API 400 answers.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(QPVError, ValueError):
    """A record with this identifier does not exist in the layer."""


class StoreError(QPVError, OSError):
    """The store cannot be opened or written."""


class StoreAnalysisError(QPVError, ValueError):
    """An analysis or a report cannot be run on the store (bad period, theme, quartier…)."""


class WalkError(QPVError, ValueError):
    """A diagnostic walk cannot be planned, found or exported.

    Parameters
    ----------
    message : str
        French message.
    field : str, optional
        The request field at fault (``mandatory``, ``excluded``…), answered by the web API.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PerimeterStoreError(QPVError, ValueError):
    """A perimeter cannot be compiled, reversed or looked up from the store."""


class BasemapError(QPVError, ValueError):
    """The territory's basemap cannot be built (a confidential layer asked for, nothing to draw)."""


class TileFileError(QPVError, OSError):
    """A PMTiles or MBTiles file cannot be read (missing, not a tile file, unknown tile format)."""
