"""The request handler of ``qpv servir``: werkzeug's, without announcing any version.

Werkzeug's development server sends ``Server: Werkzeug/x.y Python/x.y``, which tells an
attacker which known flaws to try. :class:`QuietRequestHandler` sends ``Server: qpv``.
"""

from __future__ import annotations

import logging

from flask import Flask
from werkzeug.serving import WSGIRequestHandler

logger = logging.getLogger(__name__)

#: Value of the ``Server`` header of ``qpv servir``.
SERVER_NAME = "qpv"
#: Listening addresses that stand for every interface (no host name to trust).
WILDCARD_HOSTS = ("0.0.0.0", "::", "")


class QuietRequestHandler(WSGIRequestHandler):
    """Werkzeug request handler whose ``Server`` header names no software version."""

    def version_string(self) -> str:
        """Return the ``Server`` header value."""
        return SERVER_NAME


def trust_served_host(app: Flask, host: str) -> bool:
    """Add the listening ``host`` to ``TRUSTED_HOSTS`` when it names one host.

    Returns False when ``host`` stands for every interface and the app trusts a fixed list
    of hosts: requests naming the machine otherwise are then refused (400) unless
    ``PUBLIC_URL`` or ``TRUSTED_HOSTS`` names them.
    """
    trusted = app.config.get("TRUSTED_HOSTS")
    if not trusted:  # None or []: every host is accepted
        return True
    if host in WILDCARD_HOSTS:
        return False
    if host not in trusted:
        app.config["TRUSTED_HOSTS"] = [*trusted, host]
    return True
