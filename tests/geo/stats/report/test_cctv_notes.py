"""The CCTV section states the cameras' assumed parameters and its covered share honestly.

Real Montpellier cameras and building footprints, made messy on purpose: some cameras get
a range of their own (others none, 0 or a negative value: assumed), some a direction and
field of view (others a full disc); the events are real Montpellier address points.
"""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from scipy.spatial import cKDTree

from geo.stats.coverage import cctv_coverage
from geo.stats.report._cctv_notes import cctv_notes

R = 50.0


@pytest.fixture(scope="module")
def montpellier(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    folder = shared_data / "montpellier"
    cams = gpd.read_file(folder / "VilleMTP_MTP_CameraSurv.geojson").set_crs(2154, allow_override=True)
    rng = np.random.default_rng(16)
    n = len(cams)
    ranges = rng.choice([np.nan, 0.0, -5.0, 30.0, 80.0], n, p=[0.4, 0.1, 0.1, 0.2, 0.2])
    sector = rng.random(n) < 0.3
    cams = cams.assign(range_m=ranges, azimuth_deg=np.where(sector, rng.uniform(0, 360, n), np.nan),
                       fov_deg=np.where(sector, 60.0, np.nan))
    blds = gpd.read_file(f"zip://{folder / 'VilleMTP_MTP_Batiments.zip'}", encoding="cp1252").to_crs(2154)
    adr = gpd.read_file(f"zip://{folder / 'VilleMTP_MTP_PointAdresse.zip'}", encoding="cp1252")
    adr = adr.set_crs(2154, allow_override=True)
    x0, y0, x1, y1 = cams.total_bounds
    events = adr.cx[x0:x1, y0:y1].iloc[::7]
    return {"cams": cams, "buildings": blds, "events": events}


def _pct(share: float) -> str:
    return f"{100 * share:.1f}".replace(".", ",") + " %"


def test_notes_count_the_assumptions_and_state_the_share(montpellier: dict[str, gpd.GeoDataFrame]) -> None:
    cams, blds, events = montpellier["cams"], montpellier["buildings"], montpellier["events"]
    cov = cctv_coverage(events, cams, buildings=blds, range_m=R)
    notes = cctv_notes(cov)
    n = len(cams)
    assumed = int((~(cams["range_m"] > 0)).sum())  # NaN, 0 and negative ranges
    discs = int(cams["azimuth_deg"].isna().sum())
    assert 0 < assumed < n and 0 < discs < n
    share = notes[0]
    seen = float(cov.events["seen"].mean())
    assert share.startswith(f"Part couverte : {_pct(seen)} des {len(events)} événements analysés "
                            f"({int(cov.events['seen'].sum())})")
    assert f"portée supposée pour {assumed} sur {n}" in share
    assert f"direction inconnue (disque complet) pour {discs} sur {n}" in share
    assert "un maximum" not in share  # buildings were used
    assert "ne veut pas dire avoir été filmé" in share
    # no event farther than its camera's reach can be seen: the share is at most that fraction
    reach = np.where(cams["range_m"] > 0, cams["range_m"], R)
    exy = np.column_stack([events.geometry.x, events.geometry.y])
    cxy = np.column_stack([cams.geometry.x, cams.geometry.y])
    within = np.zeros(len(events), dtype=bool)
    for idx in cKDTree(exy).query_ball_point(cxy, reach + 1e-6):
        within[idx] = True
    assert 0 < seen <= within.mean()
    assert notes[1] == (f"Portée : 50 m supposés pour {assumed} caméras sur {n} (la source ne donne pas "
                        f"leur portée) ; portée de la source pour {n - assumed}.")
    assert notes[2] == (f"Champ : disque complet pour {discs} caméras sur {n} (direction et angle "
                        f"inconnus) ; secteur de la source pour {n - discs}.")
    # own building: the footprints containing a camera or within 1 m of it, counted apart
    solid = blds.geometry.to_numpy()
    tree = shapely.STRtree(solid)
    near = tree.query(cams.geometry.to_numpy(), predicate="dwithin", distance=1.0)
    own = len(np.unique(near[0]))
    inside = len(np.unique(tree.query(cams.geometry.to_numpy(), predicate="within")[0]))
    assert own >= 4 and inside >= 1
    assert notes[4].startswith(f"Bâtiment de la caméra : {own} sur {n} sont dans leur bâtiment ou à moins "
                               "de 1 m")
    assert f" {inside} placée" in notes[4] and "sur la façade la plus proche (jusqu'à " in notes[4]
    assert notes[-1].startswith("Hauteurs : non utilisées")


def test_without_buildings_the_share_is_a_maximum(montpellier: dict[str, gpd.GeoDataFrame]) -> None:
    cams = montpellier["cams"].assign(range_m=np.nan, azimuth_deg=np.nan, fov_deg=np.nan)
    cov = cctv_coverage(montpellier["events"], cams, range_m=R)
    notes = cctv_notes(cov)
    assert "la part est un maximum" in notes[0]
    n = len(cams)
    assert notes[1].endswith(f"pour {n} caméras sur {n} (la source ne donne pas leur portée).")
    assert notes[3] == "Bâtiments : aucune emprise connue ici, les vues ne sont pas masquées."
    # full 50 m discs, nothing masked: seen exactly when a camera is within 50 m
    d, _ = cKDTree(np.column_stack([cams.geometry.x, cams.geometry.y])).query(
        np.column_stack([montpellier["events"].geometry.x, montpellier["events"].geometry.y]))
    assert cov.share_events_seen == pytest.approx(float((d <= R).mean()), abs=2 / len(d))
    assert math.isfinite(cov.share_events_seen)
