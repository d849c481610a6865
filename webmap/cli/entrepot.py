"""``qpv entrepot …``: copy a store into another (GeoPackage ↔ PostGIS)."""

from __future__ import annotations

import logging
import sys

import click

logger = logging.getLogger(__name__)


@click.group("entrepot")
def store_group() -> None:
    """Entrepôts : copie d'un GeoPackage vers PostGIS et retour."""


@store_group.command("copier")
@click.argument("source")
@click.argument("cible")
@click.option("--couche", "layers", multiple=True,
              help="Ne copier que cette couche (option répétable) ; toutes par défaut.")
def copy_cmd(source: str, cible: str, layers: tuple[str, ...]) -> None:
    """Copie l'entrepôt SOURCE dans CIBLE (fichier .gpkg ou postgresql://…?schema=…).

    Enregistrements, historiques de statut, tables filles, journal des imports et réglages
    sont copiés tels quels ; ce que la cible contient déjà est laissé (une seconde copie
    n'ajoute rien). La copie est entière ou n'a pas lieu.
    """
    from tqdm import tqdm

    from layers.schema import get_schema
    from layers.store import describe_store, open_store
    from layers.store.copy import IMPORTS_KEY, copy_store

    for name in layers:
        get_schema(name)
    src = open_store(source, create=False)
    try:
        infos = [i for i in src.layers() if not layers or i.name in layers]
        total = sum(i.count for i in infos)
        with tqdm(total=total, desc="Copie", unit=" enr.", disable=None, file=sys.stderr) as bar:
            def progress(layer: str, n: int) -> None:
                bar.set_postfix_str(layer)
                bar.update(n)

            counts = copy_store(src, cible, layers=list(layers) or None, progress=progress)
    finally:
        src.close()
    click.echo(f"Copie de {describe_store(source)} vers {describe_store(cible)} terminée.")
    for info in infos:
        line = f"  {info.name:<16} {counts.get(info.name, 0):>8} ajoutés sur {info.count:>8}"
        children = [f"{k.split('/', 1)[1]} {v}" for k, v in counts.items()
                    if k.startswith(f"{info.name}/")]
        if children:
            line += f" (tables liées : {', '.join(children)})"
        click.echo(line)
    if IMPORTS_KEY in counts:
        click.echo(f"  {IMPORTS_KEY} : {counts[IMPORTS_KEY]} entrée(s) ajoutée(s)")
    if not any(counts.values()):
        click.echo("Rien à ajouter : la cible contenait déjà tout.")


@store_group.command("optimiser")
@click.argument("entrepot", required=False)
@click.option("--couche", "layers", multiple=True, help="Seulement cette couche (option répétable).")
@click.pass_context
def optimize_cmd(ctx: click.Context, entrepot: str | None, layers: tuple[str, ...]) -> None:
    """Entretien après un gros import (statistiques, tables réordonnées sous PostGIS).

    Met à jour les statistiques du planificateur et, sous PostGIS, réordonne les tables
    selon leur index spatial (requêtes par emprise plus rapides).

    ENTREPOT : l'entrepôt à optimiser (par défaut celui de --entrepot / QPV_STORE). Sous
    PostGIS, chaque table est verrouillée le temps de sa réécriture : à lancer hors des
    heures d'usage.
    """
    from layers.schema import get_schema
    from layers.store import describe_store, open_store

    for name in layers:
        get_schema(name)
    root = ctx.find_root().obj or {}
    url = entrepot or root.get("store_url")
    if not url:
        raise click.UsageError("Indiquez l'entrepôt (argument ENTREPOT ou --entrepot).")
    store = open_store(url, create=False)
    try:
        done = store.optimize(list(layers) or None)
    finally:
        store.close()
    click.echo(f"Entrepôt {describe_store(url)} optimisé"
               + (f" ; tables réordonnées : {', '.join(done)}." if done else "."))


def register(group: click.Group) -> None:
    """Add ``entrepot`` to the ``qpv`` command group."""
    group.add_command(store_group)
