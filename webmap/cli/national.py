"""``qpv national …``: the national batch (lookup and binning partitioned with dask-geopandas).

``qpv national localiser`` finds the QPV of every address of a large file (BAN per
département, GeoParquet…) against perimeters read from a file or from the store (a
GeoPackage or, for a national observatory, a PostGIS URL); ``qpv national mailles`` counts
points per grid cell with the optional Gi*. Both run on a local cluster of ``--workers``
processes, on an existing Dask cluster (``--scheduler tcp://hôte:8786``) or on a local
scheduler (``--scheduler synchronous`` / ``threads`` / ``processes``). Registered on the
main group by :func:`register`; dask is imported on first use (extra ``national``).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import click

from webmap.cli._common import open_cli_store
from webmap.errors import CliInputError

logger = logging.getLogger(__name__)

LOCAL_SCHEDULERS = ("synchronous", "threads", "processes")


@contextlib.contextmanager
def dask_scheduler(scheduler: str | None, workers: int | None) -> Iterator[Any]:
    """Run the enclosed computations on the chosen Dask scheduler.

    Parameters
    ----------
    scheduler : str, optional
        ``tcp://…`` (or any distributed address): an existing cluster;
        ``synchronous``, ``threads``, ``processes``: dask's local schedulers;
        ``None``: a local cluster of ``workers`` processes × 1 thread, without dashboard.
    workers : int, optional
        Processes of the local cluster (the number of CPUs by default).

    Yields
    ------
    distributed.Client or None
        The client (None on a local scheduler).
    """
    from geo.batch import require_national

    dask = require_national("dask")
    if scheduler in LOCAL_SCHEDULERS:
        with dask.config.set(scheduler=scheduler):
            yield None
        return
    distributed = require_national("distributed")
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except OSError as exc:
            raise CliInputError(f"Ordonnanceur Dask injoignable : {scheduler} ({exc}).") from exc
        with client:
            yield client
        return
    import os

    n = workers or os.cpu_count() or 1
    options = {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
    with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                                  scheduler_kwargs=options, silence_logs=logging.WARNING) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _compute(client: Any, *collections: Any) -> tuple[Any, ...]:
    """Compute with a progress bar (distributed's or dask's local one) on stderr."""
    from geo.batch import require_national

    dask = require_national("dask")
    if client is None:
        from dask.diagnostics import ProgressBar

        with ProgressBar(out=sys.stderr, minimum=1.0):
            return tuple(dask.compute(*collections))
    distributed = require_national("distributed")
    futures = client.compute(list(collections))
    if sys.stderr.isatty():
        distributed.progress(futures)
    return tuple(client.gather(futures))


def _perimeters(ctx: click.Context, path: Path | None, regles: Path | None, geographie: str | None) -> Any:
    """The lookup index: from a perimeter file, or from the store (GeoPackage or PostGIS)."""
    from geo.perimeters.streetlist import read_rules

    rules = read_rules(regles) if regles else None
    if path is not None:
        import geopandas as gpd

        from geo.perimeters.lookup import build_index

        frame = gpd.read_file(path)
        if geographie and "geography" in frame.columns:
            frame = frame[frame["geography"].astype(str) == geographie]
        return build_index(frame, rules=rules)
    from layers.perimeters import lookup_index_from_store
    store = open_cli_store(ctx)
    try:
        return lookup_index_from_store(store, rules=rules, geography=geographie, addresses=False)
    finally:
        store.close()


@click.group("national")
def national_group() -> None:
    """Traitement national par lots (dask-geopandas) : recherche de QPV et maillage."""


def _scheduler_options(func: Any) -> Any:
    func = click.option("--ordonnanceur", "scheduler", default=None,
                        help="Cluster Dask existant (tcp://hôte:8786) ou synchronous / threads / processes "
                             "(par défaut : cluster local de --processus processus).")(func)
    func = click.option("--processus", "workers", type=click.IntRange(min=1), default=None,
                        help="Processus du cluster local (par défaut : un par cœur).")(func)
    func = click.option("--partitions", type=click.IntRange(min=1), default=None,
                        help="Nombre de partitions (par défaut : celles du fichier).")(func)
    return func


_SHAPES: dict[str, Literal["square", "hex"]] = {"carree": "square", "hexagonale": "hex"}


def _n(value: Any) -> str:
    """An integer with a space between thousands, as written in French."""
    return f"{int(value):,}".replace(",", " ")


def _summary(part: Any) -> Any:
    """Points per (QPV, status) of one looked-up partition."""
    return part.groupby(["qpv_code", "qpv_status"], observed=True).size().rename("points").reset_index()


@national_group.command("localiser")
@click.argument("fichier_adresses", type=click.Path(path_type=Path))
@click.option("--perimetres", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Fichier des périmètres (par défaut : ceux de l'entrepôt --entrepot, GeoPackage "
                   "ou PostGIS).")
@click.option("--regles", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Règles de rues (.yaml ou .csv).")
@click.option("--geographie", type=click.Choice(["2015", "2024"]), default=None,
              help="Seulement les périmètres de cette géographie.")
@click.option("-o", "--sortie", "output", type=click.Path(path_type=Path), required=True,
              help="Dossier GeoParquet de sortie (une partie par partition).")
@_scheduler_options
@click.pass_context
def national_lookup(ctx: click.Context, fichier_adresses: Path, perimetres: Path | None, regles: Path | None,
                    geographie: str | None, output: Path, scheduler: str | None, workers: int | None,
                    partitions: int | None) -> None:
    """Cherche le QPV de chaque adresse de FICHIER_ADRESSES (CSV BAN, GeoParquet, motif *.csv.gz…)."""
    from geo.batch import lookup_partitioned, read_points, write_parquet_parts

    index = _perimeters(ctx, perimetres, regles, geographie)
    points = read_points(str(fichier_adresses), npartitions=partitions)
    looked = lookup_partitioned(points, index)
    click.echo(f"{points.npartitions} partition(s), {len(index.perimeters)} périmètres, "
               f"{len(index.rules)} règles de rues.", err=True)
    with dask_scheduler(scheduler, workers) as client:
        summaries = write_parquet_parts(looked, output, summarize=_summary)
        (table,) = _compute(client, summaries)
    table = table.astype({"qpv_code": str, "qpv_status": str})
    statuses = table.groupby("qpv_status")["points"].sum()
    codes = table.groupby("qpv_code")["points"].sum()
    from layers.perimeters import STATUS_FR

    summary = ", ".join(f"{_n(n)} {STATUS_FR.get(str(k), str(k))}" for k, n in statuses.items() if n)
    click.echo(f"{_n(statuses.sum())} adresses : {summary}.")
    for code, n in codes.items():
        if str(code) and n:
            click.echo(f"  {code} : {_n(n)}")
    click.echo(f"Résultat : {output}")


@national_group.command("mailles")
@click.argument("fichier_points", type=click.Path(path_type=Path))
@click.option("--maille", "cell_m", type=click.FloatRange(min=0, min_open=True), default=200.0,
              show_default=True, help="Taille des mailles en mètres.")
@click.option("--forme", "shape", type=click.Choice(["carree", "hexagonale"]), default="carree",
              show_default=True,
              help="Carrés (clés floor(x / maille), clairsemés : toute la France) ou hexagones.")
@click.option("--par", "by", default=None, help="Colonne de ventilation des comptes.")
@click.option("--gi", "hotspots", is_flag=True,
              help="Calcule aussi le Gi* de Getis-Ord sur la grille réduite.")
@click.option("-o", "--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Mailles comptées : .parquet, .gpkg ou .geojson.")
@_scheduler_options
def national_bins(fichier_points: Path, cell_m: float, shape: str, by: str | None, hotspots: bool,
                  output: Path, scheduler: str | None, workers: int | None, partitions: int | None) -> None:
    """Compte les points de FICHIER_POINTS par maille (et le Gi* avec --gi)."""
    from geo.batch import BatchGrid, bin_partitioned, read_points

    points = read_points(str(fichier_points), npartitions=partitions)
    with dask_scheduler(scheduler, workers):
        cells = bin_partitioned(points, grid=BatchGrid(cell_m=cell_m, shape=_SHAPES[shape]), by=by,
                                hotspots=hotspots)
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        cells.to_parquet(output)
    else:
        cells.to_file(output)
    occupied = int((cells["count"] > 0).sum())
    click.echo(f"{_n(cells['count'].sum())} points dans {_n(occupied)} mailles occupées "
               f"({_n(len(cells))} mailles de {cell_m:g} m).")
    if hotspots:
        click.echo(f"Mailles chaudes : {int((cells['gi_bin'] > 0).sum())}, "
                   f"froides : {int((cells['gi_bin'] < 0).sum())}.")
    click.echo(f"Résultat : {output}")


def register(group: click.Group) -> None:
    """Add the ``national`` group to the ``qpv`` group."""
    group.add_command(national_group)
