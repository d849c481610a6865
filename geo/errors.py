"""Error hierarchy shared by every package of the platform.

All our errors are ``ValueError`` subclasses carrying a message a technician
understands (in French, since it reaches the interface as is).
"""

from __future__ import annotations


class QPVError(ValueError):
    """Base class of every error the platform raises on bad input."""


class CRSError(QPVError):
    """A coordinate reference system is unknown or does not fit the data."""


class GeometryError(QPVError):
    """A geometry is missing, of the wrong type or unusable."""
