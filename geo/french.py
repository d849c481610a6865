"""French number formats shared by every text a user reads (method notes, reports, CLI, dashboard)."""

from __future__ import annotations

__all__ = ["NNBSP", "grouped"]

#: Narrow no-break space: thousands separator and space before « % ».
NNBSP = "\u202f"


def grouped(value: float, digits: int = 0) -> str:
    """Return ``value`` in French: narrow no-break spaces between thousands, decimal comma.

    Examples
    --------
    >>> grouped(1447)
    '1\u202f447'
    >>> grouped(12345.67, 1)
    '12\u202f345,7'
    """
    return f"{value:,.{digits}f}".replace(",", NNBSP).replace(".", ",")
