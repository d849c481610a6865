"""``qpv rues …``, ``qpv localiser``, ``qpv rapport`` and ``qpv analyse …``.

Street lists (parse, compile into a stored perimeter, reverse), QPV lookups of an
address, a point or a CSV file, quartier and territory reports, and hot spot analyses
stored as a derived layer for the web map. Registered on the main group by
:func:`register`.
"""

from __future__ import annotations

import logging
import re
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from webmap.cli._common import open_cli_store
from webmap.errors import CliInputError

logger = logging.getLogger(__name__)

#: Theme of ``qpv rapport`` when none is given; other themes are named in the file names.
DEFAULT_THEME = "dépôts sauvages"


def _slug(text: str) -> str:
    """File-name form of a theme: « Objets abandonnés » → ``objets-abandonnes``."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or "theme"


# --------------------------------------------------------------------------- qpv rues


@click.group("rues")
def rues_group() -> None:
    """Listes de rues des périmètres : lecture, compilation, liste inverse."""


@rues_group.command("lire")
@click.argument("fichier", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--commune", default=None, help="Commune des rues (lue dans le titre sinon).")
@click.option("--qpv", "qpv", default=None, help="Code du QPV (lu dans le texte sinon).")
@click.option("-o", "--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier de règles à écrire (.yaml ou .csv).")
@click.option("--enregistrer", "save", is_flag=True,
              help="Enregistre aussi la liste dans l'entrepôt (périmètre connu par sa liste de rues).")
@click.option("--nom", default=None, help="Nom du périmètre enregistré (lu dans le texte sinon).")
@click.pass_context
def rues_parse(ctx: click.Context, fichier: Path, commune: str | None, qpv: str | None, output: Path | None,
               save: bool, nom: str | None) -> None:
    """Lit la liste de rues FICHIER (texte, OCR accepté) et écrit les règles."""
    from geo.perimeters.streetlist import parse_street_list, write_rules

    text = _read_text(fichier)
    parsed = parse_street_list(text, commune=commune, qpv=qpv)
    rules = parsed.rules
    cutoffs = [r for r in rules if r.from_number is not None or r.to_number is not None]
    parcels = [r for r in rules if r.parcel]
    click.echo(f"QPV : {parsed.qpv or '(non indiqué)'} {parsed.name}".rstrip())
    click.echo(f"Commune : {parsed.commune or '(non indiquée)'}")
    click.echo(f"{len(parsed.streets)} voies, {len(rules)} règles ; {len(parsed.partial_streets)} voies en "
               f"partie ; {len(cutoffs)} numéros de coupure ; {len(parcels)} parcelles citées.")
    for r in cutoffs:
        bounds = " – ".join(
            x for x in (f"à partir du n° {r.from_number}" if r.from_number is not None else "",
                        f"jusqu'au n° {r.to_number}" if r.to_number is not None else "") if x)
        parcel = f" (parcelle {r.parcel})" if r.parcel else ""
        click.echo(f"  {r.street} : {bounds}{parcel}")
    for w in parsed.warnings:
        click.secho(f"Attention : {w}", fg="yellow", err=True)
    if output is not None:
        write_rules(rules, output)
        click.echo(f"Règles écrites dans {output}")
    if save:
        _save_list(ctx, rules, code=qpv or parsed.qpv, name=nom or parsed.name,
                   commune=commune or parsed.commune, source=fichier.name)


def _save_list(ctx: click.Context, rules: list[Any], *, code: str | None, name: str | None,
               commune: str | None, source: str, geography: str = "2015") -> None:
    from layers.perimeters import PerimeterSpec, save_street_list

    if not code:
        raise CliInputError("Code du périmètre introuvable dans la liste : précisez --qpv (ou --code).")
    store = open_cli_store(ctx)
    try:
        spec = PerimeterSpec(code=code, name=name or code, commune=commune or None, geography=geography)
        saved = save_street_list(store, rules, source=source, perimeter=spec)
    finally:
        store.close()
    click.echo(f"Liste de rues de {saved.code} « {saved.name} » ({saved.commune}) enregistrée dans "
               f"l'entrepôt : {saved.n_rules} règles. « qpv localiser » y répond désormais.")


@rues_group.command("enregistrer")
@click.argument("fichier", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--code", "--qpv", "code", default=None, help="Code du périmètre (lu dans la liste sinon).")
@click.option("--nom", default=None, help="Nom du périmètre (lu dans la liste sinon).")
@click.option("--commune", default=None, help="Commune des rues (lue dans la liste sinon).")
@click.option("--geographie", type=click.Choice(["2015", "2024"]), default="2015", show_default=True)
@click.pass_context
def rues_save(ctx: click.Context, fichier: Path, code: str | None, nom: str | None, commune: str | None,
              geographie: str) -> None:
    """Enregistre dans l'entrepôt le périmètre défini par la liste de rues FICHIER (texte, .yaml ou .csv)."""
    from geo.perimeters.streetlist import parse_street_list, read_rules

    if fichier.suffix.lower() in (".yaml", ".yml", ".csv"):
        rules = read_rules(fichier)
        codes = {r.qpv for r in rules if r.qpv}
        communes = {r.commune for r in rules if r.commune}
        code = code or (codes.pop() if len(codes) == 1 else None)
        commune = commune or (communes.pop() if len(communes) == 1 else None)
    else:
        parsed = parse_street_list(_read_text(fichier), commune=commune, qpv=code)
        rules, code, nom = parsed.rules, code or parsed.qpv, nom or parsed.name
        commune = commune or parsed.commune
    _save_list(ctx, rules, code=code, name=nom, commune=commune, source=fichier.name, geography=geographie)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CliInputError(f"Fichier {path} illisible (ni UTF-8 ni Windows-1252).")


