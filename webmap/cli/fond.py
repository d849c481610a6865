"""``qpv fond construire``: the territory's offline basemap (vector tiles of the store's layers)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from geo.french import grouped
from webmap.cli._common import open_cli_store

logger = logging.getLogger(__name__)

_LAYER_LABELS = {"perimetres": "périmètres QPV", "voies": "voies", "batiments": "bâtiments",
                 "adresses": "adresses hors des voies"}


def _size(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f}".replace(".", ",") + " Mo"


@click.group("fond")
def basemap_group() -> None:
    """Fond de plan hors ligne du territoire (tuiles vectorielles servies par la carte)."""


@basemap_group.command("construire")
@click.option("--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier PMTiles écrit (par défaut <instance>/fond/territoire.pmtiles, "
                   "ou QPV_FOND_FICHIER).")
@click.option("--zoom-min", "min_zoom", type=click.IntRange(0, 20), default=10, show_default=True,
              help="Premier niveau de zoom des tuiles.")
@click.option("--zoom-max", "max_zoom", type=click.IntRange(0, 20), default=18, show_default=True,
              help="Dernier niveau de zoom des tuiles (la carte agrandit au-delà).")
@click.pass_context
def build_cmd(ctx: click.Context, output: Path | None, min_zoom: int, max_zoom: int) -> None:
    """Construit le fond de plan : voies nommées, bâtiments, adresses et périmètres QPV de l'entrepôt."""
    from tqdm import tqdm

    from layers.basemap import BasemapOptions, build_basemap
    from layers.settings import BASEMAP_META_PATH, BASEMAP_META_REVISION, basemap_file
    from webmap.errors import CliInputError

    if min_zoom > max_zoom:
        raise CliInputError(f"--zoom-min ({min_zoom}) dépasse --zoom-max ({max_zoom}).")
    target = (output or basemap_file()).resolve()
    store = open_cli_store(ctx)
    try:
        with tqdm(total=max_zoom - min_zoom + 1, desc="Fond de plan", unit="zoom", disable=None,
                  file=sys.stderr) as bar:
            def step(zoom: int, tiles: int) -> None:
                bar.set_postfix_str(f"zoom {zoom} : {tiles} tuiles")
                bar.update(1)

            options = BasemapOptions(min_zoom=min_zoom, max_zoom=max_zoom)
            result = build_basemap(store, target, options=options, on_zoom=step)
        store.set_meta(BASEMAP_META_PATH, str(target))
        store.set_meta(BASEMAP_META_REVISION, store.revision() or "")
    finally:
        store.close()
    seconds = f"{result.seconds:.1f}".replace(".", ",")
    click.echo(f"Fond de plan : {result.path}")
    click.echo(f"  {grouped(result.tiles)} tuiles (zooms {min_zoom} à {max_zoom}), "
               f"{_size(result.size_bytes)}, {seconds} s")
    for name, count in result.features.items():
        click.echo(f"  {_LAYER_LABELS.get(name, name):<26} {grouped(count):>8}")
    if result.features.get("voies"):
        total = grouped(result.features["voies"])
        click.echo(f"  voies sans nom : {grouped(result.unnamed_streets)} sur {total}")
    else:
        click.echo("  Aucune voie dans l'entrepôt : les adresses servent de contexte des rues.")
    click.echo(f"  Non dessiné (aucune couche de ce type dans l'entrepôt) : {', '.join(result.absent)}.")
    click.echo(f"  Sources : {result.attribution or 'n.d.'}")
    click.echo("La carte l'utilise quand BASEMAP est vide ou vaut « fond-territoire ».")


def register(group: click.Group) -> None:
    """Add ``fond`` to the ``qpv`` command group."""
    group.add_command(basemap_group)
