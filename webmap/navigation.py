"""The header of every page: one list of entries, shown by role and by the pages that exist.

Each entry names the URL of its page (and, when known, its endpoint) and the minimum role
that may open it. An entry is shown only when a view answers that URL in this app (pages
built later appear on their own) and the current role suffices, both for the entry and for
the view's own :func:`webmap.access.allow` rule. The entry of the current page is marked
``aria-current="page"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RoutingException

from webmap.access import current_role, has_role


@dataclass(frozen=True)
class NavEntry:
    """One entry of the header.

    ``path`` is the page's URL; ``endpoint`` its Flask endpoint when known (the page is
    found by its URL otherwise); ``sections`` the URL prefixes of the pages that belong to
    the entry (marked current); ``anchor`` a fragment added to the link.
    """

    label: str
    path: str
    minimum: str
    endpoint: str = ""
    sections: tuple[str, ...] = ()
    anchor: str = ""


#: The header, in display order.
ENTRIES: tuple[NavEntry, ...] = (
    NavEntry("Carte", "/", "anonyme", "carte.carte", sections=("/",)),
    NavEntry("Liste", "/", "anonyme", "carte.carte", anchor="liste"),
    NavEntry("Diagnostics", "/diagnostic/", "lecteur", "diagnostic.walk_list",
             sections=("/diagnostic", "/diagnostics")),
    NavEntry("Quartiers", "/quartiers", "lecteur", sections=("/quartiers",)),
    NavEntry("Rapports", "/rapports", "lecteur", sections=("/rapports",)),
    NavEntry("Plan d'actions", "/actions", "lecteur", "actions_pages.actions_page", sections=("/actions",)),
    NavEntry("TFPB", "/tfpb", "lecteur", "tfpb.page", sections=("/tfpb",)),
    NavEntry("Administration", "/admin/comptes", "administrateur", "admin.accounts", sections=("/admin",)),
)


@dataclass(frozen=True)
class NavLink:
    """An entry as rendered for this request."""

    label: str
    href: str
    current: bool


def _view_minimum(app: Flask, entry: NavEntry) -> str | None:
    """Minimum role of the view behind ``entry``, or None when no view answers it."""
    endpoint = entry.endpoint if entry.endpoint in app.view_functions else None
    if endpoint is None:
        adapter = app.url_map.bind("localhost")
        try:
            endpoint, _ = adapter.match(entry.path, method="GET")
        except (HTTPException, RoutingException):  # NotFound, MethodNotAllowed, RequestRedirect
            return None
    view = app.view_functions.get(endpoint)
    return getattr(view, "_qpv_access", None) if view is not None else None


def _is_current(entry: NavEntry, path: str) -> bool:
    return any(path == s or (s != "/" and path.startswith(s.rstrip("/") + "/")) or path == s.rstrip("/")
               for s in entry.sections)


def nav_links(role: str | None = None) -> list[NavLink]:
    """Return the header entries the current user (or ``role``) may open, in order."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    role = role or current_role()
    links = []
    for entry in ENTRIES:
        view_minimum = _view_minimum(app, entry)
        if view_minimum is None or not has_role(entry.minimum, role) or not has_role(view_minimum, role):
            continue
        href = request.script_root + entry.path + (f"#{entry.anchor}" if entry.anchor else "")
        links.append(NavLink(entry.label, href, _is_current(entry, request.path)))
    return links


def init_app(app: Flask) -> None:
    """Make ``nav_links()`` available to every template."""
    app.context_processor(lambda: {"nav_links": nav_links})

