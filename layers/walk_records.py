"""Diagnostic walks done: recording a walk and its constats, and the follow-up of open constats.

* :func:`record_walk` marks a walk « réalisé » and stores its constats (``walk_id``);
* :func:`walk_observations` returns the constats of a walk;
* :func:`previous_open_constats` lists the constats of the previous walks of the same
  quartier still open near the stops (the follow-up of the walk sheet).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from shapely.geometry import Point

from layers.errors import WalkError
from layers.schema import OPEN_STATUSES
from layers.store.base import LayerStore, WriteResult

logger = logging.getLogger(__name__)

__all__ = ["previous_open_constats", "record_walk", "walk_observations"]


def record_walk(
    store: LayerStore,
    walk_uid: str,
    *,
    participants: Sequence[str] | str,
    n_habitants: int,
    observations: gpd.GeoDataFrame | Sequence[Mapping[str, Any]] | None = None,
    n_participants: int | None = None,
    notes: str | None = None,
    actor: str | None = None,
) -> WriteResult:
    """Mark a walk as done (« réalisé ») and store the constats made on it.

    Parameters
    ----------
    store : LayerStore
    walk_uid : str
        The walk.
    participants : sequence of str or str
        Organisations represented (« Ville, Bailleur » or a list).
    n_habitants : int
        Habitants who took part.
    observations : GeoDataFrame or sequence of mappings, optional
        Constats of the walk: a frame (any CRS) or mappings with ``lon``/``lat``
        (WGS84) and the observation fields; ``walk_id`` and the source « diagnostic en
        marchant » are set. Already stored uids are left untouched.
    n_participants : int, optional
        Number of people (organisations + habitants by default).
    notes : str, optional
        Notes replacing those of the record.
    actor : str, optional
        Who records.

    Returns
    -------
    WriteResult
        The constats inserted and those already present.

    Raises
    ------
    NotFoundError
        When the walk does not exist.
    RecordError
        When a constat does not satisfy the observations schema.
    """
    row = store.get("diagnostics", walk_uid).iloc[0]
    orgs = [p.strip() for p in (participants.split(",") if isinstance(participants, str) else participants)
            if p and p.strip()]
    if n_habitants < 0:
        raise WalkError("Le nombre d'habitants ne peut pas être négatif.")
    changes: dict[str, Any] = {
        "status": "réalisé", "organisations": ", ".join(orgs), "n_habitants": int(n_habitants),
        "n_participants": int(n_participants if n_participants is not None else len(orgs) + n_habitants),
    }
    if notes is not None:
        changes["notes"] = notes
    result = WriteResult()
    with store.transaction():
        store.update("diagnostics", walk_uid, changes, actor=actor)
        if observations is not None and len(observations):
            frame = _observation_frame(store, observations, walk_uid, row)
            result = store.write("observations", frame, actor=actor)
    return result


def _observation_frame(store: LayerStore, observations: Any, walk_uid: str,
                       row: pd.Series) -> gpd.GeoDataFrame:
    if isinstance(observations, gpd.GeoDataFrame):
        frame = observations.to_crs(store.crs) if observations.crs else observations.set_crs(store.crs)
        frame = frame.copy()
    else:
        items = [dict(o) for o in observations]
        tr = Transformer.from_crs("EPSG:4326", store.crs, always_xy=True)
        geoms = []
        for item in items:
            try:
                x, y = tr.transform(float(item.pop("lon")), float(item.pop("lat")))
            except (KeyError, TypeError, ValueError):
                raise WalkError("Chaque constat doit avoir « lon » et « lat » (degrés WGS84).") from None
            geoms.append(Point(x, y))
        frame = gpd.GeoDataFrame(items, geometry=geoms, crs=store.crs)
    frame["walk_id"] = walk_uid
    if "source" not in frame or frame["source"].isna().all():
        frame["source"] = "diagnostic en marchant"
    if "observed_at" not in frame:
        frame["observed_at"] = pd.Timestamp(row["walk_date"]).isoformat()
    return frame


def walk_observations(store: LayerStore, walk_uid: str) -> gpd.GeoDataFrame:
    """Return the constats recorded on a walk (``walk_id``), oldest first."""
    store.get("diagnostics", walk_uid)
    return store.read("observations", where={"walk_id": walk_uid}, order_by="observed_at")


def previous_open_constats(store: LayerStore, walk_uid: str, *, radius_m: float = 50.0) -> gpd.GeoDataFrame:
    """Return the follow-up: constats of the previous walks of the quartier still open near this walk.

    Parameters
    ----------
    store : LayerStore
    walk_uid : str
        The walk being prepared.
    radius_m : float, default 50
        Distance from a stop (or from the track of a walk without stops).

    Returns
    -------
    geopandas.GeoDataFrame
        Open constats (status « nouveau », « transmis » or « en cours ») whose ``walk_id``
        is an earlier walk of the same quartier, with ``stop_rank`` (nearest stop, 0 when
        matched on the track), ``distance_m`` and ``walk_name``.
    """
    row = store.get("diagnostics", walk_uid).iloc[0]
    earlier = store.read("diagnostics", where={"quartier": row["quartier"]}, end=row["walk_date"])
    earlier = earlier[earlier["uid"] != walk_uid]
    empty = store.read("observations", limit=0)
    if earlier.empty:
        return _with_follow_columns(empty)
    obs = store.read("observations",
                     where={"walk_id": earlier["uid"].tolist(), "status": list(OPEN_STATUSES)})
    if obs.empty:
        return _with_follow_columns(obs)
    etapes = store.read_children("diagnostics", "etapes", parent_uids=[walk_uid])
    if len(etapes):
        pts = np.array([Point(x, y) for x, y in zip(etapes["x"], etapes["y"], strict=True)], dtype=object)
        ranks = etapes["rank"].astype(int).to_numpy()
    else:
        pts, ranks = np.array([row.geometry], dtype=object), np.array([0])
    dist = shapely.distance(obs.geometry.to_numpy()[:, None], pts[None, :])
    nearest = np.argmin(dist, axis=1)
    best = dist[np.arange(len(obs)), nearest]
    keep = best <= radius_m
    out = obs[keep].copy()
    out["stop_rank"] = ranks[nearest[keep]]
    out["distance_m"] = np.round(best[keep], 1)
    names = dict(zip(earlier["uid"], earlier["name"], strict=True))
    out["walk_name"] = out["walk_id"].map(names)
    return out.sort_values(["stop_rank", "observed_at"], kind="stable")


def _with_follow_columns(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = frame.iloc[0:0].copy()
    for col in ("stop_rank", "distance_m", "walk_name"):
        frame[col] = pd.Series(dtype=object)
    return frame
