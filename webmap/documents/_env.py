"""The one Jinja2 environment of the printable documents (``webmap/templates/documents``)."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

__all__ = ["TEMPLATES", "environment"]

#: Folder of the document templates and their style sheets.
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "documents"


@functools.cache
def environment() -> Environment:
    """Return the environment of the document templates; autoescape is on for every template."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
