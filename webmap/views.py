"""The map page for technicians: a Leaflet map, synchronised filters and a list view.

The views stay thin: they render one page whose script reads everything else from the
JSON API (``/api/session``, ``/api/layers``, ``/api/layers/<layer>/features``...). The
JavaScript and CSS libraries come from npm packages copied into ``static/vendor`` by
``npm run build`` — never from a CDN, so the page works on an intranet.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, url_for
from werkzeug.wrappers.response import Response

from layers.schema import LAYERS, ChildSchema
from webmap.access import allow
from webmap.analysis_style import analysis_style

logger = logging.getLogger(__name__)

bp = Blueprint("carte", __name__)

#: Files the page loads from ``static/vendor`` (copied there by ``npm run build``).
VENDOR_FILES: tuple[str, ...] = (
    "vendor/leaflet/leaflet.css",
    "vendor/leaflet/leaflet.js",
    "vendor/leaflet.markercluster/MarkerCluster.css",
    "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "vendor/leaflet.heat/leaflet-heat.js",
    "vendor/protomaps-leaflet/protomaps-leaflet.js",
)

#: Upper bound of one photo, in bytes, when the app sets no ``MAX_PHOTO_BYTES``.
DEFAULT_MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: Photo types accepted by the observation form.
PHOTO_TYPES: tuple[str, ...] = ("image/jpeg", "image/png", "image/webp")
#: At most this many photos per observation when the app sets no ``MAX_PHOTOS``.
DEFAULT_MAX_PHOTOS = 5


def basemap_config(name: str | None) -> dict[str, Any]:
    """Return the settings of base map ``name`` handed to the pages (:func:`webmap.basemap.basemap_settings`).

    Parameters
    ----------
    name : str or None
        The ``BASEMAP`` setting: nothing (the territory's basemap when built, else Plan IGN),
        ``fond-territoire``, a ``.pmtiles`` / ``.mbtiles`` file, ``plan-ign``, ``osm``, ``aucun``
        or an online tile URL template with ``{z}``, ``{x}``, ``{y}``.

    Returns
    -------
    dict
        ``name``, ``label``, ``kind``, ``url`` (None for no tiles), ``attribution``, ``maxZoom``,
        ``bounds``, ``center``, ``fallback``.
    """
    from webmap.basemap import basemap_settings

    return basemap_settings(name)


def _child_form(child: ChildSchema) -> list[dict[str, Any]]:
    """Fields of a child table as the page's forms need them."""
    return [{"name": f.name, "label": f.label, "type": f.type, "required": f.required,
             "choices": list(f.choices) if f.choices else None,
             "minimum": f.minimum, "maximum": f.maximum} for f in child.fields]


def page_config() -> dict[str, Any]:
    """Return the settings handed to the page's script (JSON in the HTML).

    Returns
    -------
    dict
        Base map, photo limits, forms of the child tables, API and page URLs.
    """
    cfg = current_app.config
    return {
        "basemap": basemap_config(cfg.get("BASEMAP")),
        "photos": {"max": int(cfg.get("MAX_PHOTOS", DEFAULT_MAX_PHOTOS)), "types": list(PHOTO_TYPES),
                   "maxBytes": int(cfg.get("MAX_PHOTO_BYTES", DEFAULT_MAX_PHOTO_BYTES))},
        "forms": {
            "evenements": _child_form(LAYERS["points_noirs"].child("evenements")),
            "releves": _child_form(LAYERS["bacs"].child("releves")),
        },
        "contextMinZoom": 15,
        # colours, legend and « comment lire » of the analyses layer (webmap.analysis_style)
        "analyses": analysis_style(),
        # the only outside hosts a photo may be loaded from (Open311 media_url)
        "mediaHosts": sorted(str(h).lower() for h in cfg.get("MEDIA_HOSTS") or ()),
        "urls": {"connexion": url_for("auth.login") if "auth.login" in current_app.view_functions
                 else "/connexion", "deconnexion": "/deconnexion", "api": "/api", "photos": "/photos/",
                 # walk pages (/diagnostic/<uid>): linked from the popups and list rows of the walks
                 "diagnostic": url_for("diagnostic.walk_list")
                 if "diagnostic.walk_list" in current_app.view_functions else None},
    }


def missing_vendor_files() -> list[str]:
    """Vendor files absent from the static folder (``npm run build`` not run)."""
    static = Path(current_app.static_folder or Path(__file__).parent / "static")
    return [name for name in VENDOR_FILES if not (static / name).is_file()]


@bp.get("/")
@allow()
def carte() -> tuple[str, int] | str:
    """Return the map page (its list view is the ``#liste`` anchor of the same page)."""
    missing = missing_vendor_files()
    if missing:
        return render_template("carte/installation.html", missing=missing), 503
    return render_template("carte/carte.html", page_config=page_config(), vendor=VENDOR_FILES)


@bp.get("/liste")
@allow()
def liste() -> Response:
    """Return the list view, shown full page: the same page opened on its ``#liste`` anchor."""
    return redirect(url_for("carte.carte") + "#liste")