@rues_group.command("compiler")
@click.argument("regles", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.option("--code", required=True, help="Code du périmètre (QP…, QN… ou code local).")
@click.option("--nom", default=None, help="Nom du périmètre (celui de la liste enregistrée sinon).")
@click.option("--commune", default=None, help="Commune des adresses utilisées (toutes sinon).")
@click.option("--geographie", type=click.Choice(["2015", "2024"]), default="2015", show_default=True)
@click.option("--type", "kind", type=click.Choice(["qpv", "veille active", "quartier"]), default="qpv",
              show_default=True)
@click.option("--remplacer", is_flag=True, help="Remplace un périmètre déjà compilé sous ce code.")
@click.pass_context
def rues_compile(ctx: click.Context, regles: Path | None, code: str, nom: str | None, commune: str | None,
                 geographie: str, kind: str, remplacer: bool) -> None:
    """Construit le périmètre des règles REGLES (ou de la liste enregistrée) avec les adresses."""
    from geo.perimeters.streetlist import read_rules
    from layers.perimeters import PerimeterSpec, compile_to_store, stored_rules, street_list_perimeters

    store = open_cli_store(ctx)
    try:
        if regles is not None:
            rules = read_rules(regles)
        else:
            rules = stored_rules(store, [code])
            if not rules:
                raise CliInputError(f"Aucune liste de rues enregistrée sous {code} : donnez le fichier "
                                    "REGLES.")
        saved = street_list_perimeters(store).get(code)
        nom = nom or (saved.name if saved else None)
        if not nom:
            raise CliInputError("Indiquez le nom du périmètre avec --nom.")
        commune = commune or (saved.commune if saved else None)
        uid = compile_to_store(store, rules, perimeter=PerimeterSpec(code=code, name=nom, commune=commune,
                                                                     geography=geographie, kind=kind),
                               replace_existing=remplacer)
        row = store.get("perimetres", uid)
    finally:
        store.close()
    area = float(row.geometry.area.iat[0]) / 10_000
    click.echo(f"Périmètre {code} « {nom} » enregistré ({area:.1f} ha, géographie {geographie}).")
    click.echo(f"Source : {row['source'].iat[0]}")


@rues_group.command("inverser")
@click.argument("code")
@click.option("-o", "--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Liste de rues à écrire (texte).")
@click.option("--regles", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Écrit aussi les règles (.yaml ou .csv).")
@click.option("--commune", default=None, help="Commune des adresses utilisées.")
@click.pass_context
def rues_inverse(ctx: click.Context, code: str, output: Path | None, regles: Path | None,
                 commune: str | None) -> None:
    """Écrit la liste des rues du périmètre CODE, déduite des adresses de l'entrepôt."""
    from geo.perimeters.streetlist import write_rules
    from layers.perimeters import reverse_from_store

    store = open_cli_store(ctx)
    try:
        rules, text = reverse_from_store(store, code, commune=commune)
    finally:
        store.close()
    if output is None:
        click.echo(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        click.echo(f"{len(rules)} règles ({len({r.street for r in rules})} voies) écrites dans {output}")
    if regles is not None:
        write_rules(rules, regles)
        click.echo(f"Règles écrites dans {regles}")


# --------------------------------------------------------------------------- qpv localiser


def _parse_point(text: str) -> tuple[float, float]:
    try:
        lon_s, lat_s = text.replace(";", ",").split(",")
        lon, lat = float(lon_s), float(lat_s)
    except ValueError:
        raise CliInputError(f"Point « {text} » illisible : attendu LON,LAT (ex. 3.83,43.62).") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise CliInputError(f"Point « {text} » hors des coordonnées WGS84 (longitude, latitude).")
    return lon, lat


def _score_fr(score: float) -> str:
    return f"{score:.2f}".replace(".", ",")


def _print_result(result: Any) -> None:
    from layers.perimeters import REASON_FR, STATUS_FR, agreement, lonlat

    click.echo(f"Statut : {STATUS_FR.get(result.status, result.status)}")
    if result.code:
        click.echo(f"QPV : {result.code} « {result.name} » (géographie {result.geography or '?'})")
    if result.match:
        quality = "exacte" if not result.approximate else "approchée" + (
            f" : {result.match_note.split(' | ')[0]}" if result.match_note else "")
        score = f", score {_score_fr(result.score)}" if result.score == result.score else ""
        click.echo(f"Adresse trouvée : {result.match} ({quality}{score})")
    ll = lonlat(result.x, result.y)
    if ll is not None:
        click.echo(f"Coordonnées : {ll[0]:.6f}, {ll[1]:.6f} (longitude, latitude WGS84)")
    notes = [n for n in result.match_note.split(" | ") if n]
    if result.match and result.approximate and notes:
        notes = notes[1:]  # the first one is shown with the address
    for note in notes:
        click.echo(f"Remarque : {note}")
    if result.reason:
        click.echo(f"Motif : {REASON_FR.get(result.reason, result.reason)}")
    both = agreement(result)
    if both:
        click.echo(f"Sources : {both}")
    if result.disagree:
        click.secho("Désaccord : le polygone et la liste des rues ne concordent pas.", fg="yellow")
    if result.distance_m == result.distance_m:
        click.echo(f"Distance à la limite du périmètre : {result.distance_m:.0f} m")
    click.echo(f"Détail : {result.detail}")


def _lookup_csv(index: Any, path: Path, output: Path, *, address_column: str | None, lon: str | None,
                lat: str | None, commune: str | None) -> dict[str, int]:
    from tqdm import tqdm

    from webmap.cli._lookup_csv import detect_columns, lookup_csv, read_header, sniff_csv

    source = sniff_csv(path)
    columns = detect_columns(read_header(source), address=address_column, lon=lon, lat=lat, source=path.name)
    parts = [f"adresse : « {columns.address} »" if columns.address else "",
             f"coordonnées : « {columns.lon} » / « {columns.lat} »" if columns.lon else ""]
    used = " et ".join(x for x in parts if x)
    click.echo(f"Colonnes utilisées — {used}.")
    with tqdm(total=path.stat().st_size, desc=f"Recherche QPV {path.name}", unit="o", unit_scale=True,
              disable=None, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        return lookup_csv(index, source, output, columns=columns, commune=commune, progress=progress)


@click.command("localiser")
@click.argument("adresse", required=False)
@click.option("--point", default=None, help="Point LON,LAT en WGS84 (ex. 3.83,43.62).")
@click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Fichier CSV à traiter en lot.")
@click.option("-o", "--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV de sortie (colonnes qpv_* ajoutées ; séparateur et encodage de l'entrée).")
@click.option("--colonne-adresse", "address_column", default=None,
              help="Colonne d'adresse du CSV (reconnue sinon : adresse, address, libelle…).")
@click.option("--lon", default=None, help="Colonne de longitude du CSV (reconnue sinon : lon, longitude…).")
@click.option("--lat", default=None, help="Colonne de latitude du CSV (reconnue sinon : lat, latitude, y…).")
@click.option("--commune", default=None, help="Commune à supposer quand l'adresse n'en donne pas.")
@click.option("--regles", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Règles de rues supplémentaires (.yaml ou .csv).")
@click.option("--geographie", type=click.Choice(["2015", "2024"]), default=None,
              help="Seulement les périmètres de cette géographie.")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON (adresse ou point).")
@click.pass_context
def lookup_cmd(ctx: click.Context, adresse: str | None, point: str | None, csv_path: Path | None,
               output: Path | None, address_column: str | None, lon: str | None, lat: str | None,
               commune: str | None, regles: Path | None, geographie: str | None, as_json: bool) -> None:
    """Dit dans quel QPV se trouve une ADRESSE, un point (--point) ou chaque ligne d'un CSV (--csv)."""
    import json

    from geo.perimeters.streetlist import read_rules
    from layers.perimeters import lookup_from_store, lookup_index_from_store, result_dict

    if sum(x is not None for x in (adresse, point, csv_path)) != 1:
        raise CliInputError("Donnez une adresse, ou --point LON,LAT, ou --csv FICHIER (un seul des trois).")
    if csv_path is not None and output is None:
        raise CliInputError("Indiquez le fichier de sortie avec -o.")
    rules = read_rules(regles) if regles else None
    store = open_cli_store(ctx)
    try:
        index = lookup_index_from_store(store, rules=rules, geography=geographie,
                                        addresses=point is None or csv_path is not None)
    finally:
        store.close()
    if csv_path is not None and output is not None:
        counts = _lookup_csv(index, csv_path, output, address_column=address_column, lon=lon, lat=lat,
                             commune=commune)
        summary = ", ".join(f"{int(n)} {k}" for k, n in counts.items())
        click.echo(f"{sum(counts.values())} lignes : {summary}. Résultat : {output}")
        return
    if point is not None:
        x, y = _parse_point(point)
        result = lookup_from_store(index, lon=x, lat=y)
    else:
        result = lookup_from_store(index, address=adresse, commune=commune)
    if as_json:
        click.echo(json.dumps(result_dict(result), ensure_ascii=False, indent=2))
    else:
        _print_result(result)


# --------------------------------------------------------------------------- qpv couverture


@click.command("couverture")
@click.argument("jeu")
@click.argument("fichier", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=False)
@click.pass_context
def coverage_cmd(ctx: click.Context, jeu: str, fichier: Path | None) -> None:
    """Zone où le jeu de données JEU peut signaler (polygone WKT en Lambert-93, EPSG:2154).

    Avec FICHIER, la déclare : les mailles des points chauds hors de cette zone sont exclues
    (absentes, pas des zéros). Sans FICHIER, affiche la zone déclarée. Sans déclaration, un
    rapport prend l'étendue des événements du jeu et le dit.
    """
    from layers.source_coverage import declare_coverage, declared_coverage

    store = open_cli_store(ctx)
    try:
        if fichier is None:
            geom = declared_coverage(store, jeu)
            click.echo(f"Jeu « {jeu} » : aucune zone de couverture déclarée." if geom is None else
                       f"Jeu « {jeu} » : zone de couverture de {_km2(geom.area)} km².")
            return
        try:
            geom = declare_coverage(store, jeu, fichier.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="FICHIER") from exc
    finally:
        store.close()
    click.echo(f"Jeu « {jeu} » : zone de couverture déclarée ({_km2(geom.area)} km²).")


def _km2(area_m2: float) -> str:
    """Return an area in km², French decimal comma."""
    return f"{area_m2 / 1e6:.1f}".replace(".", ",")


# --------------------------------------------------------------------------- qpv rapport


@click.command("rapport")
@click.option("--quartier", default=None, help="Code du quartier (périmètre de l'entrepôt).")
@click.option("--territoire", is_flag=True, help="Rapport du territoire comparant les quartiers.")
@click.option("--periode", "period", required=True, help="Période AAAA-MM:AAAA-MM.")
@click.option("--couche", type=click.Choice(["auto", "observations", "points_noirs"]), default="auto",
              show_default=True,
              help="Événements analysés (auto : points noirs s'il y en a, sinon constats).")
@click.option("--theme", default=DEFAULT_THEME, show_default=True, help="Thème des constats analysés.")
@click.option("--commune", default=None, help="Territoire : seulement les quartiers de cette commune.")
@click.option("--sortie", "output_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dossier des rapports (par défaut var/rapports).")
@click.option("--pdf/--sans-pdf", "pdf", default=True, show_default=True, help="Écrit aussi le PDF.")
@click.option("--archiver", "file_it", is_flag=True,
              help="Range aussi le rapport et ses paramètres dans l'espace de fichiers de l'entrepôt "
                   "(historique de la page /rapports).")
@click.option("--par", "actor", default=None, help="Avec --archiver : qui demande le rapport (login).")
@click.option("--inference", type=click.Choice(["analytique", "permutations"]), default="analytique",
              show_default=True,
              help="Quartier : p-valeurs des classes Gi* (loi normale, ou permutations conditionnelles).")
@click.option("--permutations", type=click.IntRange(min=99), default=999, show_default=True,
              help="Nombre de permutations (inférence par permutations, I de Moran local).")
@click.option("--moran-local", "local_moran", is_flag=True,
              help="Quartier : ajoute les classes du I de Moran local (haut-haut, bas-bas, haut-bas, "
                   "bas-haut).")
@click.pass_context
def report_cmd(ctx: click.Context, quartier: str | None, territoire: bool, period: str, couche: str,
               theme: str, commune: str | None, output_dir: Path | None, pdf: bool, file_it: bool,
               actor: str | None, inference: str, permutations: int, local_moran: bool) -> None:
    """Rapport d'un quartier (--quartier CODE) ou du territoire (--territoire), en HTML et PDF.

    Avec --archiver, le rapport est aussi rangé dans l'espace de fichiers de l'entrepôt
    (QPV_FILES_DIR, sinon <entrepôt>.fichiers/ à côté d'un GeoPackage), où la page /rapports
    le liste avec ses paramètres.
    """
    from geo.stats.report import HotspotSettings, for_reader
    from layers.analyses import (
        REPORT_GRID,
        parse_period,
        quartier_report_from_store,
        territory_report_from_store,
    )
    from webmap._report_archive import store_revision
    from webmap._report_readers import restricted_readers
    from webmap.documents import write_report

    if bool(quartier) == territoire:
        raise CliInputError("Choisissez --quartier CODE ou --territoire.")
    start, end = parse_period(period)
    folder = output_dir or ctx.obj["settings"].reports_dir
    asked = datetime.now(UTC).replace(microsecond=0).isoformat()
    store = open_cli_store(ctx)
    try:
        revision = store_revision(store, ctx.obj["store_url"])
        if quartier:
            stats = HotspotSettings(margin=REPORT_GRID.margin, inference=inference, permutations=permutations,
                                    local_moran=local_moran)
            report = quartier_report_from_store(store, quartier, start=start, end=end, layer=couche,
                                                theme=theme or None, grid=stats)
            stem = f"rapport-{quartier}-{start:%Y%m}-{end:%Y%m}"
        else:
            layer = "observations" if couche == "auto" else couche
            report = territory_report_from_store(store, start=start, end=end, layer=layer,
                                                 theme=theme or None, commune=commune)
            stem = f"rapport-territoire{'-' + commune if commune else ''}-{start:%Y%m}-{end:%Y%m}"
    finally:
        store.close()
    if theme and theme != DEFAULT_THEME:
        stem += "-" + _slug(theme)  # two themes of one period must not overwrite each other
    # the command line reads every layer: the full version, its confidential sections marked
    report = for_reader(report, None, readers=restricted_readers())
    paths = write_report(report, folder, stem, pdf=pdf)
    _echo_report(report)
    click.echo(f"HTML : {paths[0]}")
    if pdf:
        click.echo(f"PDF : {paths[1]}")
    tables = paths[1 + int(pdf):]
    if tables:
        click.echo(f"Tableaux : {len(tables) - 1} CSV (UTF-8 avec BOM, séparateur « ; ») et {tables[-1]}")
    if file_it:
        _file(ctx, paths, report, {"quartier": quartier, "territoire": territoire, "periode": period,
                                   "couche": couche, "theme": theme, "commune": commune, "pdf": pdf},
              actor=actor, asked=asked, revision=revision)


def _file(ctx: click.Context, paths: list[Path], report: Any, params: dict[str, Any], *, actor: str | None,
          asked: str, revision: str | None) -> None:
    """File the report of ``qpv rapport --archiver`` in the store's files area."""
    from geo.stats.report import restricted_layers
    from layers.settings import REPO_ROOT, store_files_dir
    from webmap._report_archive import file_report
    from webmap.jobs.kinds import report_read_layers

    # the web app's instance folder: QPV_INSTANCE_PATH, else Flask's default beside the package
    instance = ctx.obj["settings"].instance_path or REPO_ROOT / "instance"
    area = store_files_dir(ctx.obj["store_url"], instance=instance)
    # every layer the report read (its camera figures too): a role that cannot see one cannot open it
    layers = list(dict.fromkeys([*report_read_layers(params), *restricted_layers(report)]))
    filed = file_report(area, paths, {
        "type": "rapport", "titre": report.title, **params, "couches": layers,
        "demande_par": actor or "ligne de commande", "organisation": None, "demande_le": asked,
        "travail": None, "revision_entrepot": revision, "notes": list(report.notes)})
    click.echo(f"Archivé : {filed.folder}")


def _echo_report(report: Any) -> None:
    """Print the title, notes and key figures of a report, then its sections' figures."""
    from geo.stats.report import RESTRICTED_MARK

    click.echo(report.title)
    for note in report.notes:
        click.echo(f"  {note}")
    for label, value in report.key_figures.items():
        click.echo(f"  {label} : {_fmt(value, share=label.startswith('Part'))}")
    for section in report.sections:
        if section.restricted is None:
            continue
        if section.withheld:
            click.echo(f"  {section.notes[0]}")
            continue
        click.echo(f"  [{RESTRICTED_MARK}] {section.title}")
        for label, value, _detail in section.figures:
            click.echo(f"  {label} : {_fmt(value, share=label.startswith('Part'))}")


def _fmt(value: Any, *, share: bool = False) -> str:
    """French display of a key figure: « n.d. » when not computed, « > 45,0 » for an unreached delay."""
    from geo.french import grouped
    from geo.stats.indicators import AtLeast  # scipy: imported by the report command only

    if value is None:
        return "n.d."
    if isinstance(value, AtLeast):
        return "> " + _fmt(value.days)
    if isinstance(value, float):
        if value != value:
            return "n.d."
        if share:
            return f"{100 * value:.1f}".replace(".", ",") + "\u202f%"
        return grouped(value, 1)
    if isinstance(value, int) and not isinstance(value, bool):
        return grouped(value)
    return str(value)


# --------------------------------------------------------------------------- qpv analyse


@click.group("analyse")
def analyse_group() -> None:
    """Analyses enregistrées comme couches dérivées (affichées sur la carte)."""


@analyse_group.command("points-chauds")
@click.option("--couche", type=click.Choice(["observations", "points_noirs"]), default="observations",
              show_default=True, help="Événements analysés.")
@click.option("--theme", default=None, help="Thème des constats (ex. « dépôts sauvages »).")
@click.option("--quartier", default=None, help="Un seul quartier (tous sinon).")
@click.option("--periode", "period", required=True, help="Période AAAA-MM:AAAA-MM.")
@click.option("--maille", "bin_size", type=float, default=None, help="Taille des mailles en mètres.")
@click.option("--marge", "margin", type=float, default=200.0, show_default=True,
              help="Marge autour du périmètre (m).")
@click.option("--sans-fdr", "no_fdr", is_flag=True, help="Sans correction des tests multiples (FDR).")
@click.pass_context
def hotspots_cmd(ctx: click.Context, couche: str, theme: str | None, quartier: str | None, period: str,
                 bin_size: float | None, margin: float, no_fdr: bool) -> None:
    """Points chauds (Gi*) et, sur 6 mois ou plus, points chauds émergents ; résultats enregistrés."""
    from layers.analyses import EMERGING_MIN_MONTHS, HotspotRequest, parse_period, store_hotspots

    start, end = parse_period(period)
    store = open_cli_store(ctx)
    try:
        run = store_hotspots(store, HotspotRequest(start=start, end=end, layer=couche, theme=theme,
                                                   quartier=quartier, bin_size=bin_size, margin=margin,
                                                   fdr=not no_fdr))
    finally:
        store.close()
    click.echo(f"Analyse {run.run_id} : {run.n_events} événements, {run.n_bins} mailles, "
               f"{run.n_hot} points chauds, {run.n_cold} points froids.")
    if run.n_emerging:
        patterns = ", ".join(f"{k} : {v}" for k, v in sorted(run.patterns.items()))
        click.echo(f"Points chauds émergents : {run.n_emerging} mailles ({patterns}).")
    else:
        click.echo(f"Points chauds émergents non calculés (période de moins de {EMERGING_MIN_MONTHS} mois "
                   "ou trop peu de données).")
    if run.replaced:
        click.echo(f"Le calcul précédent ({run.replaced} enregistrements) a été remplacé.")
    for code, n in run.counts.items():
        click.echo(f"  {code:<12} {int(n):>7} événements")
    click.echo("Résultats dans la couche « analyses » (visible sur la carte).")


def register(group: click.Group) -> None:
    """Add the commands of this module to the ``qpv`` group."""
    group.add_command(rues_group)
    group.add_command(lookup_cmd)
    group.add_command(report_cmd)
    group.add_command(coverage_cmd)
    group.add_command(analyse_group)
