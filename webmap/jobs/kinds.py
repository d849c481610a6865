"""Registry of job kinds: who may ask for them, how their parameters are checked, what they run.

Two kinds are registered here: « rapport » (the report of ``qpv rapport``, HTML and PDF files)
and « analyse » (the hot spot analysis of ``qpv analyse points-chauds``, stored in the
``analyses`` layer). Other modules add theirs with :func:`register`.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from layers.store import open_store
from webmap.errors import JobError
from webmap.jobs.progress import Progress

logger = logging.getLogger(__name__)

LAYER_CHOICES = ("auto", "observations", "points_noirs")
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,40}")
#: parameter a job receives with the layers its requester may see (set by the queue at
#: submission, never taken from the client; absent: every layer, as on the command line)
READABLE_PARAM = "couches_lisibles"
#: confidential layer → roles that may see it, named in the reports (issue 16 part D)
READERS_PARAM = "roles_restreints"


@dataclass(frozen=True)
class JobContext:
    """What a running job receives besides its parameters.

    Attributes
    ----------
    store_url : str
        The store the worker uses.
    folder : Path
        The job's own folder for its files (created before the job runs).
    progress : Progress
        Percentage and step reporting.
    owner : str or None
        Login of who asked (recorded as the actor of writes).
    organisation : str or None
        Organisation of who asked.
    requested : str or None
        When the job was asked for (UTC, ISO 8601).
    job_id : str or None
        The job's identifier.
    files_area : Path or None
        The store's files area, where reports are filed (None: not filed).
    """

    store_url: str
    folder: Path
    progress: Progress
    owner: str | None = None
    organisation: str | None = None
    requested: str | None = None
    job_id: str | None = None
    files_area: Path | None = None


@dataclass(frozen=True)
class JobKind:
    """A kind of job.

    Attributes
    ----------
    name : str
        Its name in the API (French).
    label : str
        What the pages call it.
    minimum : str
        Lowest role allowed to start one (and read its result).
    validate : callable
        ``validate(params) -> params`` cleaned; raises :class:`JobError` (French) otherwise.
    layers : callable
        ``layers(params) -> names`` of the layers it reads: each must be visible to the role.
    run : callable
        ``run(params, context) -> result`` (JSON-able dict; ``files``: names in the folder).
    """

    name: str
    label: str
    minimum: str
    validate: Callable[[Mapping[str, Any]], dict[str, Any]]
    layers: Callable[[Mapping[str, Any]], tuple[str, ...]]
    run: Callable[[dict[str, Any], JobContext], dict[str, Any]]


KINDS: dict[str, JobKind] = {}


def register(kind: JobKind) -> JobKind:
    """Add ``kind`` to the registry (replacing one of the same name)."""
    KINDS[kind.name] = kind
    return kind


def get_kind(name: Any) -> JobKind:
    """Return the kind ``name``; :class:`JobError` naming the known ones otherwise."""
    kind = KINDS.get(str(name)) if isinstance(name, str) else None
    if kind is None:
        raise JobError(f"Type de travail « {name} » inconnu : attendu {', '.join(sorted(KINDS))}.")
    return kind


def _text(params: Mapping[str, Any], name: str, *, default: str | None = None) -> str | None:
    value = params.get(name, default)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or len(value) > 200:
        raise JobError(f"Paramètre « {name} » : texte de 200 caractères au plus attendu.")
    return value.strip()


def _period(params: Mapping[str, Any]) -> str:
    from layers.analyses import parse_period

    text = _text(params, "periode")
    if not text:
        raise JobError("Paramètre « periode » manquant : AAAA-MM:AAAA-MM (ex. 2023-09:2024-08).")
    parse_period(text)  # StoreAnalysisError (French) when unreadable
    return text


def _code(params: Mapping[str, Any], name: str) -> str | None:
    code = _text(params, name)
    if code is not None and not CODE_PATTERN.fullmatch(code):
        raise JobError(f"Paramètre « {name} » : code de quartier « {code} » invalide.")
    return code


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-") or "theme"


# -------------------------------------------------------------------------- rapport
DEFAULT_THEME = "dépôts sauvages"


def validate_report(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of a report: ``quartier`` or ``territoire``, ``periode``, options."""
    quartier = _code(params, "quartier")
    territoire = params.get("territoire", False)
    if not isinstance(territoire, bool):
        raise JobError("Paramètre « territoire » : vrai ou faux attendu.")
    if bool(quartier) == territoire:
        raise JobError("Choisissez un quartier (« quartier ») ou le territoire (« territoire »).")
    couche = _text(params, "couche", default="auto")
    if couche not in LAYER_CHOICES:
        raise JobError(f"Paramètre « couche » : {', '.join(LAYER_CHOICES)} attendu.")
    pdf = params.get("pdf", True)
    if not isinstance(pdf, bool):
        raise JobError("Paramètre « pdf » : vrai ou faux attendu.")
    inference = _text(params, "inference", default="analytique")
    if inference not in ("analytique", "permutations"):
        raise JobError("Paramètre « inference » : analytique ou permutations attendu.")
    moran = params.get("moran_local", False)
    if not isinstance(moran, bool):
        raise JobError("Paramètre « moran_local » : vrai ou faux attendu.")
    return {"quartier": quartier, "territoire": territoire, "periode": _period(params), "couche": couche,
            "theme": _text(params, "theme", default=DEFAULT_THEME), "commune": _text(params, "commune"),
            "pdf": pdf, "inference": inference, "moran_local": moran}


