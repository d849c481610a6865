"""``qpv photos nettoyer``: finish or undo the photo writes of interrupted requests."""

from __future__ import annotations

import logging
from pathlib import Path

import click

logger = logging.getLogger(__name__)


@click.group("photos")
def photos_group() -> None:
    """Photos des constats : reprise après interruption, photos orphelines."""


@photos_group.command("nettoyer")
@click.option("--instance", default=None, envvar="QPV_INSTANCE_PATH",
              help="Dossier d'instance de l'application (par défaut instance/).")
@click.option("--dossier", "folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dossier des photos (par défaut PHOTOS_DIR de l'application).")
@click.option("--delai", "grace", type=click.FloatRange(min=0), default=None,
              help="Âge (secondes) à partir duquel une photo en attente sans constat est "
                   "supprimée (par défaut PHOTOS_GRACE_SECONDS, une heure).")
@click.option("--supprimer", is_flag=True,
              help="Supprime aussi les photos qu'aucun constat ne référence (sinon : liste).")
@click.pass_context
def photos_clean(ctx: click.Context, instance: str | None, folder: Path | None, grace: float | None,
                 supprimer: bool) -> None:
    """Rattache les photos en attente des constats enregistrés, supprime les autres.

    Les photos qu'aucun constat ne référence sont listées ; --supprimer les efface.
    """
    from layers.store import open_store
    from webmap.app import create_app
    from webmap.photos import recover

    config: dict[str, object] = {"PHOTOS_RECOVERY": False}
    if instance:
        config["instance_path"] = instance
    root = ctx.find_root()
    if root.get_parameter_source("store_url") in (
            click.core.ParameterSource.COMMANDLINE, click.core.ParameterSource.ENVIRONMENT):
        config["STORE"] = root.obj["store_url"]  # explicit --entrepot / QPV_STORE wins
    app = create_app(config)
    photos_dir = folder or Path(app.config["PHOTOS_DIR"])
    delay = float(app.config["PHOTOS_GRACE_SECONDS"]) if grace is None else grace
    with open_store(app.config["STORE"], create=False) as store:
        report = recover(store, photos_dir, grace_seconds=delay, delete_orphans=supprimer)
    for name in report.promoted:
        click.echo(f"rattachée : {name}")
    for name in report.discarded:
        click.echo(f"supprimée (constat absent) : {name}")
    for name in report.orphans:
        click.echo(f"{'supprimée' if supprimer else 'orpheline'} : {name}")
    click.echo(f"{photos_dir} : {report.summary()}")


def register(group: click.Group) -> None:
    """Add ``photos`` to the ``qpv`` command group."""
    group.add_command(photos_group)
