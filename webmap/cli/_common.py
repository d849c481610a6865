"""Helpers shared by every command module of the ``qpv`` CLI: error handling, logging, store."""

from __future__ import annotations

import logging
import sqlite3
import sys
from typing import TYPE_CHECKING, Any

import click

from geo.errors import QPVError
from webmap.cli._french import french_messages

if TYPE_CHECKING:
    from layers.store import LayerStore

__all__ = ["CONTEXT_SETTINGS", "QPVGroup", "configure_logging", "open_cli_store"]

#: ``-h`` / ``--aide`` (and the usual ``--help``) on every command.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--aide", "--help"]}


class QPVGroup(click.Group):
    """Click group that turns our errors into clean French messages (exit status 1).

    click's own words (usage, help, parameter errors) are French too while it runs.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line with click's messages in French."""
        with french_messages():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except QPVError as exc:
            click.secho(f"Erreur : {exc}", fg="red", err=True)
            sys.exit(1)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower() and "busy" not in str(exc).lower():
                raise
            # the store already waited a minute for the other writers: say so, in French
            click.secho("Erreur : l'entrepôt GeoPackage est resté verrouillé par d'autres écritures "
                        "plus d'une minute ; l'écriture en cours a été annulée. Réessayez plus tard.",
                        fg="red", err=True)
            sys.exit(1)


def configure_logging(verbose: int) -> None:
    """Log to stderr at WARNING, INFO (-v) or DEBUG (-vv)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def open_cli_store(ctx: click.Context, *, create: bool = False) -> LayerStore:
    """Open the store named by ``--entrepot`` (or the settings)."""
    from layers.store import open_store

    return open_store(ctx.obj["store_url"], create=create)
