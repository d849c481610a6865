"""``qpv actions exporter|importer``: the plan d'actions and the tableau de suivi as spreadsheets.

``exporter`` writes Annexe 1 (plan d'actions), Annexe 2 (tableau de suivi) or the TFPB bilan
of a bailleur as XLSX, ODS or PDF; ``importer`` reads an Annexe 1 / Annexe 2 spreadsheet
back (edited in LibreOffice or Excel): the actions are matched by « Référence », changed
where a cell changed, created for the rows without reference; all or nothing.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import click

from webmap.cli._common import open_cli_store

logger = logging.getLogger(__name__)

_DAY = click.DateTime(formats=["%Y-%m-%d", "%d/%m/%Y"])


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


@click.group("actions")
def actions_group() -> None:
    """Plan d'actions, tableau de suivi et bilan TFPB : export et import en tableur."""


@actions_group.command("exporter")
@click.option("--quartier", default=None, help="Code du quartier (QP034005…) ; tous par défaut.")
@click.option("--debut", type=_DAY, default=None, help="Actions décidées à partir de ce jour (AAAA-MM-JJ).")
@click.option("--fin", type=_DAY, default=None, help="Actions décidées jusqu'à ce jour inclus (AAAA-MM-JJ).")
@click.option("--modele", "model", type=click.Choice(["annexe1", "annexe2", "tfpb"]), required=True,
              help="annexe1 : plan d'actions ; annexe2 : tableau de suivi ; tfpb : bilan TFPB d'un bailleur.")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "ods", "pdf"]), default="xlsx", show_default=True,
              help="Format du fichier.")
@click.option("--sortie", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier écrit (par défaut : nom du tableau dans le dossier courant).")
@click.option("--convention", default=None, help="Code de la convention (par défaut : celle des actions).")
@click.option("--bailleur", default=None, help="Bailleur (bilan TFPB).")
@click.option("--annee", "year", type=int, default=None, help="Année TFPB (bilan TFPB).")
@click.pass_context
def export_cmd(ctx: click.Context, quartier: str | None, debut: datetime | None, fin: datetime | None,
               model: str, fmt: str, sortie: Path | None, convention: str | None, bailleur: str | None,
               year: int | None) -> None:
    """Exporte l'annexe 1, l'annexe 2 ou le bilan TFPB en XLSX, ODS ou PDF.

    Exemples :
      qpv actions exporter --quartier QP034005 --modele annexe2 --format xlsx --sortie suivi.xlsx
      qpv actions exporter --modele tfpb --bailleur "ACM Habitat" --annee 2024
    """
    from tqdm import tqdm

    from webmap.documents.action_files import ExportRequest, export_actions

    request = ExportRequest(model=model, fmt=fmt, quartier=quartier, start=_day(debut), end=_day(fin),
                            convention=convention, bailleur=bailleur, year=year)
    try:
        request.check()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    store = open_cli_store(ctx)
    try:
        with tqdm(total=2, desc="Export", unit="étape", disable=None, leave=False) as bar:
            body, name = export_actions(store, request)
            bar.update()
            target = sortie or Path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(body)
            bar.update()
    finally:
        store.close()
    click.echo(f"Fichier écrit : {target} ({len(body) / 1024:.0f} Kio).")


@actions_group.command("importer")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FICHIER")
@click.option("--simulation", is_flag=True, help="Vérifie et compte sans rien modifier.")
@click.option("--quartier", default=None,
              help="Quartier des nouvelles actions (par défaut : celui des actions du fichier).")
@click.option("--par", "actor", default=None, help="Auteur des modifications (historique).")
@click.pass_context
def import_cmd(ctx: click.Context, file: Path, simulation: bool, quartier: str | None,
               actor: str | None) -> None:
    """Importe un tableau (annexe 1 ou 2, XLSX ou ODS) exporté puis modifié.

    Les actions sont reconnues par leur « Référence » ; seules les cellules modifiées
    changent l'action (un changement d'état entre dans son historique) ; une ligne sans
    référence crée une action. Tout ou rien : au moindre problème, rien n'est modifié et
    chaque problème est listé (ligne, colonne). Codes de sortie : 0 fait ; 1 refusé.
    """
    from layers.action_import import ActionImportOptions, import_action_table
    from layers.errors import ActionImportError
    from layers.schema import LAYERS

    options = ActionImportOptions(actor=actor, quartier=quartier, simulation=simulation)
    store = open_cli_store(ctx)
    try:
        report = import_action_table(store, file, options=options)
    except ActionImportError as exc:
        click.secho(f"Erreur : {exc}", fg="red", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        click.echo(f"{len(exc.problems) or 1} problème(s) ; 0 action créée, 0 mise à jour.", err=True)
        ctx.exit(1)
    finally:
        store.close()
    if simulation:
        click.echo("Simulation : rien n'a été modifié.")
    click.echo(report.summary())
    schema = LAYERS["actions"]
    for reference, fields in report.updated.items():
        labels = [schema.field(f).label if f in schema.field_names else f for f in fields]
        click.echo(f"  mise à jour : {reference} ({', '.join(labels)})")
    for reference in report.created:
        click.echo(f"  créée : {reference}")


def register(group: click.Group) -> None:
    """Add ``actions`` to the ``qpv`` command group."""
    group.add_command(actions_group)
