"""The store of a request: opened on first use, closed when the application context ends.

As the Flask tutorial does with its ``db.py``: the blueprints call :func:`get_store`,
and :func:`init_app` registers :func:`close_store` on the application.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g

from layers.errors import StoreError
from layers.store import LayerStore, open_store
from webmap.access import fail

logger = logging.getLogger(__name__)


def get_store() -> LayerStore:
    """Return the store of this request, opened on first use and closed at teardown.

    A store that cannot be opened is a 503 « Entrepôt de données indisponible. ».
    """
    if "qpv_store" not in g:
        try:
            g.qpv_store = open_store(current_app.config["STORE"], create=False)
        except StoreError:
            logger.exception("store unavailable")
            fail(503, "Entrepôt de données indisponible.")
    return g.qpv_store


def close_store(_exc: BaseException | None = None) -> None:
    """Close the store of this request, if it was opened."""
    store = g.pop("qpv_store", None)
    if store is not None:
        store.close()


def init_app(app: Flask) -> None:
    """Close the request's store when the application context ends."""
    app.teardown_appcontext(close_store)
