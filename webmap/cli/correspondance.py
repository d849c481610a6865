"""``qpv correspondance proposer``, ``qpv couches champs`` and the summary ``qpv importer`` prints."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from webmap.cli._common import CONTEXT_SETTINGS

if TYPE_CHECKING:
    from layers.importer import ImportReport

logger = logging.getLogger(__name__)

#: Exit status of ``qpv importer`` when every row was rejected (1 is an error, 2 a usage error).
EXIT_NOTHING_IMPORTED = 3
HINT = ("essayez `-m CORRESPONDANCE` (qpv correspondances) ou "
        "`qpv correspondance proposer FICHIER COUCHE -o m.yaml` puis `-m m.yaml`")
TYPES = {"str": "texte", "int": "entier", "float": "nombre", "bool": "oui/non", "date": "date",
         "datetime": "date et heure", "json": "JSON"}


def print_import_report(report: ImportReport) -> None:
    """Print what an import did: counts, recognised layout, unused columns, top reject reasons."""
    s = report.summary()
    if report.message:
        click.echo(report.message)
    click.echo(f"{s['lues']} lignes lues : {s['ajoutees']} ajoutées, {s['deja_presentes']} déjà "
               f"présentes, {s['rejetees']} rejetées, {s['reparees']} géométries réparées.")
    if report.layout:
        click.echo(f"Format reconnu sans correspondance : {report.layout}.")
    if report.unused_columns:
        click.echo(f"Colonnes du fichier non utilisées : {', '.join(report.unused_columns)}.")
    reasons = report.top_reasons(3)
    if reasons:
        click.echo("Motifs de rejet les plus fréquents :")
        for reason, count in reasons:
            click.echo(f"  {count:>7} ligne(s) : {reason}")
    if report.nothing_imported:
        click.secho(f"Aucune ligne importée : toutes ont été rejetées ; {HINT}.", fg="yellow", err=True)
    if report.report_path:
        label = "Rapport des rejets" if s["rejetees"] else "Rapport de l'import (aucun rejet)"
        click.echo(f"{label} : {report.report_path}")


@click.command("champs")
@click.argument("layer", metavar="COUCHE")
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def fields_cmd(layer: str, as_json: bool) -> None:
    """Liste les champs de COUCHE : libellé, type, obligatoire, valeurs permises."""
    from layers.schema import SYSTEM_FIELD_NAMES, get_schema

    schema = get_schema(layer)
    rows: list[dict[str, Any]] = [{"champ": f.name, "libellé": f.label, "type": TYPES.get(f.type, f.type),
             "obligatoire": f.required, "par_défaut": f.default,
             "valeurs": list(f.choices) if f.choices else None,
             "bornes": [f.minimum, f.maximum] if f.minimum is not None or f.maximum is not None else None,
             "format": f.pattern}
            for f in schema.fields if f.name not in SYSTEM_FIELD_NAMES]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    geometry = {"Point": "point", "LineString": "ligne", "MultiPolygon": "polygone",
                "Geometry": "toute géométrie", None: "aucune"}[schema.geometry]
    click.echo(f"{schema.name} — {schema.label} (géométrie : {geometry})")
    for r in rows:
        need = "obligatoire" if r["obligatoire"] else "facultatif"
        extra = f", par défaut « {r['par_défaut']} »" if r["par_défaut"] not in (None, False) else ""
        click.echo(f"  {r['champ']:<16} {r['libellé']} — {r['type']}, {need}{extra}")
        if r["valeurs"]:
            click.echo(f"  {'':<16} valeurs : {', '.join(r['valeurs'])}")
        if r["bornes"]:
            low, high = r["bornes"]
            low_text = "…" if low is None else f"{low:g}"
            high_text = "…" if high is None else f"{high:g}"
            click.echo(f"  {'':<16} entre {low_text} et {high_text}")
        if r["format"]:
            click.echo(f"  {'':<16} format : {r['format']}")
    click.echo("Plus un identifiant source facultatif (« id » de la correspondance). "
               "Guide : docs/correspondances.md")


@click.group("correspondance", context_settings=CONTEXT_SETTINGS)
def mapping_group() -> None:
    """Prépare une correspondance des champs pour un fichier (voir docs/correspondances.md)."""


@mapping_group.command("proposer")
@click.argument("file", metavar="FICHIER", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("layer", metavar="COUCHE")
@click.option("-o", "--sortie", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier YAML à écrire (par défaut : affiché).")
def propose_cmd(file: Path, layer: str, output: Path | None) -> None:
    """Propose un brouillon de correspondance de FICHIER vers COUCHE.

    Les colonnes sont rapprochées des champs par leur nom, le libellé français et des
    synonymes usuels ; pour chaque champ à valeurs permises, chaque valeur du fichier reçoit
    une valeur proposée ou TODO. Remplacez chaque TODO puis importez avec -m FICHIER.yaml.
    """
    from layers.propose import propose_mapping

    proposal = propose_mapping(file, layer)
    text = proposal.to_yaml()
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"Brouillon écrit dans {output}.")
    if proposal.layout:
        click.echo(f"Format reconnu : {proposal.layout} (l'import sans -m le reconnaît aussi).", err=True)
    todo = proposal.todo
    if todo:
        click.echo(f"Il reste {len(todo)} décision(s) à prendre (TODO) :", err=True)
        for item in todo:
            click.echo(f"  - {item}", err=True)
    else:
        click.echo(f"Prêt : qpv importer {proposal.layer} {file} -m {output or 'FICHIER.yaml'}", err=True)


def register(group: click.Group) -> None:
    """Add ``correspondance`` to ``qpv`` and ``champs`` to its ``couches`` group."""
    group.add_command(mapping_group)
    layers_group = group.commands.get("couches")
    if isinstance(layers_group, click.Group):
        layers_group.add_command(fields_cmd)
