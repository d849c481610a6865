"""SVG drawings of the quartier dashboard, computed server-side from the dashboard data.

:func:`bar_chart` turns a monthly indicator (this period and the same months of the
previous year) into bars; :func:`hotspot_map` and :func:`emerging_map` turn the bins
(EPSG:2154 rings) into paths coloured by :mod:`webmap.analysis_style`. The templates only
place the returned shapes; no script draws anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from webmap.analysis_style import AnalysisClass

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
#: Size of a chart in SVG units (the SVG scales to the width of its box).
CHART_W, CHART_H = 640.0, 200.0
_LEFT, _BOTTOM, _TOP = 44.0, 34.0, 10.0
#: Largest size of a map in SVG units (and CSS pixels at full size).
MAP_W, MAP_H = 600.0, 440.0


def fmt(value: Any, kind: str = "nombre") -> str:
    """French text of a figure: « n.d. » when unknown, decimal comma, thin thousands space.

    ``kind``: ``nombre`` (integers as such, others with one decimal), ``pct`` (share 0–1
    as a percentage), ``dec2`` (two decimals) or ``brut`` (every decimal kept).
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n.d."
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, str) and _ISO_DAY.fullmatch(value):
        return f"{value[8:10]}/{value[5:7]}/{value[:4]}"
    if kind == "brut":
        return str(value).replace(".", ",") if isinstance(value, float) else str(value)
    if kind == "dec2" and isinstance(value, int | float):
        return f"{value:,.2f}".replace(",", "\u202f").replace(".", ",")
    if kind == "pct" and isinstance(value, int | float):
        return f"{value * 100:.1f} %".replace(".", ",")
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    if isinstance(value, float):
        if value.is_integer() and kind == "nombre":
            return f"{int(value):,}".replace(",", "\u202f")
        return f"{value:,.1f}".replace(",", "\u202f").replace(".", ",")
    return str(value)


def _nice_step(value: float) -> float:
    """Step of the 4 intervals of the y axis: 1, 2, 3, 4, 5, 6 or 8 × 10ⁿ, whole numbers from 1 up."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    steps = (1, 2, 3, 4, 5, 6, 8, 10)
    step = next(m * power for m in steps if m * power >= value)
    return max(step, 1.0) if value >= 0.25 else step


def bar_chart(indicator: dict[str, Any]) -> dict[str, Any] | None:
    """Bars of one monthly indicator: this period (dark) beside the previous year (light).

    Returns None when no month of the period is known (the page shows the note instead).
    """
    current: Sequence[Any] = indicator["current"]
    previous: Sequence[Any] = indicator["previous"]
    if all(v is None for v in current):
        return None
    known = [float(v) for v in (*current, *previous) if v is not None]
    step = _nice_step(max(known, default=0.0) / 4)
    top = step * 4
    n = len(current)
    slot = (CHART_W - _LEFT - 6) / max(n, 1)
    bar_w = max(slot * 0.38, 1.0)
    plot_h = CHART_H - _BOTTOM - _TOP
    bars: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    for i, (month, cur, prev) in enumerate(zip(indicator["months"], current, previous, strict=True)):
        x0 = _LEFT + i * slot + slot * 0.1
        for offset, value, cls, when in (
            (0.0, prev, "barre-precedente", "année précédente"),
            (bar_w, cur, "barre-periode", "période"),
        ):
            if value is None:
                continue
            h = plot_h * float(value) / top
            bars.append(
                {
                    "x": round(x0 + offset, 1),
                    "y": round(CHART_H - _BOTTOM - h, 1),
                    "w": round(bar_w, 1),
                    "h": round(h, 1),
                    "cls": cls,
                    "title": f"{month} ({when}) : {fmt(value)}",
                }
            )
        if n <= 14 or i % math.ceil(n / 12) == 0:
            odd = len(labels) % 2 == 1  # hidden on a phone, where the axis text is larger
            labels.append({"x": round(x0 + bar_w, 1), "text": f"{month[5:7]}/{month[2:4]}",
                           "cls": "qd-axe qd-axe-impair" if odd else "qd-axe"})
    ticks = [{"y": round(CHART_H - _BOTTOM - plot_h * k / 4, 1), "text": fmt(step * k)} for k in range(5)]
    return {
        "w": CHART_W,
        "h": CHART_H,
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
        "axis_y": CHART_H - _BOTTOM,
        "left": _LEFT,
        "label_y": CHART_H - _BOTTOM + 20,
    }


def _frame(bounds: Sequence[float]) -> tuple[float, float, float, float, float]:
    """Origin and scale of a map of ``bounds`` (Lambert-93) fitting MAP_W × MAP_H.

    Returns x0, y1, scale, width and height in SVG units.
    """
    xmin, ymin, xmax, ymax = bounds
    scale = min(MAP_W / max(xmax - xmin, 1.0), MAP_H / max(ymax - ymin, 1.0))
    return xmin, ymax, scale, (xmax - xmin) * scale, (ymax - ymin) * scale


def _path(rings: Sequence[Sequence[Sequence[float]]], frame: tuple[float, float, float, float, float]) -> str:
    x0, y1, scale = frame[:3]
    parts = []
    for ring in rings:
        pts = " L".join(f"{(x - x0) * scale:.1f} {(y1 - y) * scale:.1f}" for x, y in ring)
        parts.append(f"M{pts} Z")
    return " ".join(parts)


def _gi_key(gi_bin: int) -> str:
    level = {1: 90, 2: 95, 3: 99}.get(abs(gi_bin))
    if level is None:
        return "non-significatif"
    return f"{'chaud' if gi_bin > 0 else 'froid'}-{level}"


def hotspot_map(
    hotspots: dict[str, Any] | None, outline: Sequence[Any], classes: Sequence[AnalysisClass]
) -> dict[str, Any] | None:
    """Gi* bins coloured by class (99/95/90 % hot and cold, non significant), with the perimeter."""
    if not hotspots:
        return None
    by_key = {c.key: c for c in classes}
    frame = _frame(hotspots["bounds"])
    paths = []
    for b in hotspots["bins"]:
        cls = by_key[_gi_key(b["gi_bin"])]
        paths.append(
            {
                "d": _path(b["rings"], frame),
                "color": cls.color,
                "key": cls.key,
                "title": f"{cls.label} — {b['count']} événement(s)",
            }
        )
    x0, y1, scale = frame[:3]
    dots = [
        {"cx": round((x - x0) * scale, 1), "cy": round((y1 - y) * scale, 1)}
        for x, y in hotspots.get("points", [])
    ]
    return {
        "w": round(frame[3], 1),
        "h": round(frame[4], 1),
        "paths": paths,
        "outline": _path(outline, frame),
        "dots": dots,
    }


def emerging_map(
    emerging: dict[str, Any] | None, outline: Sequence[Any], classes: Sequence[AnalysisClass]
) -> dict[str, Any] | None:
    """Emerging hot spot bins coloured by pattern, with the perimeter."""
    if not emerging:
        return None
    by_key = {c.key: c for c in classes}
    frame = _frame(emerging["bounds"])
    paths = []
    for b in emerging["bins"]:
        cls = by_key.get(b["pattern"])
        color = cls.color if cls else "#969696"
        paths.append(
            {
                "d": _path(b["rings"], frame),
                "color": color,
                "key": b["pattern"],
                "title": cls.label if cls else b["pattern"],
            }
        )
    present = {p["key"] for p in paths}
    return {
        "w": round(frame[3], 1),
        "h": round(frame[4], 1),
        "paths": paths,
        "outline": _path(outline, frame),
        "legend": [c for c in classes if c.key in present],
    }