def report_layers(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Layers a report reads (``auto``: both event layers)."""
    layer = params.get("couche", "auto")
    base = ("perimetres",)
    return (*base, "observations", "points_noirs") if layer == "auto" else (*base, str(layer))


#: layers a quartier report reads besides its events, when its requester may see them
REPORT_CONTEXT_LAYERS = ("actions", "adresses", "bacs", "batiments", "diagnostics", "eclairage",
                         "videoprotection", "voies")


def report_read_layers(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the layers a report job actually reads.

    Those of :func:`report_layers` and, for a quartier, the context layers its requester
    may see (``couches_lisibles``; absent: all of them).
    """
    base = report_layers(params)
    if not params.get("quartier"):
        return base
    readable = params.get(READABLE_PARAM)
    extra = [name for name in REPORT_CONTEXT_LAYERS if readable is None or name in readable]
    return (*base, *extra)


def run_report(params: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Build the report of ``qpv rapport``, write its HTML (and PDF) and file it in the files area."""
    from geo.stats.report import HotspotSettings, for_reader, restricted_layers
    from layers.analyses import (
        REPORT_GRID,
        parse_period,
        quartier_report_from_store,
        territory_report_from_store,
    )
    from webmap._report_archive import file_report, store_revision
    from webmap._report_readers import restricted_readers
    from webmap.documents import write_report

    progress = context.progress
    start, end = parse_period(params["periode"])
    progress(5, "Lecture de l'entrepôt")
    store = open_store(context.store_url, create=False)
    try:
        revision = store_revision(store, context.store_url)
        progress(15, "Calcul des indicateurs et des points chauds")
        if params["quartier"]:
            stats = HotspotSettings(margin=REPORT_GRID.margin,
                                    inference=params.get("inference", "analytique"),
                                    local_moran=bool(params.get("moran_local", False)))
            report = quartier_report_from_store(store, params["quartier"], start=start, end=end,
                                                layer=params["couche"], theme=params["theme"] or None,
                                                readable=params.get(READABLE_PARAM), grid=stats)
            stem = f"rapport-{params['quartier']}-{start:%Y%m}-{end:%Y%m}"
        else:
            layer = "observations" if params["couche"] == "auto" else params["couche"]
            report = territory_report_from_store(store, start=start, end=end, layer=layer,
                                                 theme=params["theme"] or None, commune=params["commune"])
            stem = f"rapport-territoire{'-' + _slug(params['commune']) if params['commune'] else ''}" \
                   f"-{start:%Y%m}-{end:%Y%m}"
    finally:
        store.close()
    if params["theme"] and params["theme"] != DEFAULT_THEME:
        stem += "-" + _slug(params["theme"])
    # the version for the role that asked: no confidential section it may not see, in any file
    report = for_reader(report, params.get(READABLE_PARAM),
                        readers=params.get(READERS_PARAM) or restricted_readers())
    progress(60, "Mise en page du rapport (HTML" + (" et PDF)" if params["pdf"] else ")"))
    paths = write_report(report, context.folder, stem, pdf=params["pdf"])
    result: dict[str, Any] = {"titre": report.title, "fichiers": [p.name for p in paths],
                              "notes": list(report.notes)}
    if context.files_area is not None:
        progress(90, "Classement du rapport dans l'espace de fichiers")
        read = list(dict.fromkeys([*report_read_layers(params), *restricted_layers(report)]))
        filed = file_report(context.files_area, paths, {
            "type": "rapport", "titre": report.title, **params, "couches": read,
            "demande_par": context.owner, "organisation": context.organisation,
            "demande_le": context.requested, "travail": context.job_id, "revision_entrepot": revision,
            "notes": list(report.notes)})
        result["rapport"] = filed.id
    progress(100, "Rapport prêt")
    return result


# -------------------------------------------------------------------------- analyse
def validate_analysis(params: Mapping[str, Any]) -> dict[str, Any]:
    """Check the parameters of a hot spot analysis (those of ``qpv analyse points-chauds``)."""
    couche = _text(params, "couche", default="observations")
    if couche not in ("observations", "points_noirs"):
        raise JobError("Paramètre « couche » : observations ou points_noirs attendu.")
    numbers: dict[str, float | None] = {}
    for name, default, low, high in (("maille", None, 20.0, 2000.0), ("marge", 200.0, 0.0, 5000.0)):
        value = params.get(name, default)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not low <= float(value) <= high):
            raise JobError(f"Paramètre « {name} » : nombre de mètres entre {low:g} et {high:g} attendu.")
        numbers[name] = None if value is None else float(value)
    fdr = params.get("fdr", True)
    if not isinstance(fdr, bool):
        raise JobError("Paramètre « fdr » : vrai ou faux attendu.")
    return {"couche": couche, "theme": _text(params, "theme"), "quartier": _code(params, "quartier"),
            "periode": _period(params), "maille": numbers["maille"], "marge": numbers["marge"], "fdr": fdr}


def run_analysis(params: dict[str, Any], context: JobContext) -> dict[str, Any]:
    """Run the hot spot analysis of ``qpv analyse points-chauds`` and store it in ``analyses``."""
    from layers.analyses import HotspotRequest, parse_period, store_hotspots

    start, end = parse_period(params["periode"])
    context.progress(5, "Lecture de l'entrepôt")
    store = open_store(context.store_url, create=False)
    try:
        context.progress(15, "Calcul des points chauds (Gi*) et des points chauds émergents")
        run = store_hotspots(store, HotspotRequest(
            start=start, end=end, layer=params["couche"], theme=params["theme"], quartier=params["quartier"],
            bin_size=params["maille"], margin=params["marge"], fdr=params["fdr"]), actor=context.owner)
    finally:
        store.close()
    context.progress(100, "Analyse enregistrée dans la couche « analyses »")
    return {"analyse": run.run_id, "evenements": run.n_events, "mailles": run.n_bins,
            "points_chauds": run.n_hot, "points_froids": run.n_cold, "emergents": run.n_emerging,
            "remplaces": run.replaced}


register(JobKind("rapport", "Rapport de quartier ou de territoire", "lecteur", validate_report,
                 report_layers, run_report))
register(JobKind("analyse", "Analyse des points chauds", "technicien", validate_analysis,
                 lambda p: ("perimetres", str(p.get("couche", "observations")), "analyses"), run_analysis))
