"""``qpv parcours`` and ``qpv diagnostic …``: plan, list, record and report diagnostic walks."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from layers.schema import ORGANISATIONS
from webmap.cli._common import open_cli_store

logger = logging.getLogger(__name__)

_STEPS = ("graphe des voies", "priorités des arrêts", "calcul du parcours", "enregistrement")


def _minutes(value: float) -> str:
    return f"{value:.0f} min"


@click.command("parcours")
@click.option("--quartier", required=True, help="Code du quartier (QP034005…).")
@click.option("--depart", "start", required=True,
              help="Point de rendez-vous : adresse (« 12 rue X ») ou « lon,lat ».")
@click.option("--minutes", default=90.0, show_default=True, type=float,
              help="Temps disponible, arrêts compris.")
@click.option("--fin", "end", default=None, help="Point d'arrivée (adresse ou « lon,lat ») ; boucle sinon.")
@click.option("--vitesse", default=3.0, show_default=True, type=float, help="Vitesse de marche (km/h).")
@click.option("--arret", default=5.0, show_default=True, type=float, help="Durée de chaque arrêt (min).")
@click.option("--groupes", default=1, show_default=True, type=int, help="Nombre de groupes (parcours).")
@click.option("--toutes-les-rues", "all_streets", is_flag=True,
              help="Parcourir toutes les rues du quartier au lieu des arrêts prioritaires.")
@click.option("--obligatoire", "mandatory", multiple=True,
              help="Arrêt obligatoire (adresse ou « lon,lat ») ; répétable.")
@click.option("--date", "walk_date", default=None, help="Date prévue (AAAA-MM-JJ ou AAAA-MM-JJTHH:MM).")
@click.option("--nom", "name", default=None, help="Nom du parcours.")
@click.option("--sortie", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Dossier des fichiers GeoJSON, GPX, HTML et PDF.")
@click.option("--sans-pdf", "no_pdf", is_flag=True, help="Ne pas produire la feuille PDF.")
@click.option("--organisation", "organisation", type=click.Choice(ORGANISATIONS), default=None,
              help="Organisation qui organise le parcours : ses techniciens pourront le marquer réalisé.")
@click.pass_context
def route_cmd(ctx: click.Context, quartier: str, start: str, minutes: float, end: str | None,
              vitesse: float, arret: float, groupes: int, all_streets: bool, mandatory: tuple[str, ...],
              walk_date: str | None, name: str | None, out: Path, no_pdf: bool,
              organisation: str | None) -> None:
    """Calcule un diagnostic en marchant, l'enregistre et écrit ses feuilles de route."""
    from tqdm import tqdm

    from geo.walks.export import connectors_text, coverage_text, unserved_text
    from geo.walks.model import WalkOptions
    from layers.walks import WalkRequest, export_walk, load_walk, plan_walk, walk_sheet_data
    from webmap.documents import write_walk_sheet

    store = open_cli_store(ctx)
    try:
        with tqdm(total=len(_STEPS) + 1, desc="Diagnostic en marchant", unit="étape", disable=None,
                  file=sys.stderr) as bar:
            def step(label: str) -> None:
                bar.set_postfix_str(label)
                bar.update(1)

            request = WalkRequest(
                quartier=quartier, start=start, end=end, mandatory=mandatory, groups=groupes,
                mode="toutes-les-rues" if all_streets else "priorites", name=name, walk_date=walk_date,
                options=WalkOptions(budget_min=minutes, speed_kmh=vitesse, dwell_min=arret),
                organisation=organisation)
            plans = plan_walk(store, request, progress=step)
            files = []
            bar.set_postfix_str("feuilles de route")
            for plan in plans:
                stored = load_walk(store, plan.uid)
                files += export_walk(store, plan.uid, out, formats=("geojson", "gpx"), plan=stored)
                sheet = walk_sheet_data(store, plan.uid, plan=stored)
                files += write_walk_sheet(sheet, out, stored.file_stem, pdf=not no_pdf)
            bar.update(1)
    finally:
        store.close()
    for plan in plans:
        r = plan.route
        click.echo(f"\n{plan.name}  [{plan.uid}]")
        click.echo(f"  départ : {plan.start_label}")
        click.echo(f"  {len(r.stops)} arrêts, {r.length_m / 1000:.2f} km, durée {_minutes(r.duration_min)} "
                   f"arrêts compris (disponible : {_minutes(r.budget_min)})")
        if r.duration_min > r.budget_min + 0.5:
            click.secho(f"  dépasse de {_minutes(r.duration_min - r.budget_min)} le temps disponible : "
                        "prévoir plusieurs sorties ou plusieurs groupes", fg="yellow")
        for _, s in r.stops.iterrows():
            click.echo(f"  {int(s['order']):>3}. +{s['arrival_min']:>5.1f} min  {s.get('label', '')}"
                       f"  — {s.get('reason', '')}")
        if coverage_text(r):
            click.echo(f"  {coverage_text(r)}")
        if r.connectors:
            click.secho(f"  {connectors_text(r)}", fg="yellow")
        if r.unserved:
            click.secho(f"  {len(r.unserved)} arrêt(s) non desservi(s), hors parcours et hors horaire :",
                        fg="yellow")
        for u in r.unserved:
            click.echo(f"     - {u.get('label') or u.get('id')} : {unserved_text(u)}")
    click.echo("\nFichiers :")
    for f in files:
        click.echo(f"  {f}")


