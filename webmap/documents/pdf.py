"""HTML to PDF, the one conversion of every printable document."""

from __future__ import annotations

import logging

from webmap.documents import _deps
from webmap.errors import DocumentError

logger = logging.getLogger(__name__)

__all__ = ["html_to_pdf"]


def html_to_pdf(html: str) -> bytes:
    """Convert an HTML document to PDF with WeasyPrint.

    Parameters
    ----------
    html : str
        Standalone document (images embedded as data URIs).

    Returns
    -------
    bytes
        The PDF document.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint is not installed.
    DocumentError
        When WeasyPrint produces nothing.
    """
    pdf = _deps.weasyprint_html()(string=html).write_pdf()
    if not pdf:
        raise DocumentError("WeasyPrint n'a produit aucun PDF.")
    return bytes(pdf)
