"""Seeded simulator for what no real open data covers on the demo territory.

Montpellier publishes no GUSP observations, dumping events, gauge readings or NPNRU
operations. This module invents plausible ones, always flagged ``simulated = True`` and
tagged with a ``simulation-…`` dataset, so that the map, the lists and the reports show
them as simulated. The same seed gives the same records (re-running adds nothing).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

PILOTES = ("Ville — propreté", "Ville — voirie", "Métropole — collecte", "Bailleur social",
           "Police municipale", "Ville — espaces verts", "Ville — éclairage")
PARTENAIRES = ("Bailleur social", "Conseil citoyen", "Régie de quartier", "Métropole",
               "Association de locataires", "Délégué du préfet")
_THEME_WEIGHTS = {
    "propreté": 18, "dépôts sauvages": 16, "encombrants": 12, "éclairage": 6, "voirie": 8,
    "mobilier urbain": 5, "espaces verts": 7, "stationnement": 8, "tranquillité": 6,
    "parties communes": 7, "tags et graffitis": 4, "collecte des déchets": 3,
}
NPNRU_QUARTIERS = ("QP034005", "QP034008", "QP034006")  # Mosson, Cévennes, Petit Bard Pergola


@dataclass(frozen=True)
class SimulationSummary:
    """How many simulated records were written per layer."""

    observations: int
    points_noirs: int
    evenements: int
    bacs: int
    releves: int
    levees: int
    travaux: int


def _uid(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:20]


@dataclass(frozen=True)
class _Ground:
    """What every simulated layer draws from: the generator, the period and the addresses."""

    rng: np.random.Generator
    seed: int
    t0: pd.Timestamp
    span_days: int
    anchors: np.ndarray
    labels: np.ndarray
    crs: Any

    @property
    def end(self) -> pd.Timestamp:
        """The day after the simulated period."""
        return self.t0 + pd.Timedelta(days=self.span_days)


def simulate_territory(
    store: LayerStore,
    perimeters: gpd.GeoDataFrame,
    *,
    seed: int = 2025,
    start: str = "2023-01-01",
    months: int = 24,
    n_observations: int = 1500,
    n_points_noirs: int = 24,
    n_bacs: int = 36,
) -> SimulationSummary:
    """Write simulated GUSP records for ``perimeters`` into ``store``.

    Parameters
    ----------
    store : LayerStore
        Destination; its ``adresses`` layer anchors the records on real addresses.
    perimeters : geopandas.GeoDataFrame
        The QPV to populate (``code`` column).
    seed : int
        Random seed: the same seed writes the same records.
    start : str
        First day of the simulated period.
    months : int
        Length of the period.
    n_observations, n_points_noirs, n_bacs : int
        Sizes.

    Returns
    -------
    SimulationSummary
    """
    rng = np.random.default_rng(seed)
    t0 = pd.Timestamp(start)
    span_days = int((t0 + pd.DateOffset(months=months) - t0).days)
    perimeters = perimeters.to_crs(store.crs)
    addresses = store.read("adresses", bbox=tuple(perimeters.total_bounds))
    joined = gpd.sjoin(addresses[["street", "number", "geometry"]],
                       perimeters[["code", "geometry"]], predicate="within")
    if joined.empty:
        raise ValueError("Aucune adresse dans les périmètres : importez d'abord les adresses.")
    labels = (joined["number"].astype("string").fillna("") + " " + joined["street"].astype(str)).to_numpy()
    ground = _Ground(rng=rng, seed=seed, t0=t0, span_days=span_days, anchors=joined.geometry.to_numpy(),
                     labels=labels, crs=store.crs)
    obs, history = _observations(ground, n_observations)
    points_noirs, evenements = _points_noirs(ground, n_points_noirs)
    bacs, releves, levees = _bacs(ground, n_bacs)
    travaux = _travaux(ground, perimeters, joined)

    with store.transaction():
        r_obs = store.write("observations", obs, actor="simulation", history=history)
        r_pn = store.write("points_noirs", points_noirs, actor="simulation")
        r_ev = store.add_children("points_noirs", "evenements", evenements)
        r_bacs = store.write("bacs", bacs, actor="simulation")
        r_rel = store.add_children("bacs", "releves", releves)
        r_lev = store.add_children("bacs", "levees", levees)
        r_tr = store.write("travaux_npnru", travaux, actor="simulation")
    summary = SimulationSummary(r_obs.n_inserted, r_pn.n_inserted, r_ev.n_inserted, r_bacs.n_inserted,
                                r_rel.n_inserted, r_lev.n_inserted, r_tr.n_inserted)
    logger.info("simulation: %s", summary)
    return summary


def _observations(ground: _Ground, n_observations: int) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Observations with their status history."""
    rng, t0, span_days = ground.rng, ground.t0, ground.span_days
    anchors, labels = ground.anchors, ground.labels
    themes = list(_THEME_WEIGHTS)
    weights = np.array([_THEME_WEIGHTS[t] for t in themes], dtype=float)
    idx = rng.integers(0, len(anchors), n_observations)
    geoms = shapely.points(shapely.get_x(anchors[idx]) + rng.normal(0, 8, n_observations),
                           shapely.get_y(anchors[idx]) + rng.normal(0, 8, n_observations))
    observed = t0 + pd.to_timedelta(rng.uniform(0, span_days, n_observations), unit="D")
    observed = observed.floor("min")
    theme = rng.choice(themes, n_observations, p=weights / weights.sum())
    delay_days = rng.gamma(1.6, 9.0, n_observations)
    resolved = observed + pd.to_timedelta(delay_days, unit="D")
    done = (resolved < ground.end) & (rng.random(n_observations) < 0.85)
    status = np.where(done, np.where(rng.random(n_observations) < 0.92, "traité", "clos non traité"),
                      rng.choice(["nouveau", "transmis", "en cours"], n_observations, p=[.3, .3, .4]))
    uids = [_uid("sim-obs", ground.seed, i) for i in range(n_observations)]
    obs = gpd.GeoDataFrame({
        "uid": uids,
        "observed_at": observed,
        "theme": theme,
        "description": [f"Constat simulé : {t} à proximité du {a}"
                        for t, a in zip(theme, labels[idx], strict=True)],
        "address": labels[idx],
        "status": status,
        "source": rng.choice(["diagnostic en marchant", "habitant", "gardien", "patrouille"],
                             n_observations, p=[.25, .35, .25, .15]),
        "pilote": rng.choice(PILOTES, n_observations),
        "partenaires": rng.choice(PARTENAIRES, n_observations),
        "domanialite": rng.choice(["publique", "bailleur", "copropriété", "mixte"], n_observations,
                                  p=[.55, .3, .1, .05]),
        "deadline": (observed + pd.Timedelta(days=30)).normalize(),
        "resolved_at": pd.Series(resolved).where(done).to_numpy(),
        "simulated": True,
        "source_dataset": "simulation-montpellier",
    }, geometry=geoms, crs=ground.crs)
    return obs, _status_history(uids, observed, status, obs["resolved_at"])


