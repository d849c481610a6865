"""What the CCTV coverage of a report assumed, and what its shares mean, in French sentences.

:func:`cctv_notes` turns :attr:`geo.stats.coverage.CCTVCoverage.parameters` into the lines a
reader needs to weigh the shares: the range assumed (50 m when the source gives none) and for
how many cameras, full discs against sectors, whether buildings masked the views, how a
camera's own building was handled and which cameras were moved onto their façade, and why
heights are not used. The lines count cameras: they belong with the camera figures, in the
part of the report restricted to the readers of the ``videoprotection`` layer.
"""

from __future__ import annotations

import logging
from typing import Any

from geo.stats.coverage import CCTVCoverage

logger = logging.getLogger(__name__)


def _num(value: float, digits: int = 0) -> str:
    """French decimal: « 3,2 »."""
    return f"{value:.{digits}f}".replace(".", ",")


def _pct(share: float) -> str:
    """French percentage: « 12,0 % »."""
    return f"{_num(100.0 * share, 1)} %"


def _cameras(n: int) -> str:
    return f"{n} caméra{'s' if n > 1 else ''}"


def share_sentence(cov: CCTVCoverage) -> str:
    """State the share of the events in a camera's view, and how far it can be trusted.

    Parameters
    ----------
    cov : CCTVCoverage
        The coverage of the report.

    Returns
    -------
    str
        One French paragraph: the share and count of the events in the assumed views, then
        why it is an estimate (views assumed, not masked by buildings when none are known:
        an upper bound) and what it does not say (in the field of view is not filmed).
    """
    p = cov.parameters
    n = int(cov.events["seen"].size)
    seen = int(cov.events["seen"].sum())
    text = (f"Part couverte : {_pct(cov.share_events_seen)} des {n} événements analysés ({seen}) sont "
            "dans le champ supposé d'au moins une caméra en service.")
    assumed = []
    if p.get("cameras_range_assumed"):
        assumed.append(f"portée supposée pour {p['cameras_range_assumed']} sur {p['cameras']}")
    if p.get("cameras_full_disc"):
        assumed.append(f"direction inconnue (disque complet) pour {p['cameras_full_disc']} "
                       f"sur {p['cameras']}")
    if assumed:
        text += " C'est une estimation, les champs sont supposés : " + " ; ".join(assumed) + "."
    if not p.get("buildings"):
        text += (" Aucune emprise de bâtiment n'est connue ici : les vues ne sont pas masquées, la part "
                 "est un maximum.")
    if cov.share_hotspot_area_seen is not None:
        text += f" Les points chauds sont vus sur {_pct(cov.share_hotspot_area_seen)} de leur surface."
    return text + (" Être dans le champ d'une caméra ne veut pas dire avoir été filmé (caméra tournée "
                   "ailleurs, nuit, panne).")


def _range_line(total: int, assumed: int, range_m: float) -> str:
    """Say which range the views used."""
    if not assumed:
        return f"Portée : donnée par la source pour les {_cameras(total)}."
    line = (f"Portée : {_num(range_m)} m supposés pour {_cameras(assumed)} sur {total} (la source ne "
            "donne pas leur portée)")
    return line + (f" ; portée de la source pour {total - assumed}." if assumed < total else ".")


def _field_line(total: int, disc: int) -> str:
    """Say which views are full discs and which are sectors."""
    if not disc:
        return f"Champ : secteur de la direction et de l'angle de la source pour les {_cameras(total)}."
    line = f"Champ : disque complet pour {_cameras(disc)} sur {total} (direction et angle inconnus)"
    return line + (f" ; secteur de la source pour {total - disc}." if disc < total else ".")


def _own_building_line(p: dict[str, Any]) -> str:
    """Say how the cameras' own buildings were handled and which cameras were moved."""
    own, moved, total = int(p["cameras_own_building"]), int(p["cameras_moved"]), int(p["cameras"])
    reach = _num(p.get("own_building_m", 1.0))
    if not own:
        return f"Bâtiment de la caméra : aucune caméra dans un bâtiment ni à moins de {reach} m."
    line = (f"Bâtiment de la caméra : {own} sur {total} sont dans leur bâtiment ou à moins de {reach} m ; "
            "ce bâtiment ne masque rien devant sa façade et masque tout ce qui est derrière.")
    if moved:
        plural = "s" if moved > 1 else ""
        line += (f" {moved} placée{plural} à l'intérieur {'ont' if moved > 1 else 'a'} été ramenée{plural} "
                 f"sur la façade la plus proche (jusqu'à {_num(p['moved_max_m'], 1)} m).")
    return line


def cctv_notes(cov: CCTVCoverage) -> list[str]:
    """Return the share sentence then the parameters assumed by the coverage, one line each.

    Parameters
    ----------
    cov : CCTVCoverage
        The coverage of the report (:attr:`CCTVCoverage.parameters`).

    Returns
    -------
    list of str
        French lines: the share (:func:`share_sentence`), range, field, buildings, own
        building and façade moves, heights.
    """
    p = cov.parameters
    total = int(p["cameras"])
    lines = [share_sentence(cov), _range_line(total, int(p["cameras_range_assumed"]), float(p["range_m"])),
             _field_line(total, int(p["cameras_full_disc"]))]
    if p["buildings"]:
        lines.append("Bâtiments : les emprises fournies masquent les vues (polygone de visibilité exact, "
                     "un rayon par coin de bâtiment à portée) ; un bâtiment absent de la couche ne masque "
                     "rien.")
        lines.append(_own_building_line(p))
    else:
        lines.append("Bâtiments : aucune emprise connue ici, les vues ne sont pas masquées.")
    lines.append("Hauteurs : non utilisées, aucune couche ne donne la hauteur des bâtiments ni des "
                 "caméras ; un bâtiment masque tout ce qui est derrière lui, quelle que soit sa hauteur.")
    return lines
