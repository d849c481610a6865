"""``qpv reseau verifier``: tell whether the street network is fit for diagnostic walks."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from geo.walks.quality import share_text
from webmap.cli._common import open_cli_store

logger = logging.getLogger(__name__)




def _km(metres: float) -> str:
    return f"{metres / 1000:.1f}".replace(".", ",") + " km"


def echo_network_quality(quality: object) -> None:
    """Print a network quality report (figures, per-quartier table, warnings) in French."""
    from geo.walks.quality import NetworkQuality

    if not isinstance(quality, NetworkQuality):
        return
    click.echo(f"Réseau des voies : {quality.summary()}")
    if any(q.length_m > 0 for q in quality.quartiers):
        click.echo(f"\n  {'Quartier':<12} {'Voies':>10} {'Morceaux':>9} {'Plus grand':>11}  Nom")
        for q in (q for q in quality.quartiers if q.length_m > 0):
            share = share_text(q.largest_share)
            click.echo(f"  {q.code:<12} {_km(q.length_m):>10} {q.components:>9} {share:>11}  {q.name}")
    warnings = quality.warnings()
    for text in warnings:
        click.secho(f"Attention : {text}", fg="yellow", err=True)
    if not warnings:
        click.echo("Réseau utilisable pour les diagnostics en marchant.")


@click.group("reseau")
def network_group() -> None:
    """Réseau des voies : contrôle de sa qualité pour les parcours."""


@network_group.command("verifier")
@click.option("--quartier", default=None, help="Seulement ce quartier (code QP…).")
@click.option("--voies", "streets_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None,
              help="Fichier de voies (couche, .osm, .osm.pbf) à contrôler au lieu de l'entrepôt.")
@click.option("--accrochage", "snap_m", default=1.0, show_default=True, type=float,
              help="Tolérance de raccordement des extrémités de voies (m).")
@click.option("--liaison", "link_m", default=15.0, show_default=True, type=float,
              help="Écart maximal (m) entre deux parties du réseau reliées par une liaison piétonne "
                   "hors voie (0 : aucune liaison).")
@click.option("--niveau", "level_column", default=None,
              help="Colonne du niveau des voies (ponts > 0, tunnels < 0) dans le fichier.")
@click.option("--seuil", "threshold", default=90.0, show_default=True, type=float,
              help="Part minimale (%) de la longueur des voies dans la plus grande partie connexe.")
@click.pass_context
def check_cmd(ctx: click.Context, quartier: str | None, streets_file: Path | None, snap_m: float,
              link_m: float, level_column: str | None, threshold: float) -> None:
    """Compte les morceaux du réseau, la part de voies reliées, les impasses et les écarts raccordés."""
    from geo.walks.noding import NodingOptions
    from layers.network import street_network_quality

    store = open_cli_store(ctx)
    try:
        quality = street_network_quality(store, quartier=quartier, streets_file=streets_file,
                                         options=NodingOptions(snap_m=snap_m, level_column=level_column,
                                                               link_m=link_m),
                                         threshold=threshold / 100.0)
    finally:
        store.close()
    echo_network_quality(quality)
    broken = [q for q in quality.quartiers if q.length_m > 0 and not q.usable(quality.threshold)]
    if not quality.usable or broken:
        ctx.exit(3)


def register(group: click.Group) -> None:
    """Add ``reseau`` to the ``qpv`` command group."""
    group.add_command(network_group)
