"""Errors raised by the layer package: bad files, bad mappings, bad records, store problems.

Messages are in French: they reach technicians as they are, in the CLI and the web map.
"""

from __future__ import annotations

from geo.errors import QPVError


class UnknownLayerError(QPVError):
    """The layer name is not one of the declared layer kinds."""


class SourceFileError(QPVError):
    """A source file cannot be read (empty, truncated, wrong format or encoding...)."""


class MappingError(QPVError):
    """A field-mapping file is invalid or does not fit the source file."""


class RecordError(QPVError):
    """A record does not satisfy its layer schema.

    Attributes
    ----------
    field : str or None
        The offending field, named in the message and in API 400 answers.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFoundError(QPVError):
    """A record with this identifier does not exist in the layer."""


class StoreError(QPVError):
    """The store cannot be opened or written."""