def _status_history(uids: list[str], observed: Any, status: np.ndarray, resolved: pd.Series) -> pd.DataFrame:
    """Return the status changes leading each observation to its current status."""
    hist_rows = []
    for u, t_obs, st, t_res in zip(uids, observed, status, resolved, strict=True):
        hist_rows.append((u, "nouveau", t_obs, "simulation"))
        if st != "nouveau":
            hist_rows.append((u, "transmis", t_obs + pd.Timedelta(hours=6), "simulation"))
        if st in ("en cours", "traité", "clos non traité"):
            hist_rows.append((u, "en cours", t_obs + pd.Timedelta(days=1), "simulation"))
        if st in ("traité", "clos non traité"):
            hist_rows.append((u, st, t_res, "simulation"))
    history = pd.DataFrame(hist_rows, columns=["parent_uid", "status", "changed_at", "changed_by"])
    history["comment"] = "historique simulé"
    return history


def _points_noirs(ground: _Ground, n_points_noirs: int) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Points noirs and their dumping events."""
    rng, t0, span_days = ground.rng, ground.t0, ground.span_days
    anchors, labels = ground.anchors, ground.labels
    pn_idx = rng.choice(len(anchors), n_points_noirs, replace=False)
    pn_uids = [_uid("sim-pn", ground.seed, i) for i in range(n_points_noirs)]
    points_noirs = gpd.GeoDataFrame({
        "uid": pn_uids,
        "name": [f"Point noir {i + 1:02d} — {labels[j]}" for i, j in enumerate(pn_idx)],
        "address": labels[pn_idx],
        "first_seen": t0.normalize(),
        "status": rng.choice(["actif", "sous surveillance", "résorbé"], n_points_noirs, p=[.6, .3, .1]),
        "description": "Site de dépôts récurrents (simulé)",
        "manager": "Ville — propreté (simulé)",  # the city's technicians record its dumping events
        "simulated": True,
        "source_dataset": "simulation-montpellier",
    }, geometry=anchors[pn_idx], crs=ground.crs)
    events = []
    for u in pn_uids:
        rate = rng.uniform(0.05, 0.4)  # events per day
        t = rng.uniform(0, 20)
        while t < span_days:
            when = t0 + pd.Timedelta(days=float(t))
            cleaned = when + pd.Timedelta(days=float(rng.gamma(1.5, 2.0)))
            events.append((u, when.floor("min"), rng.choice(
                ["encombrants", "ordures ménagères", "gravats", "déchets verts", "électroménager", "mixte"]),
                round(float(rng.gamma(2.0, 0.6)), 2), cleaned.floor("min")))
            t += rng.exponential(1 / rate)
    evenements = pd.DataFrame(events, columns=["parent_uid", "observed_at", "waste_type", "volume_m3",
                                               "cleaned_at"])
    evenements["description"] = "dépôt simulé"
    evenements["simulated"] = True
    evenements["source_dataset"] = "simulation-montpellier"
    return points_noirs, evenements


def _bacs(ground: _Ground, n_bacs: int) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame]:
    """Bacs enterrés with gauges: the bacs, their readings and their collections."""
    rng, anchors = ground.rng, ground.anchors
    bac_idx = rng.choice(len(anchors), n_bacs, replace=False)
    bac_uids = [_uid("sim-bac", ground.seed, i) for i in range(n_bacs)]
    flux = rng.choice(["OM", "tri", "verre", "biodéchets"], n_bacs, p=[.45, .3, .15, .1])
    bacs = gpd.GeoDataFrame({
        "uid": bac_uids,
        "name": [f"Bac enterré {i + 1:02d}" for i in range(n_bacs)],
        "flux": flux,
        "kind": "enterré",
        "capacity_l": rng.choice([3000.0, 4000.0, 5000.0], n_bacs),
        "has_gauge": True,
        "address": ground.labels[bac_idx],
        "manager": "Métropole (simulé)",
        "simulated": True,
        "source_dataset": "simulation-montpellier",
    }, geometry=shapely.points(shapely.get_x(anchors[bac_idx]) + 5, shapely.get_y(anchors[bac_idx]) + 5),
        crs=ground.crs)
    readings, collections = [], []
    reading_days = min(ground.span_days, 365)
    first = ground.end - pd.Timedelta(days=reading_days)
    for u, fl in zip(bac_uids, flux, strict=True):
        fill = rng.uniform(0, 30)
        daily = {"OM": 14.0, "tri": 9.0, "verre": 4.0, "biodéchets": 11.0}[str(fl)] * rng.uniform(.6, 1.4)
        for d in range(reading_days):
            day = first + pd.Timedelta(days=d, hours=6)
            fill = min(100.0, fill + daily * rng.uniform(.5, 1.5))
            readings.append((u, day, round(fill, 1)))
            if fill >= 80 or (d % 7 == 3 and fill > 50):
                collections.append((u, day + pd.Timedelta(hours=4), round(fill * 3.2, 0)))
                fill = rng.uniform(0, 5)
    releves = pd.DataFrame(readings, columns=["parent_uid", "measured_at", "fill_pct"])
    levees = pd.DataFrame(collections, columns=["parent_uid", "collected_at", "weight_kg"])
    for frame in (releves, levees):
        frame["simulated"] = True
        frame["source_dataset"] = "simulation-montpellier"
    return bacs, releves, levees


def _travaux(ground: _Ground, perimeters: gpd.GeoDataFrame, joined: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """NPNRU operations in the renewed quartiers among ``perimeters``."""
    rng, t0, span_days, end = ground.rng, ground.t0, ground.span_days, ground.end
    kinds = ["démolition", "construction", "réhabilitation", "résidentialisation",
             "aménagement d'espace public", "équipement"]
    ops: list[dict[str, object]] = []
    for q in NPNRU_QUARTIERS:
        zone = perimeters[perimeters["code"] == q]
        if zone.empty:
            continue
        inside = joined[joined["code"] == q].geometry.to_numpy()
        if not len(inside):  # no address to anchor works on
            continue
        for k in range(5):
            centre = inside[rng.integers(0, len(inside))]
            kind = kinds[(k + len(ops)) % len(kinds)]
            begin = t0 + pd.Timedelta(days=int(rng.integers(-400, span_days)))
            finish = begin + pd.Timedelta(days=int(rng.integers(180, 900)))
            phase = "livrée" if finish < end else ("en cours" if begin < end else "programmée")
            geom = centre.buffer(float(rng.uniform(25, 60)), quad_segs=4) if k % 2 == 0 else centre
            ops.append({"uid": _uid("sim-npnru", ground.seed, q, k),
                        "name": f"{kind.capitalize()} — {q} n°{k + 1}",
                        "kind": kind, "dwellings": int(rng.integers(0, 180)) if kind in kinds[:3] else 0,
                        "phase": phase, "start_date": begin.normalize(), "end_date": finish.normalize(),
                        "quartier": q, "maitre_ouvrage": "Bailleur / Ville (simulé)",
                        "simulated": True, "source_dataset": "simulation-montpellier", "geometry": geom})
    if not ops:  # none of the renewed quartiers among these perimeters
        return gpd.GeoDataFrame({"uid": pd.Series(dtype=str)}, geometry=gpd.GeoSeries([], crs=ground.crs))
    return gpd.GeoDataFrame(ops, geometry="geometry", crs=ground.crs)