@click.group("diagnostic")
def diagnostic_group() -> None:
    """Diagnostics en marchant enregistrés : liste, détail, réalisation, compte-rendu."""


@diagnostic_group.command("liste")
@click.option("--quartier", default=None, help="Seulement ce quartier.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
@click.pass_context
def diag_list(ctx: click.Context, quartier: str | None, as_json: bool) -> None:
    """Liste les diagnostics, du plus récent au plus ancien."""
    from layers.walks import list_walks

    store = open_cli_store(ctx)
    try:
        walks = list_walks(store, quartier=quartier)
    finally:
        store.close()
    rows = [{"uid": r["uid"], "nom": r["name"], "quartier": r["quartier"], "date": str(r["walk_date"]),
             "statut": r["status"], "durée_min": r["duration_min"], "longueur_m": r["length_m"]}
            for _, r in walks.iterrows()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        click.echo("Aucun diagnostic enregistré.")
    for r in rows:
        click.echo(f"{r['uid']}  {r['date'][:16]:<16}  {r['quartier']:<10} {r['statut']:<22} {r['nom']}")


@diagnostic_group.command("voir")
@click.argument("uid")
@click.pass_context
def diag_show(ctx: click.Context, uid: str) -> None:
    """Affiche un diagnostic, ses étapes et le suivi des constats encore ouverts."""
    from layers.walk_stops import walk_stop_details
    from layers.walks import load_walk, previous_open_constats, walk_observations

    store = open_cli_store(ctx)
    try:
        plan = load_walk(store, uid)
        follow = previous_open_constats(store, uid)
        obs = walk_observations(store, uid)
        details = walk_stop_details(store, plan.route)  # the address and facts of the page and the sheet
    finally:
        store.close()
    rec = plan.record or {}
    r = plan.route
    click.echo(f"{plan.name}  [{plan.uid}]\n  quartier {plan.quartier}, {plan.walk_date:%d/%m/%Y %H:%M}, "
               f"statut « {plan.status} »")
    click.echo(f"  {len(r.stops)} arrêts, {r.length_m / 1000:.2f} km, {_minutes(r.duration_min)} "
               f"pour {_minutes(r.budget_min)} ; départ : {plan.start_label}")
    if rec.get("organisations"):
        click.echo(f"  participants : {rec['organisations']} ; habitants : {rec.get('n_habitants')}")
    for _, s in details.iterrows():
        click.echo(f"  {int(s['order']):>3}. {s['label']}  — {s['reason']}")
        click.echo(f"       {s['address'] or 'adresse inconnue'} ({s['address_source']})")
        for fact in s["checks"]:
            click.echo(f"       {fact}")
        for _, o in follow[follow["stop_rank"] == s["order"]].iterrows():
            click.echo(f"       suivi : « {o['theme']} » du {str(o['observed_at'])[:10]} ({o['status']}, "
                       f"{o['walk_name']})")
    click.echo(f"  {len(obs)} constat(s) relevé(s) pendant ce diagnostic.")


@diagnostic_group.command("realise")
@click.argument("uid")
@click.option("--participants", required=True, help="Organisations présentes, séparées par des virgules.")
@click.option("--habitants", type=click.IntRange(min=0), required=True, help="Nombre d'habitants.")
@click.option("--constats", "constats", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Fichier GeoJSON des constats du diagnostic.")
@click.option("--notes", default=None, help="Notes du diagnostic.")
@click.pass_context
def diag_done(ctx: click.Context, uid: str, participants: str, habitants: int, constats: Path | None,
              notes: str | None) -> None:
    """Marque un diagnostic comme réalisé (participants, habitants, constats)."""
    import geopandas as gpd

    from layers.walks import record_walk

    obs = gpd.read_file(constats) if constats else None
    store = open_cli_store(ctx)
    try:
        result = record_walk(store, uid, participants=participants, n_habitants=habitants,
                             observations=obs, notes=notes)
    finally:
        store.close()
    click.echo(f"Diagnostic {uid} réalisé ; {result.n_inserted} constat(s) ajouté(s), "
               f"{result.n_existing} déjà présent(s).")


@diagnostic_group.command("compte-rendu")
@click.argument("uid")
@click.option("--sortie", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Dossier du compte-rendu (HTML et PDF).")
@click.option("--sans-pdf", "no_pdf", is_flag=True, help="HTML seulement.")
@click.pass_context
def diag_report(ctx: click.Context, uid: str, out: Path, no_pdf: bool) -> None:
    """Écrit le compte-rendu (plan d'actions, constats par pilote, partenaire et domanialité, avec délais)."""
    from layers.walk_actions import walk_action_plan
    from layers.walks import walk_report_data
    from webmap.documents import render_walk_report_html, write_document

    store = open_cli_store(ctx)
    try:
        record, observations, graph = walk_report_data(store, uid)
        plan = walk_action_plan(store, uid, constats=observations)
    finally:
        store.close()
    html = render_walk_report_html(record, observations, G=graph, plan=plan)
    for p in write_document(html, out, f"compte-rendu-{uid[:8]}", pdf=not no_pdf):
        click.echo(f"Compte-rendu : {p}")


def register(group: click.Group) -> None:
    """Add ``route`` and ``diagnostic`` to the ``qpv`` command group."""
    group.add_command(route_cmd)
    group.add_command(diagnostic_group)
