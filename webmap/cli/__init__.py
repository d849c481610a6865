"""The ``qpv`` command line: store set-up, imports, exports, demo territory.

Errors are reported in French with a non-zero exit status; long work shows progress bars.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from layers.settings import get_settings
from webmap.cli import (
    actions,
    analyse,
    conventions,
    correspondance,
    diagnostic,
    entrepot,
    fond,
    national,
    photos,
    reseau,
    utilisateurs,
)
from webmap.cli._common import (
    CONTEXT_SETTINGS,
    QPVGroup,
    configure_logging,
    open_cli_store,
    print_version,
)
from webmap.cli._french import french_metavars
from webmap.cli.correspondance import EXIT_NOTHING_IMPORTED, print_import_report

logger = logging.getLogger(__name__)


@click.group(cls=QPVGroup, context_settings=CONTEXT_SETTINGS)
@click.option("--entrepot", "store_url", envvar="QPV_STORE", default=None,
              help="Entrepôt : fichier GeoPackage (par défaut var/territoire.gpkg) "
                   "ou base PostGIS postgresql://utilisateur:mdp@hôte/base?schema=nom.")
@click.option("-v", "--verbeux", "verbose", count=True, help="Plus de détails (-vv : débogage).")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=print_version,
              help="Affiche la version et quitte.")
@click.pass_context
def main(ctx: click.Context, store_url: str | None, verbose: int) -> None:
    """Plateforme d'observation GUSP des quartiers prioritaires.

    Les options générales (--entrepot, -v) s'écrivent avant ou après la commande.
    """
    configure_logging(verbose)
    settings = get_settings()
    ctx.obj = {"store_url": store_url or settings.store_url, "settings": settings}


@main.command("initialiser")
@click.pass_context
def init(ctx: click.Context) -> None:
    """Crée un entrepôt vide (toutes les couches)."""
    store = open_cli_store(ctx, create=True)
    store.close()
    from layers.store import describe_store

    click.echo(f"Entrepôt prêt : {describe_store(ctx.obj['store_url'])}")


@main.command("importer")
@click.argument("layer", metavar="COUCHE")
@click.argument("file", metavar="FICHIER", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--correspondance", "-m", "mapping", default=None,
              help="Correspondance des champs : nom (data/mappings) ou fichier YAML.")
@click.option("--strict", is_flag=True, help="Ne rien enregistrer si une ligne est rejetée.")
@click.option("--rapport", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Dossier du rapport de rejets (par défaut var/rapports).")
@click.option("--par", "actor", default=None, help="Auteur de l'import.")
@click.option("--echantillon", "sample", default=None, metavar="DESCRIPTION",
              help="Le fichier n'est qu'un échantillon (ex. « 10 000 signalements tirés de l'export "
                   "2023-2024 ») : chaque chiffre calculé dessus le dira.")
@click.option("--forcer", "force", is_flag=True,
              help="Relire le fichier même s'il a déjà été importé à l'identique "
                   "(reconnu par son empreinte).")
@click.pass_context
def import_cmd(ctx: click.Context, layer: str, file: Path, mapping: str | None, strict: bool,
               report_dir: Path | None, actor: str | None, sample: str | None, force: bool) -> None:
    r"""Importe FICHIER dans la couche COUCHE (tout ou rien).

    Sans -m, les fichiers nationaux des QPV (2015 et 2024), le CSV de la Base Adresse
    Nationale et les extraits OpenStreetMap de voies sont reconnus ; sinon les colonnes
    doivent porter les noms des champs (qpv couches champs COUCHE). Pour un autre fichier :
    qpv correspondance proposer FICHIER COUCHE -o m.yaml, puis -m m.yaml.

    \b
    Codes de sortie : 0 import fait ; 1 erreur (rien d'enregistré) ;
    2 commande mal formée ; 3 aucune ligne importée (toutes rejetées).
    """
    from tqdm import tqdm

    from layers.importer import ImportOptions, import_file
    from layers.samples import clean_sample_note, declare_sample

    if sample is not None:
        try:
            sample = clean_sample_note(sample)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--echantillon") from exc
    settings = ctx.obj["settings"]
    store = open_cli_store(ctx, create=True)
    stages = ["lecture", "correspondance", "géométrie", "validation", "enregistrement"]
    try:
        with tqdm(total=len(stages), desc=f"Import {file.name}", unit="étape",
                  disable=None, file=sys.stderr) as bar:
            def step(label: str) -> None:
                bar.set_postfix_str(label)
                bar.update(1)

            report = import_file(store, file, layer=layer,
                                 options=ImportOptions(mapping=mapping, actor=actor,
                                                       territory_margin_m=settings.territory_margin_m,
                                                       report_dir=report_dir or settings.reports_dir,
                                                       strict=strict, progress=step, force=force))
        if sample is not None and not report.nothing_imported:
            declare_sample(store, report.dataset, sample)
            click.echo(f"Jeu « {report.dataset} » déclaré échantillon : ses comptes seront dits partiels.")
    finally:
        store.close()
    print_import_report(report)
    if layer == "voies" and report.summary()["ajoutees"]:
        _check_streets(ctx)
    if report.nothing_imported:
        ctx.exit(EXIT_NOTHING_IMPORTED)


def _check_streets(ctx: click.Context) -> None:
    """After an import of ``voies``: the network quality report (a warning never fails the import)."""
    from geo.errors import QPVError
    from layers.network import street_network_quality

    store = open_cli_store(ctx)
    try:
        reseau.echo_network_quality(street_network_quality(store))
    except QPVError as exc:
        click.secho(f"Attention : qualité du réseau non mesurée ({exc}).", fg="yellow", err=True)
    finally:
        store.close()


@main.group("couches", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_context
def layers_cmd(ctx: click.Context, as_json: bool) -> None:
    """Couches de l'entrepôt : effectifs par couche et par quartier.

    « qpv couches champs COUCHE » liste les champs d'une couche.
    """
    if ctx.invoked_subcommand is not None:
        return
    from geo.stats.zones import count_by_zone
    from layers.errors import StoreError
    from layers.schema import LAYERS

    try:
        store = open_cli_store(ctx)
    except StoreError as exc:  # no store yet: the layer kinds it would hold
        click.echo(f"{exc}\nCouches disponibles (qpv couches champs COUCHE pour leurs champs) :")
        for name, schema in LAYERS.items():
            click.echo(f"  {name:<16} {schema.label}")
        return
    try:
        infos = store.layers()
        perimeters = store.read("perimetres")
        rows = []
        for info in infos:
            row: dict[str, Any] = {"couche": info.name, "libellé": info.label, "total": info.count,
                                   "simulées": info.simulated}
            if info.count and info.name != "perimetres" and not perimeters.empty \
                    and LAYERS[info.name].geometry is not None and not LAYERS[info.name].reference:
                counts = count_by_zone(store.read(info.name), perimeters)
                row["par_quartier"] = {c: int(n) for c, n in zip(counts["code"], counts["count"],
                                                                  strict=True) if n}
            rows.append(row)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        sim = f" (dont {row['simulées']} simulées)" if row["simulées"] else ""
        click.echo(f"{row['couche']:<16} {row['total']:>8}{sim}  {row['libellé']}")
        for code, n in sorted(row.get("par_quartier", {}).items()):
            click.echo(f"    {code:<12} {n:>8}")


@main.command("exporter")
@click.argument("layer", metavar="COUCHE")
@click.option("--format", "fmt", type=click.Choice(["gpkg", "geojson", "csv"]), default="geojson",
              show_default=True)
@click.option("-o", "--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier de sortie (par défaut COUCHE.FORMAT).")
@click.option("--debut", "start", default=None, help="Date de début (AAAA-MM-JJ).")
@click.option("--fin", "end", default=None, help="Date de fin exclue (AAAA-MM-JJ).")
@click.pass_context
def export_cmd(ctx: click.Context, layer: str, fmt: str, output: Path | None, start: str | None,
               end: str | None) -> None:
    """Exporte une couche en GeoPackage, GeoJSON ou CSV."""
    from layers.export import export_layer

    store = open_cli_store(ctx)
    try:
        out = output or Path(f"{layer}.{fmt}")
        n = export_layer(store, layer, out, fmt=fmt, start=start, end=end)
    finally:
        store.close()
    click.echo(f"{n} enregistrements exportés dans {out}")


@main.command("correspondances")
def mappings_cmd() -> None:
    """Liste les correspondances de champs fournies."""
    from layers.mapping import list_mappings

    for m in list_mappings():
        click.echo(f"{m.path.stem if m.path else m.dataset:<24} → {m.layer:<16} {m.title}")


@main.command("demo")
@click.option("--vider", "reset", is_flag=True, help="Repart d'un entrepôt vide.")
@click.pass_context
def demo(ctx: click.Context, reset: bool) -> None:
    """Construit l'entrepôt du territoire de démonstration (Paris 20e et Montpellier)."""
    from tqdm import tqdm

    from layers.demo import build_demo, demo_steps
    from layers.store import describe_store

    settings = ctx.obj["settings"]
    url = str(ctx.obj["store_url"])
    path = Path(url)
    if reset and url.startswith(("postgresql://", "postgres://")):
        from layers.store.postgis import drop_store

        drop_store(url)
    elif reset and path.exists():
        path.unlink()
    store = open_cli_store(ctx, create=True)
    steps = demo_steps(settings.demo_dir)
    try:
        with tqdm(total=len(steps) + 2, desc="Territoire de démonstration", unit="étape",
                  disable=None, file=sys.stderr) as bar:
            def step(label: str) -> None:
                bar.set_postfix_str(Path(label).name)
                bar.update(1)

            result = build_demo(store, settings.demo_dir, report_dir=settings.reports_dir,
                                on_step=step)
        infos = store.layers()
    finally:
        store.close()
    click.echo("")
    for r in result.reports:
        s = r.summary()
        click.echo(f"  {s['fichier']:<48} → {s['couche']:<16} {s['ajoutees']:>6} ajoutées, "
                   f"{s['deja_presentes']:>6} déjà là, {s['rejetees']:>4} rejetées")
    if result.simulation:
        click.echo(f"  simulation (données simulées, signalées comme telles) : {result.simulation}")
    if result.actions:
        a = result.actions
        click.echo(f"  plans d'actions simulés ({', '.join(a.quartiers)}) : {a.actions} actions dont "
                   f"{a.tfpb} TFPB, {a.links} liens vers des constats, {a.treated} constats traités")
    click.echo("\nCouches :")
    for info in infos:
        sim = f" (dont {info.simulated} simulées)" if info.simulated else ""
        click.echo(f"  {info.name:<16} {info.count:>7}{sim}")
    click.echo(f"\nEntrepôt : {describe_store(url)}\nEt maintenant :\n"
               f"  qpv servir                        la carte sur http://{settings.host}:{settings.port}/\n"
               "  qpv utilisateurs ajouter IDENTIFIANT --role technicien --organisation ville\n"
               "                                    un compte de saisie\n"
               "  qpv couches                       effectifs par couche et quartier\n"
               "  qpv parcours --quartier QP034005 --depart 3.8196,43.6222 --minutes 90\n"
               "  qpv rapport --quartier QP075019 --periode 2023-09:2024-08\n"
               '  qpv localiser "10 rue Félix Terrier 75020 Paris"\n'
               f"  rapports de rejets dans {settings.reports_dir}")


for _module in (utilisateurs, diagnostic, analyse, photos, entrepot, national, reseau, correspondance,
                conventions, actions, fond):
    _module.register(main)
french_metavars(main)


