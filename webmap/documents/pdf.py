"""HTML to PDF, the one conversion of every printable document."""

from __future__ import annotations

import logging
from pathlib import Path

from webmap.documents import _deps
from webmap.errors import DocumentError

logger = logging.getLogger(__name__)

__all__ = ["html_to_pdf", "write_document"]


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


def write_document(html: str, folder: str | Path, stem: str, *, pdf: bool = True) -> list[Path]:
    """Write ``<stem>.html`` and, with ``pdf``, ``<stem>.pdf`` (from the same HTML) into ``folder``.

    Parameters
    ----------
    html : str
        The rendered document.
    folder : str or Path
        Destination, created when missing.
    stem : str
        File name without extension.
    pdf : bool, default True
        Also write the PDF.

    Returns
    -------
    list of Path
        The HTML file, then the PDF.

    Raises
    ------
    MissingDependencyError
        When WeasyPrint is not installed (the HTML is written first).
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.html"]
    paths[0].write_text(html, encoding="utf-8")
    if pdf:
        paths.append(out / f"{stem}.pdf")
        paths[1].write_bytes(html_to_pdf(html))
    return paths
