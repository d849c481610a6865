"""Every exception of the :mod:`geo` package, rooted in :class:`QPVError`.

Messages are in French: they reach technicians as they are, through the CLI and the web
map, which catch :class:`QPVError` once. The bases are honest: bad input is also a
``ValueError``, a missing optional library also an ``ImportError``.
"""

from __future__ import annotations

__all__ = [
    "AddressError",
    "AnalysisError",
    "BatchError",
    "CRSError",
    "GeometryError",
    "MissingDependencyError",
    "NetworkError",
    "PerimeterRulesError",
    "PriorityError",
    "QPVError",
    "QPVLookupError",
    "RoutingError",
    "StreetListError",
    "WalkExportError",
]


class QPVError(Exception):
    """Root of every error the platform raises on purpose (message in French)."""


class MissingDependencyError(QPVError, ImportError):
    """An optional library is not installed; the message gives the ``pip install`` hint.

    Parameters
    ----------
    library : str
        The missing library, as a user would install it (``matplotlib``, ``weasyprint``…).
    purpose : str
        What it is needed for, in French (« produire le PDF »…).
    extra : str, optional
        The extra of ``qpv-observatoire`` that brings it (``reports``, ``national``…); when
        omitted the library is a core dependency and the hint installs it by name.
    """

    def __init__(self, library: str, *, purpose: str, extra: str | None = None) -> None:
        hint = (f"installer l'extra « {extra} » (pip install 'qpv-observatoire[{extra}]')" if extra
                else f"installer {library} (pip install {library.lower()})")
        super().__init__(f"{library} est nécessaire pour {purpose} : {hint}.")
        self.library = library
        self.extra = extra


# -- foundations ---------------------------------------------------------------------------


class CRSError(QPVError, ValueError):
    """A coordinate reference system is unknown or does not fit the data."""


class GeometryError(QPVError, ValueError):
    """A geometry is missing, of the wrong type or unusable."""


# -- perimeters ----------------------------------------------------------------------------


class StreetListError(QPVError, ValueError):
    """A street list or a rule file cannot be read."""


class AddressError(QPVError, ValueError):
    """An address base or an address cannot be used."""


class PerimeterRulesError(QPVError, ValueError):
    """Rules and an address base cannot give a perimeter (or the reverse)."""


class QPVLookupError(QPVError, ValueError):
    """A lookup cannot be run (bad perimeters, missing columns)."""


# -- walks ---------------------------------------------------------------------------------


class NetworkError(QPVError, ValueError):
    """A street graph cannot be built or used."""


class UnusableNetworkError(NetworkError):
    """The street network of a quartier is too broken (or too far from the stops) for a walk."""


class PriorityError(QPVError, ValueError):
    """Stop priorities cannot be computed from the given layers."""


class RoutingError(QPVError, ValueError):
    """A walk route cannot be computed from the given inputs."""


class WalkExportError(QPVError, ValueError):
    """A walk cannot be exported or an exported file cannot be read back."""


# -- statistics and batch ------------------------------------------------------------------


class AnalysisError(QPVError, ValueError):
    """An analysis cannot run on the data given (too few points, bad parameters…)."""


class BatchError(QPVError, ValueError):
    """A partitioned computation cannot run on the data given (empty, bad options)."""
