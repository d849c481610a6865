"""Confidential sections of a report: who may read them, and the version made for one reader.

A section drawn from a confidential layer (the CCTV coverage, from ``videoprotection``)
carries the layer's name in :attr:`ReportSection.restricted`. :func:`for_reader` returns the
version of a report for a reader: the restricted sections whose layer the reader may not see
are replaced by a notice saying that the section exists and which roles may read it
(:func:`withheld_section`); the sections kept are the ones the renderer marks « Diffusion
restreinte » (:func:`restricted_layers`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from geo.stats.report.model import Report, ReportSection

logger = logging.getLogger(__name__)

__all__ = ["CCTV_LAYER", "CCTV_TITLE", "RESTRICTED_MARK", "for_reader", "restricted_layers",
           "restricted_notice", "withheld_section"]

#: Mark of a confidential section and of the pages of a document holding one.
RESTRICTED_MARK = "Diffusion restreinte"

#: Title of the CCTV section of a quartier report; the confidential layer it is drawn from.
CCTV_TITLE = "Vidéoprotection"
CCTV_LAYER = "videoprotection"

#: Analysis results (:attr:`Report.results`) drawn from each confidential layer.
LAYER_RESULTS = {"videoprotection": ("cctv",)}

#: French name of the confidential layers in the notices.
LAYER_NAMES = {"videoprotection": "vidéoprotection"}


def _roles(readers: Sequence[str]) -> str:
    """« technicien et administrateur » of ``("technicien", "administrateur")``."""
    names = [str(r) for r in readers]
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} et {names[-1]}"


def restricted_notice(layer: str, readers: Sequence[str] = ()) -> str:
    """Say that the section drawn from ``layer`` exists and who may read it (French).

    Parameters
    ----------
    layer : str
        The confidential layer (``videoprotection``).
    readers : sequence of str
        Roles that may read it; empty when not known (the notice then names the layer).

    Returns
    -------
    str
        « Section vidéoprotection : diffusion restreinte, consultable par les rôles technicien
        et administrateur. »
    """
    name = LAYER_NAMES.get(layer, layer)
    if not readers:
        who = f"les rôles habilités à voir la couche {name}"
    elif len(readers) == 1:
        who = f"le rôle {_roles(readers)}"
    else:
        who = f"les rôles {_roles(readers)}"
    return (f"Section {name} : diffusion restreinte, consultable par {who}. Elle ne figure pas dans "
            "cette version du rapport.")


def withheld_section(title: str, layer: str, readers: Sequence[str] = ()) -> ReportSection:
    """Return the notice standing for a confidential section left out of a reader's version."""
    return ReportSection(title=title, notes=[restricted_notice(layer, readers)], restricted=layer,
                         readers=tuple(readers), withheld=True)


def restricted_layers(report: Report) -> tuple[str, ...]:
    """Return the confidential layers whose sections this version of ``report`` holds (sorted)."""
    return tuple(sorted({s.restricted for s in report.sections if s.restricted and not s.withheld}))


def for_reader(
    report: Report, readable: Collection[str] | None, *, readers: Mapping[str, Sequence[str]] | None = None
) -> Report:
    """Return the version of ``report`` for a reader who may see the layers ``readable``.

    Parameters
    ----------
    report : Report
        The full report (not modified).
    readable : collection of str, optional
        Layers the reader may see; None: every layer (the full version).
    readers : mapping, optional
        Confidential layer → roles that may see it, named in the notices (and on the kept
        sections, for their mark).

    Returns
    -------
    Report
        A copy whose restricted sections on a layer outside ``readable`` are replaced by
        their notice (:func:`withheld_section`): no figure, table or note of theirs remains,
        nor the analysis results drawn from that layer (``results["cctv"]``).
    """
    roles = dict(readers or {})
    sections: list[ReportSection] = []
    withheld: set[str] = set()
    for section in report.sections:
        layer = section.restricted
        if layer is None:
            sections.append(section)
            continue
        who = tuple(roles.get(layer, section.readers))
        if section.withheld or (readable is not None and layer not in readable):
            sections.append(withheld_section(section.title, layer, who))
            withheld.add(layer)
            logger.debug("section %r withheld from the reader", section.title)
        else:
            sections.append(replace(section, readers=who))
    hidden = {key for layer in withheld for key in LAYER_RESULTS.get(layer, ())}
    results = {key: value for key, value in report.results.items() if key not in hidden}
    return replace(report, sections=sections, results=results)
