"""The one gate of the optional libraries of the documents (extra ``reports``).

Matplotlib draws the maps and charts, WeasyPrint turns HTML into PDF. Both are imported
here only, lazily, and a missing one raises :class:`~geo.errors.MissingDependencyError`
with the ``pip install`` hint.
"""

from __future__ import annotations

import warnings
from types import ModuleType
from typing import Any

from geo.errors import MissingDependencyError

__all__ = ["matplotlib", "pyplot", "weasyprint_html"]

_EXTRA = "reports"


def matplotlib() -> ModuleType:
    """Import Matplotlib with the non-interactive Agg backend and the modules the maps use.

    Returns
    -------
    module
        ``matplotlib``, with ``collections``, ``figure``, ``patches`` and ``pyplot`` loaded.

    Raises
    ------
    MissingDependencyError
        When Matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.collections
        import matplotlib.figure
        import matplotlib.patches
        import matplotlib.pyplot
    except ImportError as exc:
        raise MissingDependencyError(
            "matplotlib", extra=_EXTRA, purpose="dessiner les cartes et graphiques des documents"
        ) from exc
    return matplotlib


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend (see :func:`matplotlib`)."""
    return matplotlib().pyplot


def weasyprint_html() -> Any:
    """WeasyPrint's ``HTML`` class.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint is not installed.
    """
    try:
        with warnings.catch_warnings():  # older system libraries: harmless notice at import
            warnings.filterwarnings("ignore", message=".*HarfBuzz", category=DeprecationWarning)
            from weasyprint import HTML
    except ImportError as exc:
        raise MissingDependencyError("WeasyPrint", extra=_EXTRA, purpose="produire le PDF") from exc
    return HTML
