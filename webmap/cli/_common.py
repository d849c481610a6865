"""Helpers shared by every command module of the ``qpv`` CLI: error handling, logging, store."""

from __future__ import annotations

import logging
import re
import sqlite3
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import click

from geo.errors import QPVError
from webmap.cli._french import french_messages

if TYPE_CHECKING:
    from layers.store import LayerStore

__all__ = ["COMMAND_ALIASES", "CONTEXT_SETTINGS", "OPTION_ALIASES", "QPVGroup", "configure_logging",
           "hoist_global_options", "open_cli_store", "print_version", "resolve_alias"]

#: ``-h`` / ``--aide`` (and the usual ``--help``) on every command.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--aide", "--help"]}


#: Hidden alternative names of the root group's options (the English names of earlier versions).
OPTION_ALIASES: dict[str, str] = {"--store": "--entrepot"}

#: Hidden English names of the commands of earlier versions, per group (``None`` = ``qpv``
#: itself), so that scripts written for them keep working; help lists the French names only.
COMMAND_ALIASES: dict[str | None, dict[str, str]] = {
    None: {"init": "initialiser", "import": "importer", "layers": "couches", "export": "exporter",
           "mappings": "correspondances", "mapping": "correspondance", "lookup": "localiser",
           "report": "rapport", "route": "parcours", "users": "utilisateurs", "serve": "servir",
           "worker": "travailleur", "network": "reseau", "streets": "rues", "store": "entrepot"},
    "rues": {"parse": "lire", "compile": "compiler", "inverse": "inverser", "save": "enregistrer"},
    "national": {"lookup": "localiser", "bins": "mailles"},
    "diagnostic": {"list": "liste", "show": "voir", "report": "compte-rendu"},
    "utilisateurs": {"add": "ajouter", "list": "liste", "set-role": "role"},
    "reseau": {"check": "verifier", "verify": "verifier"},
    "correspondance": {"propose": "proposer"},
    "couches": {"fields": "champs"},
    "analyse": {"hotspots": "points-chauds"},
    "entrepot": {"copy": "copier", "optimize": "optimiser"},
    "photos": {"clean": "nettoyer"},
}


def resolve_alias(group: click.Group, name: str, *, root: bool) -> str:
    """Return the French name of ``group``'s sub-command ``name`` (an English alias or itself)."""
    aliases = COMMAND_ALIASES.get(None if root else group.name, {})
    return aliases.get(name, name) if group.get_command(click.Context(group), name) is None else name

_SHORT_CLUSTER = re.compile(r"-([A-Za-z])\1+")


class QPVGroup(click.Group):
    """Click group that turns our errors into clean French messages (exit status 1).

    click's own words (usage, help, parameter errors) are French too while it runs. As the
    root group, its own options (``--entrepot``, ``-v``…) are global: they are accepted
    after any sub-command too (see :func:`hoist_global_options`).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Move the global options written after a sub-command in front of it, then parse."""
        if ctx.parent is None:
            args = hoist_global_options(self, ctx, args)
        return super().parse_args(ctx, args)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line with click's messages in French."""
        with french_messages():
            return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            raise _with_global_suggestions(exc, self) from None
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


#: Name of the distribution whose version ``qpv --version`` prints.
DISTRIBUTION = "qpv-observatoire"


def print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: print « qpv-observatoire 0.1.0 » (installed metadata) and exit."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        click.echo(f"{DISTRIBUTION} {version(DISTRIBUTION)}")
    except PackageNotFoundError:
        click.echo(f"{DISTRIBUTION} (version inconnue : le paquet n'est pas installé, "
                   "lancez « pip install -e . »)")
    ctx.exit()


def configure_logging(verbose: int) -> None:
    """Log to stderr at WARNING, INFO (-v) or DEBUG (-vv)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


def open_cli_store(ctx: click.Context, *, create: bool = False) -> LayerStore:
    """Open the store named by ``--entrepot`` (or the settings)."""
    from layers.store import open_store

    return open_store(ctx.obj["store_url"], create=create)


def _option_names(params: Iterable[click.Parameter]) -> dict[str, int]:
    """Every option name of ``params`` → the number of values that follow it (0 for flags)."""
    names: dict[str, int] = {}
    for param in params:
        if not isinstance(param, click.Option):
            continue
        nargs = 0 if param.is_flag or param.count else max(param.nargs, 1)
        for name in (*param.opts, *param.secondary_opts):
            names[name] = nargs
    return names


def _global_name(token: str, global_names: dict[str, int]) -> str | None:
    """The global option ``token`` names (alias resolved, ``-vv`` as ``-v``), or None."""
    name = OPTION_ALIASES.get(token, token)
    if name in global_names:
        return name
    cluster = _SHORT_CLUSTER.fullmatch(token)
    if cluster and global_names.get(f"-{cluster.group(1)}") == 0:
        return f"-{cluster.group(1)}"
    return None


def hoist_global_options(root: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """Return ``args`` with the root group's options moved in front of the first sub-command.

    ``qpv diagnostic liste --entrepot x.gpkg -v`` becomes ``qpv --entrepot x.gpkg -v
    diagnostic liste``, so every command, present or future, takes the global options
    after its name as well as before. A command's (or sub-group's) own option of the same
    name wins: it stays where it is. The values of the commands' own options are skipped
    (``--theme -v`` keeps ``-v`` as the theme), nothing after ``--`` moves, and the hidden
    aliases (``--store``, the English command names ``init``, ``lookup``, ``rues parse``…)
    become their French name.
    """
    global_names = _option_names(root.params)
    hoisted: list[str] = []
    kept: list[str] = []
    command: click.Command = root
    split = None  # index in ``kept`` of the first sub-command name
    i = 0
    while i < len(args):
        token = args[i]
        if token == "--":
            kept.extend(args[i:])
            break
        if not token.startswith("-") or token == "-":
            if isinstance(command, click.Group):
                token = resolve_alias(command, token, root=command is root)
            sub = command.get_command(ctx, token) if isinstance(command, click.Group) else None
            if sub is not None:
                split = len(kept) if split is None else split
                command = sub
            kept.append(token)
            i += 1
            continue
        name, eq, value = token.partition("=")
        own = _option_names(command.params) if command is not root else {}
        glob = None if name in own else _global_name(name, global_names)
        nargs = 0 if eq else own.get(name, global_names.get(glob or "", 0))
        renamed = OPTION_ALIASES.get(name, name) if glob else name  # ``-vv`` stays ``-vv``
        taken = [f"{renamed}{eq}{value}", *args[i + 1:i + 1 + nargs]]
        (hoisted if glob and command is not root else kept).extend(taken)
        i += 1 + nargs
    if split is None:
        return kept + hoisted
    return kept[:split] + hoisted + kept[split:]


def _with_global_suggestions(exc: click.NoSuchOption, root: click.Group) -> click.NoSuchOption:
    """The same error, suggesting the global options too (``--entrepo`` → ``--entrepot``)."""
    command = exc.ctx.command if exc.ctx is not None else root
    names = [n for n in (*_option_names(command.params), *_option_names(root.params)) if n.startswith("--")]
    return click.NoSuchOption(exc.option_name, possibilities=names, ctx=exc.ctx)
