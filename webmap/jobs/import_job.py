"""The « import » job: ``qpv importer`` run by the queue on a file uploaded on ``/admin/imports``.

Parameters: ``fichier`` (``<dossier>/<nom>`` in the uploads folder of the queue,
:data:`UPLOADS_DIRNAME` beside the jobs' folders), ``couche``, ``correspondance`` (a mapping
as a dictionary — what the page built from the person's choices —, the name of a mapping of
``data/mappings`` or « proposée ») and ``strict``. The job runs :func:`layers.importer.import_file`
as the CLI does: all or nothing, a re-import adds nothing, every row stored or listed in the
reject report, written as CSV (and the summary as JSON) in the job's folder.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from layers.errors import MappingError
from layers.importer import ImportOptions, import_file
from layers.imports import PROPOSED, mapping_names, reject_lines
from layers.mapping import parse_mapping
from layers.propose import propose_mapping
from layers.schema import LAYERS
from layers.settings import get_settings
from layers.store import open_store
from webmap.errors import JobError
from webmap.jobs.kinds import JobContext, JobKind, register

logger = logging.getLogger(__name__)

#: Folder of the uploaded files, in the folder of the jobs' files.
UPLOADS_DIRNAME = "televersements"
#: ``<hex folder>/<safe name>`` of an uploaded file.
UPLOAD_REF = re.compile(r"[0-9a-f]{32}/[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Layers written by the platform itself, never imported from a file.
NOT_IMPORTABLE = frozenset({"analyses", "diagnostics"})
#: Percent reached at each stage the importer announces.
STAGES = {"lecture": (5, "Lecture du fichier"), "correspondance": (25, "Application de la correspondance"),
          "géométrie": (40, "Contrôle des coordonnées"), "validation": (60, "Validation des champs"),
          "enregistrement": (75, "Enregistrement dans l'entrepôt (tout ou rien)")}
#: Most reject lines kept in the job's result (the CSV holds them all).
MAX_REJECTS = 500


def importable_layers() -> list[str]:
    """Layers a file may be imported into."""
    return [name for name in LAYERS if name not in NOT_IMPORTABLE]


def upload_path(files_dir: Path, ref: str) -> Path:
    """Path of the uploaded file ``ref`` (``<dossier>/<nom>``) under the jobs' folder ``files_dir``."""
    if not UPLOAD_REF.fullmatch(ref):
        raise JobError(f"Fichier téléversé « {ref[:80]} » invalide.")
    return files_dir / UPLOADS_DIRNAME / ref


def validate_import(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of an import (French :class:`JobError` naming the parameter)."""
    ref = params.get("fichier")
    if not isinstance(ref, str) or not UPLOAD_REF.fullmatch(ref):
        raise JobError("Paramètre « fichier » : référence d'un fichier téléversé sur /admin/imports "
                       "attendue.")
    layer = params.get("couche")
    if layer not in importable_layers():
        raise JobError(f"Paramètre « couche » : une de {', '.join(importable_layers())} attendue.")
    mapping = params.get("correspondance", PROPOSED)
    if isinstance(mapping, dict):
        try:
            parsed = parse_mapping(mapping, where="Paramètre « correspondance »")
        except MappingError as exc:
            raise JobError(str(exc)) from exc
        if parsed.layer != layer:
            raise JobError(f"Paramètre « correspondance » : elle est pour la couche « {parsed.layer} », "
                           f"pas « {layer} ».")
    elif mapping != PROPOSED and mapping not in mapping_names(str(layer)):
        raise JobError(f"Paramètre « correspondance » : « {mapping} » inconnue pour « {layer} » ; "
                       f"{', '.join([PROPOSED, *mapping_names(str(layer))])} ou un dictionnaire attendu.")
    strict = params.get("strict", False)
    if not isinstance(strict, bool):
        raise JobError("Paramètre « strict » : vrai ou faux attendu.")
    return {"fichier": ref, "couche": layer, "correspondance": mapping, "strict": strict}


def _mapping(params: dict[str, Any], path: Path) -> Any:
    mapping = params["correspondance"]
    if isinstance(mapping, dict):
        return parse_mapping(mapping, where="Correspondance")
    if mapping == PROPOSED:  # the proposal must be complete: its « TODO » refuse the import
        return parse_mapping(propose_mapping(path, params["couche"]).data, where="Correspondance proposée")
    return mapping


def run_import(params: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Import the uploaded file as ``qpv importer`` does; reject report in the job's folder."""
    path = upload_path(context.folder.parent, params["fichier"])
    if not path.is_file():
        raise JobError("Fichier téléversé introuvable sur le serveur (supprimé après 24 h ?) : "
                       "téléversez-le de nouveau.")
    progress = context.progress

    def step(label: str) -> None:
        percent, text = STAGES.get(label, (progress.percent, label))
        progress(percent, text)

    progress(1, "Préparation")
    mapping = _mapping(params, path)
    store = open_store(context.store_url, create=False)
    try:
        report = import_file(store, path, layer=params["couche"], options=ImportOptions(
            mapping=mapping, actor=context.owner, territory_margin_m=get_settings().territory_margin_m,
            report_dir=context.folder, strict=params["strict"], progress=step))
    finally:
        store.close()
    progress(95, "Rapport de rejets écrit")
    files = [p.name for p in (report.report_path, report.summary_path) if p is not None]
    rejects = reject_lines(report.rejects, MAX_REJECTS)
    return {**report.summary(), "fichiers": files, "rejets": rejects,
            "rejets_tronques": len(report.rejects) > MAX_REJECTS,
            "motifs": [{"motif": reason, "lignes": n} for reason, n in report.top_reasons(5)],
            "rien_importe": report.nothing_imported}


IMPORT_KIND = register(JobKind("import", "Import d'un fichier", "administrateur", validate_import,
                               lambda p: (str(p.get("couche", "")),), run_import))
