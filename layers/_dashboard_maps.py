"""Maps and site tables of a quartier dashboard: Gi* and emerging bins, points noirs, coverage.

Private to :mod:`layers.dashboard`, which re-exports the distances.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import shapely

from geo.stats.report import site_table
from layers._dashboard_base import (
    _clean,
    _in_zone,
    _rings,
    _source_months,
    _Spans,
    _Zone,
)
from layers.analyses import _end_exclusive
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)


#: Largest distance (m) between a container and an address it serves.
CONTAINER_REACH_M = 100.0


#: No container (camera) within this distance (m) of a quartier: no source covers it, counts unknown.
SOURCE_REACH_M = 1000.0


def _hotspot_map(report: Any, zone: _Zone) -> dict[str, Any] | None:
    hot = report.results.get("hotspots")
    if hot is None:
        return None
    bins = [
        {"gi_bin": int(b), "count": int(c), "z": _clean(float(z)), "p": _clean(float(p)), "rings": _rings(g)}
        for b, c, z, p, g in zip(
            hot["gi_bin"], hot["count"], hot["gi_z"], hot["gi_q"], hot.geometry, strict=True
        )
    ]
    inside = shapely.contains_xy(zone.geom, hot["x"].to_numpy(), hot["y"].to_numpy())
    classes, sizes = np.unique(hot["gi_bin"].to_numpy(dtype=int)[inside], return_counts=True)
    counts = {int(k): int(v) for k, v in zip(classes, sizes, strict=True)}
    fig = next((f for f in report.figures if f.name == "hotspots"), None)
    points = np.round(np.asarray(fig.points, dtype=float), 1).tolist() if fig is not None else []
    return {
        "bins": bins,
        "counts_inside": counts,
        "bin_size": _clean(hot.attrs.get("bin_size")),
        "bounds": [float(v) for v in hot.total_bounds],
        "points": points,
    }


def _emerging_map(report: Any) -> dict[str, Any] | None:
    ehsa = report.results.get("emerging")
    if ehsa is None:
        return None
    b = ehsa.bins
    bins = [{"pattern": str(p), "rings": _rings(g)} for p, g in zip(b["pattern_fr"], b.geometry, strict=True)]
    counts = b["pattern_fr"].value_counts()
    return {
        "bins": bins,
        "counts": {str(k): int(v) for k, v in counts.items()},
        "bounds": [float(v) for v in b.total_bounds],
    }


def _point_noir_recurrence(store: LayerStore, zone: _Zone, spans: _Spans) -> dict[str, Any]:
    """One row per point noir of the quartier: name, address, dumpings this period and last year.

    The previous year's count is unknown (None) unless the points noirs' events cover all
    of it (:func:`_source_months`).
    """
    sites = _in_zone(store.read("points_noirs", bbox=tuple(zone.geom.bounds)), zone)
    source = _source_months(store, "points_noirs", zone)
    previous_covered = source is not None and source[0] <= pd.Timestamp(spans.previous[0]).to_period("M")
    columns = [
        "Point noir",
        "Adresse",
        "Statut du point noir",
        "Dépôts (période)",
        "Dépôts (année précédente)",
        "Premier dépôt",
        "Dernier dépôt",
        "Jours médians entre deux dépôts",
        "Délai médian d'enlèvement (j)",
        "Donnée",
    ]
    if sites.empty:
        return {"columns": columns, "rows": []}
    events = store.read_children(
        "points_noirs",
        "evenements",
        parent_uids=list(sites["uid"]),
        start=spans.previous[0].isoformat(),
        end=_end_exclusive(spans.current[1]),
    )
    rows = []
    for site in sites.sort_values("name").itertuples():
        ev = events[events["parent_uid"] == site.uid] if len(events) else events
        when: pd.Series = (
            pd.to_datetime(ev["observed_at"], errors="coerce") if len(ev) else pd.Series([], dtype="M8[ns]")
        )
        cur = when[
            (when >= pd.Timestamp(spans.current[0])) & (when < pd.Timestamp(_end_exclusive(spans.current[1])))
        ]
        prev_n: int | None = int(
            (
                (when >= pd.Timestamp(spans.previous[0]))
                & (when < pd.Timestamp(_end_exclusive(spans.previous[1])))
            ).sum()
        )
        if not previous_covered:  # the source did not exist yet: unknown, not 0
            prev_n = None
        ordered = cur.sort_values()
        gaps = ordered.diff().dt.total_seconds().dropna() / 86400
        delay = None
        if len(ev) and "cleaned_at" in ev.columns and len(cur):
            sel = ev.loc[cur.index]
            d = (pd.to_datetime(sel["cleaned_at"], errors="coerce") - cur).dt.total_seconds() / 86400
            d = d[d >= 0]
            delay = float(d.median()) if len(d) else None
        rows.append(
            [
                site.name,
                _clean(site.address) or "adresse inconnue",
                _clean(site.status),
                len(cur),
                prev_n,
                _clean(ordered.iloc[0]) if len(ordered) else None,
                _clean(ordered.iloc[-1]) if len(ordered) else None,
                float(gaps.median()) if len(gaps) else None,
                delay,
                "simulée" if bool(site.simulated) else "réelle",
            ]
        )
    rows.sort(key=lambda r: -r[3])
    return {"columns": columns, "rows": rows}


def _recurrent_sites(report: Any, zone: _Zone) -> dict[str, Any]:
    """Recurrent sites of the recurrence analysis, named by their point noir or located by an address.

    A site attached to a point noir shows its name and address; the others are
    « regroupement sans point noir » at the nearest address (``Localisation d'après`` says
    which, :func:`geo.stats.report.site_table`).
    """
    columns = [
        "Site",
        "Localisation",
        "Localisation d'après",
        "Événements",
        "Premier",
        "Dernier",
        "Jours médians avant retour",
        "Statut",
    ]
    rec = report.results.get("recurrence")
    if rec is None:
        return {"columns": columns, "rows": []}
    sites = rec.sites[(rec.sites["quartier"] == zone.code) & (rec.sites["n_events"] >= 2)]
    if sites.empty:
        return {"columns": columns, "rows": []}
    table = site_table(sites, top=len(sites))[columns]
    return {"columns": columns, "rows": [[_clean(v) for v in row] for row in table.itertuples(index=False)]}


def _container_coverage(store: LayerStore, zone: _Zone, span: tuple[date, date]) -> dict[str, Any]:
    """Containers of the quartier, addresses within :data:`CONTAINER_REACH_M`, fill readings."""
    bbox = tuple(zone.geom.buffer(CONTAINER_REACH_M).bounds)
    bacs = store.read("bacs", bbox=bbox)
    if store.read("bacs", bbox=tuple(zone.geom.buffer(SOURCE_REACH_M).bounds)).empty:
        return {
            "bacs": None,
            "adresses": None,
            "part_adresses": None,
            "remplissage_moyen": None,
            "releves_pleins": None,
            "simulated": None,
            "par_flux": {},
            "couvert": False,
        }
    addresses = _in_zone(store.read("adresses", bbox=tuple(zone.geom.bounds)), zone)
    inside = _in_zone(bacs, zone)
    out: dict[str, Any] = {
        "bacs": len(inside),
        "adresses": len(addresses),
        "part_adresses": None,
        "remplissage_moyen": None,
        "releves_pleins": None,
        "simulated": None,
        "par_flux": {},
        "couvert": True,
    }
    if len(inside):
        out["simulated"] = bool(inside["simulated"].fillna(False).astype(bool).any())
        out["par_flux"] = {str(k): int(v) for k, v in inside["flux"].value_counts().items()}
        releves = store.read_children(
            "bacs",
            "releves",
            parent_uids=list(inside["uid"]),
            start=span[0].isoformat(),
            end=_end_exclusive(span[1]),
        )
        if len(releves):
            fill = pd.to_numeric(releves["fill_pct"], errors="coerce").dropna()
            out["remplissage_moyen"] = float(fill.mean()) if len(fill) else None
            out["releves_pleins"] = int((fill >= 90).sum())
    if len(bacs) and len(addresses):
        tree = shapely.STRtree(bacs.geometry.to_numpy())
        _, dist = tree.query_nearest(addresses.geometry.to_numpy(), return_distance=True, all_matches=False)
        out["part_adresses"] = float((dist <= CONTAINER_REACH_M).mean())
    return out


def _camera_coverage(report: Any, store: LayerStore, zone: _Zone) -> dict[str, Any]:
    # the camera figures live in the report's restricted « Vidéoprotection » section
    kf = {label: value for s in report.sections if s.restricted == "videoprotection" and not s.withheld
          for label, value, _ in s.figures}
    if store.read("videoprotection", bbox=tuple(zone.geom.buffer(SOURCE_REACH_M).bounds)).empty:
        return {
            "sites": None,
            "en_service": None,
            "part_evenements": None,
            "part_surface_chaude": None,
            "simulated": None,
            "couvert": False,
        }
    cams = _in_zone(store.read("videoprotection", bbox=tuple(zone.geom.bounds)), zone)
    return {
        "sites": len(cams),
        "en_service": int((cams["status"].fillna("installée") != "hors service").sum()) if len(cams) else 0,
        "part_evenements": _clean(kf.get("Part des événements vus par une caméra")),
        "part_surface_chaude": _clean(kf.get("Part de la surface en point chaud vue")),
        "simulated": bool(cams["simulated"].fillna(False).astype(bool).any()) if len(cams) else None,
        "couvert": True,
    }
