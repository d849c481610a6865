"""How the ``analyses`` layer is drawn: one colour, label and « comment lire » per class.

Declared once here and handed to the map's script in the page configuration
(:func:`analysis_style`); :func:`analysis_class` gives the class of a stored result
(the script applies the same rule with the same thresholds).

* Gi* (« points chauds »): a diverging red/blue palette by confidence (99/95/90 %, from
  the stored ``p_value`` — the one the classification used, FDR-adjusted by default) and a
  light grey for the bins that are not significant;
* emerging hot spots (« points chauds émergents »): one hue per pattern of
  :data:`geo.stats.emerging.PATTERNS_FR`, warm for hot patterns, cool for cold ones;
* density, coverage, recurrence and gaps: a sequential ramp on ``value``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from geo.stats.emerging import PATTERNS_FR, TOO_FEW
from geo.stats.hotspots import CONFIDENCE_LEVELS, confidence_level

__all__ = ["EMERGING_CLASSES", "GI_CLASSES", "AnalysisClass", "analysis_class", "analysis_style"]


@dataclass(frozen=True)
class AnalysisClass:
    """One class of the legend.

    Attributes
    ----------
    key : str
        Stable key (``chaud-99``, ``non-significatif``, the emerging pattern…).
    label : str
        Name of the class in French.
    color : str
        Fill colour (``#rrggbb``).
    reading : str
        « Comment lire » sentence, in French.
    """

    key: str
    label: str
    color: str
    reading: str


_HOT = ("#b2182b", "#ef8a62", "#fddbc7")
_COLD = ("#2166ac", "#67a9cf", "#d1e5f0")
_CHANCE = {99: "moins d'une chance sur 100", 95: "moins de 5 chances sur 100",
           90: "moins de 10 chances sur 100"}


def _gi_classes() -> tuple[AnalysisClass, ...]:
    levels = [level for _, level in CONFIDENCE_LEVELS]
    hot = [AnalysisClass(
        f"chaud-{lv}", f"Point chaud à {lv} %", color,
        f"Point chaud à {lv} % : concentration de signalements significativement plus forte que dans le "
        f"reste du quartier, la maille et ses voisines comptées ensemble ({_CHANCE[lv]} que ce "
        f"regroupement soit dû au hasard).")
        for lv, color in zip(levels, _HOT, strict=True)]
    cold = [AnalysisClass(
        f"froid-{lv}", f"Point froid à {lv} %", color,
        f"Point froid à {lv} % : signalements significativement plus rares que dans le reste du "
        f"quartier, la maille et ses voisines comptées ensemble ({_CHANCE[lv]} que ce creux soit dû "
        f"au hasard).")
        for lv, color in zip(levels, _COLD, strict=True)]
    neutral = AnalysisClass(
        "non-significatif", "Non significatif", "#d9d9d9",
        "Non significatif : le nombre de signalements de la maille et de ses voisines ne se "
        "distingue pas du reste du quartier.")
    return (*hot, neutral, *reversed(cold))


#: Gi* classes, hottest first.
GI_CLASSES: tuple[AnalysisClass, ...] = _gi_classes()

# one hue per emerging pattern kind, hot variant then cold variant
_EMERGING_COLORS = {
    "new": ("#ff0000", "#00e5ff"),
    "consecutive": ("#ff7f00", "#1f78b4"),
    "intensifying": ("#a50026", "#313695"),
    "persistent": ("#e7298a", "#6a3d9a"),
    "diminishing": ("#fdae61", "#80cdc1"),
    "sporadic": ("#ffd92f", "#8dd3c7"),
    "oscillating": ("#8c510a", "#01665e"),
    "historical": ("#f768a1", "#9e9ac8"),
    "switched": ("#dd3497", "#41b6c4"),  # issue 16: former cold spot become hot, and the reverse
}
_EMERGING_READING = {
    "new": "significatif au dernier mois seulement, jamais auparavant",
    "consecutive": "significatif sans interruption sur les derniers mois seulement",
    "intensifying": "significatif au moins 9 mois sur 10, de plus en plus marqué",
    "persistent": "significatif au moins 9 mois sur 10, sans tendance nette",
    "diminishing": "significatif au moins 9 mois sur 10, de moins en moins marqué",
    "sporadic": "significatif par intermittence, jamais en sens inverse",
    "oscillating": "significatif au dernier mois, mais de sens inverse certains mois",
    "historical": "significatif au moins 9 mois sur 10, mais plus au dernier mois",
    "switched": "significatif sans interruption sur les derniers mois, après avoir été significatif en sens "
                "inverse",
}


def _emerging_classes() -> tuple[AnalysisClass, ...]:
    out = []
    for side, idx in (("hot", 0), ("cold", 1)):
        for kind, colors in _EMERGING_COLORS.items():
            label = PATTERNS_FR[f"{kind} {side} spot"]
            out.append(AnalysisClass(label, label[:1].upper() + label[1:], colors[idx],
                                     f"{label[:1].upper() + label[1:]} : {_EMERGING_READING[kind]}."))
    few = PATTERNS_FR[TOO_FEW]
    out.append(AnalysisClass(few, few[:1].upper() + few[1:], "#bdbdbd",
                             f"{few[:1].upper() + few[1:]} : chaude par ses voisines, mais moins de 3 "
                             "événements dans la maille sur la période."))
    none = PATTERNS_FR["no pattern"]
    out.append(AnalysisClass(none, "Aucune tendance", "#f0f0f0",
                             "Aucune tendance : aucun des motifs ci-dessus sur la période."))
    return tuple(out)


#: Emerging hot spot classes: their key is the stored French pattern.
EMERGING_CLASSES: tuple[AnalysisClass, ...] = _emerging_classes()

#: Sequential ramp of the other analyses (low → high value).
_RAMPS = {
    "densité": ("#fee6ce", "#fdae6b", "#fd8d3c", "#e6550d", "#a63603"),
    "récurrence": ("#efedf5", "#bcbddc", "#9e9ac8", "#756bb1", "#54278f"),
    "couverture": ("#edf8e9", "#bae4b3", "#74c476", "#31a354", "#006d2c"),
    "carence": ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"),
}
#: Unit of ``value`` by analysed layer: (singular, plural).
_UNITS = {"observations": ("signalement", "signalements"),
          "points_noirs": ("dépôt constaté", "dépôts constatés")}


def analysis_class(analysis: str, category: str | None, p_value: float | None) -> str | None:
    """Return the key of the legend class of one stored result, ``None`` for graduated analyses.

    Parameters
    ----------
    analysis : str
        ``points chauds``, ``points chauds émergents``…
    category : str, optional
        Stored class (« point chaud », « point froid », « non significatif », or the pattern).
    p_value : float, optional
        Stored p-value (the one the classification used).

    Returns
    -------
    str or None
        ``chaud-99``…, ``non-significatif``, the emerging pattern, ``inconnu`` when the
        stored class is not one of the legend's.
    """
    if analysis == "points chauds":
        side = {"point chaud": "chaud", "point froid": "froid"}.get(str(category or ""))
        if side is None:
            return "non-significatif" if category == "non significatif" else "inconnu"
        p = None if p_value is None else float(p_value)  # NaN: unknown, handled by confidence_level
        # a significant bin is at least at 90 % (as in geo.stats.hotspots._classify)
        return f"{side}-{confidence_level(p) or CONFIDENCE_LEVELS[-1][1]}"
    if analysis == "points chauds émergents":
        known = {c.key for c in EMERGING_CLASSES}
        return str(category) if category in known else "inconnu"
    return None


def analysis_style() -> dict[str, Any]:
    """Return the drawing rules of the ``analyses`` layer, as the map's script reads them.

    Returns
    -------
    dict
        ``confidence`` (p-value limits and levels), ``classes`` (analysis → list of
        classes with key, label, color, reading), ``ramps`` (analysis → colours, low to
        high), ``units`` (source layer → unit of ``value``, singular and plural), ``unknown`` (colour of a
        class outside the legend) and ``hiddenByDefault``.
    """
    return {
        "confidence": [{"p": limit, "level": level} for limit, level in CONFIDENCE_LEVELS],
        "classes": {"points chauds": [asdict(c) for c in GI_CLASSES],
                    "points chauds émergents": [asdict(c) for c in EMERGING_CLASSES]},
        "ramps": {k: list(v) for k, v in _RAMPS.items()},
        "units": {k: list(v) for k, v in _UNITS.items()},
        "unknown": "#969696",
        "hiddenByDefault": True,
    }
