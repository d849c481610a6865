"""``qpv conventions lister|verifier|importer``: the GUSP conventions as data."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from webmap.cli._common import open_cli_store

logger = logging.getLogger(__name__)


def _describe(convention: object) -> str:
    from layers.conventions import Convention

    if not isinstance(convention, Convention):
        return str(convention)
    debut, fin = convention.periode
    years = str(debut) if debut == fin else f"{debut}-{fin}"
    parts = [f"{len(convention.axes)} axe(s)", f"{len(convention.orientations)} orientation(s)",
             f"{sum(1 for _ in convention.general_objectives())} objectif(s) général(aux)",
             f"{sum(1 for _ in convention.operational_objectives())} objectif(s) opérationnel(s)",
             f"{len(convention.fiches_action)} fiche(s) action"]
    tables = ", ".join(f"{t.titre} ({len(t.colonnes)} colonnes)" for t in convention.tableaux) or "aucun"
    return (f"{convention.code} — {convention.titre} ({years})\n"
            f"  {', '.join(parts)}\n  tableaux : {tables}\n  source : {convention.source.fichier}")


@click.group("conventions")
def conventions_group() -> None:
    """Conventions GUSP : orientations, objectifs, fiches action, tableaux des annexes."""


@conventions_group.command("lister")
@click.option("--importees", "stored_only", is_flag=True,
              help="Seulement les conventions importées dans l'entrepôt.")
@click.pass_context
def list_cmd(ctx: click.Context, stored_only: bool) -> None:
    """Liste les conventions livrées (data/conventions) ou importées dans l'entrepôt."""
    from layers.conventions import list_conventions, stored_conventions

    if stored_only:
        store = open_cli_store(ctx)
        try:
            conventions = stored_conventions(store)
        finally:
            store.close()
        if not conventions:
            click.echo("Aucune convention dans l'entrepôt (qpv conventions importer).")
    else:
        conventions = list_conventions()
    for convention in conventions:
        click.echo(_describe(convention))


@conventions_group.command("verifier")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path),
                metavar="FICHIER...")
def check_cmd(files: tuple[Path, ...]) -> None:
    """Vérifie des fichiers de convention YAML (clés, codes, références)."""
    from layers.conventions import load_convention

    for path in files:
        click.echo(f"{path.name} : correcte.\n{_describe(load_convention(path))}")


@conventions_group.command("importer")
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path), metavar="[FICHIER...]")
@click.pass_context
def import_cmd(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """Importe des conventions dans l'entrepôt (par défaut toutes celles de data/conventions).

    Une convention déjà importée (même code) est remplacée, jamais dupliquée.
    """
    from layers.conventions import import_convention, list_conventions, load_convention

    conventions = tuple(load_convention(path) for path in files) if files else list_conventions()
    store = open_cli_store(ctx)
    try:
        for convention in conventions:
            import_convention(store, convention)
            click.echo(f"Convention importée : {convention.code} — {convention.titre}")
    finally:
        store.close()


def register(group: click.Group) -> None:
    """Add ``conventions`` to the ``qpv`` command group."""
    group.add_command(conventions_group)
