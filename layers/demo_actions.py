"""Simulated plans d'actions and TFPB programme of the demo territory.

Montpellier publishes no plan d'actions: the demo invents, for the two quartiers holding
the most simulated constats, a plan of 15 to 25 actions each answering those constats
(the many-to-many link table), with mixed états and their history, some late with their
causes, and réalisées ones whose constats become « traité » with the action's reference.
Its orientations and objectifs are those of the Pays de Montbéliard 2025–2030 convention,
used as a model (the demo territory has no convention of its own). It also invents the
TFPB programme of one simulated bailleur (« Bailleur simulé (démo) ») for one year: two
actions per axe of the national framework, with the sous-actions of the Lillers 2023
convention, amounts, and points placed near constats on bailleur land for some and as
far as possible from them for the others.

Every record is flagged ``simulated = True`` with ``source_dataset`` = :data:`DATASET`;
the same seed writes the same records, and re-running adds nothing.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.stats.indicators import assign_quartier
from layers.conventions import Convention, import_convention, list_conventions
from layers.schema import ACTION_ORIGINS
from layers.simulate import PARTENAIRES, PILOTES
from layers.store.base import LayerStore

logger = logging.getLogger(__name__)

#: ``source_dataset`` of every simulated action.
DATASET = "simulation-plan-actions-montpellier"
#: The simulated bailleur of the TFPB programme.
BAILLEUR = "Bailleur simulé (démo)"
#: Convention whose orientations the simulated plans use as a model.
MODEL_CONVENTION = "pays-de-montbeliard-2025-2030"
#: Convention whose TFPB axes and sous-actions the simulated programme uses.
TFPB_CONVENTION = "lillers-2023"
#: Distance (m) of a « near » TFPB action from its constat on bailleur land.
NEAR_M = 30.0
_OPEN = ("nouveau", "transmis", "en cours")
#: Theme of the constats → (objectif opérationnel of the model convention, action, response type).
_ANSWERS: dict[str, tuple[str, str, str]] = {
    "propreté": ("1.2.4", "Renforcer le nettoiement des espaces extérieurs", "gestion"),
    "dépôts sauvages": ("1.2.5", "Enlever les dépôts et surveiller le site", "gestion"),
    "encombrants": ("1.2.6", "Organiser une collecte d'encombrants de pied d'immeuble", "gestion"),
    "collecte des déchets": ("1.2.7", "Adapter les points de collecte et leurs passages", "gestion"),
    "tags et graffitis": ("1.3.8", "Effacer les tags et sensibiliser les jeunes", "usage"),
    "espaces verts": ("1.1.2", "Reprendre l'entretien et la végétalisation des espaces verts", "gestion"),
    "éclairage": ("3.6.15", "Réparer et renforcer l'éclairage du cheminement", "conception"),
    "voirie": ("3.6.14", "Reprendre la chaussée et les trottoirs", "conception"),
    "stationnement": ("3.6.16", "Empêcher le stationnement gênant sur les trottoirs", "usage"),
    "mobilier urbain": ("3.6.17", "Remplacer le mobilier urbain dégradé", "conception"),
    "tranquillité": ("6.13.37", "Renforcer la présence de médiation en soirée", "usage"),
    "parties communes": ("3.8.20", "Remettre en état les parties communes avec le bailleur", "gestion"),
}
_CAUSES = (
    "attente de devis",
    "marché public en cours",
    "intempéries",
    "arbitrage budgétaire",
    "attente de l'accord du bailleur",
    "manque de personnel",
)
_EVALUATIONS = (
    "Site propre au passage de contrôle.",
    "Amélioration constatée par le conseil citoyen.",
    "Effet à confirmer au prochain diagnostic en marchant.",
)


@dataclass(frozen=True)
class ActionsSummary:
    """What the simulation of the plans d'actions wrote."""

    quartiers: tuple[str, ...]
    actions: int
    links: int
    treated: int
    tfpb: int


def _uid(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:20]


def _seed(*parts: object) -> int:
    return int(hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def import_demo_conventions(store: LayerStore) -> tuple[str, ...]:
    """Import every convention of ``data/conventions`` into ``store`` (replacing same codes)."""
    conventions = list_conventions()
    for conv in conventions:
        import_convention(store, conv)
    return tuple(c.code for c in conventions)


def busiest_quartiers(store: LayerStore, perimeters: gpd.GeoDataFrame, n: int = 2) -> list[str]:
    """Codes of the ``n`` perimeters holding the most simulated constats (ties: by code)."""
    xmin, ymin, xmax, ymax = (float(v) for v in perimeters.to_crs(store.crs).total_bounds)
    obs = store.read("observations", bbox=(xmin, ymin, xmax, ymax))
    obs = obs[obs["simulated"].fillna(False).astype(bool).to_numpy()]
    codes = assign_quartier(obs, perimeters.to_crs(store.crs)[["code", "geometry"]], code_field="code")
    counts = codes.dropna().astype(str).value_counts()
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [str(code) for code, _ in ranked[:n]]


def _constats(store: LayerStore, perimeter: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return the simulated constats inside ``perimeter``, in uid order (independent of their status)."""
    geom = shapely.union_all(perimeter.to_crs(store.crs).geometry.to_numpy())
    xmin, ymin, xmax, ymax = (float(v) for v in geom.bounds)
    obs = store.read("observations", bbox=(xmin, ymin, xmax, ymax))
    keep = obs["simulated"].fillna(False).astype(bool).to_numpy() & shapely.intersects(
        obs.geometry.to_numpy(), geom
    )
    return obs[keep].sort_values("uid", kind="stable").reset_index(drop=True)


#: Kinds of place of the simulated actions (the Annexe 1 « Lieux / Adresses » column).
_LIEUX = ("Pied d'immeuble", "Parking", "Cheminement piéton", "Aire de jeux", "Square",
          "Entrée de résidence", "Abords de l'école", "Local à ordures")


def _history(uid: str, steps: list[tuple[str, pd.Timestamp]], comment: str) -> list[dict[str, Any]]:
    return [
        {"parent_uid": uid, "status": s, "changed_at": t, "changed_by": "simulation", "comment": comment}
        for s, t in steps
    ]


@dataclass(frozen=True)
class _Plan:
    """One quartier's simulated plan: records, history, links and the constats to treat."""

    actions: list[dict[str, Any]]
    geoms: list[Any]
    history: list[dict[str, Any]]
    links: list[dict[str, Any]]
    treat: list[tuple[str, str, pd.Timestamp]]


def _answers(conv: Convention | None) -> dict[str, tuple[str, str]]:
    """Objectif opérationnel code → (orientation code, indicateurs of its fiche action)."""
    if conv is None:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for orientation in conv.orientations:
        for general in orientation.objectifs_generaux:
            sheet = next(
                (
                    f
                    for f in conv.fiches_action
                    if general.code.split(".")[0] == f.orientation
                    and any(o.code in f.objectifs_operationnels for o in general.objectifs_operationnels)
                ),
                None,
            )
            for op in general.objectifs_operationnels:
                out[op.code] = (orientation.code, " ; ".join(sheet.indicateurs) if sheet else "")
    return out


def _state(rng: np.random.Generator) -> str:
    return str(
        rng.choice(
            ["réalisée", "engagée", "à engager", "reportée", "abandonnée"], p=[0.36, 0.26, 0.14, 0.16, 0.08]
        )
    )


def _timeline(rng: np.random.Generator, etat: str, decided: pd.Timestamp) -> dict[str, Any]:
    """Délai, réalisation date and état steps of one action."""
    kind = rng.random()
    if etat in ("réalisée", "abandonnée") or kind < 0.55:
        deadline: pd.Timestamp | None = decided + pd.Timedelta(days=int(rng.integers(45, 200)))
    elif kind < 0.8:
        deadline = pd.Timestamp("2030-12-31")  # fin de la convention modèle
    else:
        deadline = None  # sans délai
    steps = [("à engager", decided)]
    resolved = None
    if etat != "à engager":
        steps.append(("engagée", decided + pd.Timedelta(days=int(rng.integers(3, 30)))))
    if etat == "reportée":
        steps.append(("reportée", steps[-1][1] + pd.Timedelta(days=int(rng.integers(20, 90)))))
    if etat in ("réalisée", "abandonnée"):
        resolved = steps[-1][1] + pd.Timedelta(days=int(rng.integers(10, 150)), hours=10)
        steps.append((etat, resolved))
    return {"deadline": deadline, "resolved_at": resolved, "steps": steps}


def _plan(code: str, constats: gpd.GeoDataFrame, *, seed: int, conv: Convention | None) -> _Plan:
    rng = np.random.default_rng(_seed(seed, "plan", code))
    answers = _answers(conv)
    n = int(rng.integers(15, 26))
    xy = shapely.get_coordinates(constats.geometry.to_numpy())
    actions, geoms, history, links, treat = [], [], [], [], []
    is_open = constats["status"].isin(_OPEN).to_numpy()
    seen = pd.to_datetime(constats["observed_at"])
    used: set[int] = set()
    for i in range(1, min(n, len(constats)) + 1):
        etat = _state(rng)
        # a réalisée action answers open constats when there are some (they become « traité »)
        wanted = is_open if etat == "réalisée" and is_open.any() else np.ones(len(constats), dtype=bool)
        pool = [j for j in np.flatnonzero(wanted) if j not in used]
        a = int(pool[int(rng.integers(0, len(pool)))]) if pool else int(rng.integers(0, len(constats)))
        used.add(a)
        anchor = constats.iloc[a]
        theme = str(anchor["theme"])
        # the same problem nearby, seen in the two months before the anchor constat
        gap = (seen[a] - seen).dt.days.to_numpy()
        same = (
            (constats["theme"] == theme).to_numpy()
            & (np.hypot(*(xy - xy[a]).T) < 150)
            & (gap >= 0)
            & (gap <= 60)
        )
        others = [j for j in np.flatnonzero(same) if j != a][: int(rng.integers(0, 4))]
        members = constats.iloc[[a, *others]]
        objectif, title, response = _answers_for(theme)
        orientation, indicateurs = answers.get(objectif, (objectif.split(".")[0], ""))
        decided = pd.to_datetime(members["observed_at"]).max() + pd.Timedelta(days=int(rng.integers(7, 35)))
        decided = decided.normalize()
        tl = _timeline(rng, etat, decided)
        uid = _uid("demo-action", seed, code, i)
        reference = f"{code}-{decided.year}-{i:03d}"
        partners = rng.choice(PARTENAIRES, size=int(rng.integers(1, 4)), replace=False)
        late_cause = etat in ("reportée", "engagée", "à engager") and rng.random() < 0.7
        actions.append(
            {
                "uid": uid,
                "reference": reference,
                "title": title,
                "decided_at": decided.date(),
                "quartier": code,
                "convention": MODEL_CONVENTION,
                "orientation": orientation,
                "objectif": objectif,
                "axe": conv_axe(conv, orientation),
                "probleme": f"{theme} signalé(s) à proximité du {anchor['address']}",
                "lieu": _LIEUX[i % len(_LIEUX)],
                "address": str(anchor["address"]),
                "origine": str(rng.choice(ACTION_ORIGINS[:5])),
                "response_type": response,
                "description": f"Action simulée (démo) : {title.lower()} ({len(members)} constat(s)).",
                "indicateurs": indicateurs,
                "pilote": str(rng.choice(PILOTES)),
                "partenaires": (", " if i % 2 else " ; ").join(str(p) for p in partners),
                "deadline": tl["deadline"].date() if tl["deadline"] is not None else None,
                "etat": etat,
                "delay_causes": " ; ".join(rng.choice(_CAUSES, size=int(rng.integers(1, 3)), replace=False))
                if late_cause
                else None,
                "evaluation": str(rng.choice(_EVALUATIONS)) if etat == "réalisée" else None,
                "resolved_at": tl["resolved_at"],
                "tfpb": False,
                "simulated": True,
                "source_dataset": DATASET,
                "source_id": uid,
            }
        )
        geoms.append(None if rng.random() < 0.1 else shapely.Point(xy[a]))
        history += _history(uid, tl["steps"], "historique simulé")
        for c in members["uid"]:
            links.append(
                {"parent_uid": uid, "constat_uid": str(c), "linked_at": decided, "linked_by": "simulation"}
            )
            if etat == "réalisée":
                treat.append((str(c), reference, tl["resolved_at"]))
    return _Plan(actions, geoms, history, links, treat)


def _answers_for(theme: str) -> tuple[str, str, str]:
    return _ANSWERS.get(theme, ("2.4.10", f"Traiter le dysfonctionnement « {theme} »", "gestion"))


def conv_axe(conv: Convention | None, orientation: str) -> str | None:
    """Axe of ``orientation`` in ``conv`` (None when unknown)."""
    if conv is None:
        return None
    return next((o.axe for o in conv.orientations if o.code == orientation), None)


def _tfpb(
    constats: gpd.GeoDataFrame,
    codes: pd.Series,
    *,
    seed: int,
    year: int,
    today: date,
    conv: Convention | None,
) -> _Plan:
    """Return two actions per TFPB axe of the simulated bailleur, near or far from its constats."""
    rng = np.random.default_rng(_seed(seed, "tfpb", year))
    axes = [(a.code, a.titre, a.sous_actions) for a in conv.tfpb_axes] if conv else []
    on_land = constats[(constats["domanialite"] == "bailleur").to_numpy()]
    land_xy = shapely.get_coordinates(on_land.geometry.to_numpy())
    all_xy = shapely.get_coordinates(constats.geometry.to_numpy())
    tree = shapely.STRtree(on_land.geometry.to_numpy())
    nearest_d = tree.query_nearest(shapely.points(all_xy), return_distance=True)[1]
    far_order = np.argsort(-nearest_d, kind="stable")
    actions, geoms, history, links = [], [], [], []
    horizon = pd.Timestamp(today) - pd.Timedelta(days=1)
    for k, (axe, titre, sous) in enumerate((ax for ax in axes for _ in range(2)), start=1):
        near = k % 3 != 0
        if near:
            j = int(rng.integers(0, len(on_land)))
            x, y = land_xy[j]
            ang = rng.uniform(0, 2 * np.pi)
            point = shapely.Point(
                x + NEAR_M * np.cos(ang) * rng.random(), y + NEAR_M * np.sin(ang) * rng.random()
            )
            constat, code = str(on_land["uid"].iloc[j]), codes.loc[on_land.index[j]]
        else:
            j = int(far_order[k % max(len(far_order) // 20, 1)])
            point, constat, code = shapely.Point(all_xy[j]), None, codes.iloc[j]
        decided = min(pd.Timestamp(year, 1, 10) + pd.Timedelta(days=int(rng.integers(0, 80))), horizon)
        planned = float(rng.integers(20, 400) * 100)
        etat = str(rng.choice(["réalisée", "engagée", "à engager", "reportée"], p=[0.35, 0.4, 0.1, 0.15]))
        resolved = decided + pd.Timedelta(days=int(rng.integers(20, 240)), hours=9)
        if etat == "réalisée" and resolved > horizon:
            etat = "engagée"
        uid = _uid("demo-tfpb", seed, year, k)
        steps = [("à engager", decided)]
        if etat != "à engager":
            steps.append(("engagée", decided + pd.Timedelta(days=5)))
        if etat == "reportée":
            steps.append(("reportée", decided + pd.Timedelta(days=40)))
        if etat == "réalisée":
            steps.append(("réalisée", resolved))
        committed = round(planned * float(rng.uniform(0.3, 1.05)), -2) if etat != "à engager" else 0.0
        actions.append(
            {
                "uid": uid,
                "reference": f"TFPB-DEMO-{year}-{k:03d}",
                "title": f"{titre} : {sous[k % len(sous)]}",
                "decided_at": decided.date(),
                "quartier": str(code),
                "convention": TFPB_CONVENTION,
                "description": f"Action TFPB simulée (démo) du bailleur : {sous[k % len(sous)]}.",
                "pilote": BAILLEUR,
                "partenaires": "Ville, Conseil citoyen",
                "deadline": date(year, 12, 31),
                "etat": etat,
                "resolved_at": resolved if etat == "réalisée" else None,
                "delay_causes": "arbitrage budgétaire" if etat == "reportée" else None,
                "tfpb": True,
                "bailleur": BAILLEUR,
                "tfpb_year": year,
                "tfpb_axe": axe,
                "tfpb_sous_action": sous[k % len(sous)],
                "amount_planned": planned,
                "amount_committed": committed,
                "amount_deferred": max(round(planned - committed, -2), 0.0) if etat == "reportée" else 0.0,
                "amount_valued": committed if etat == "réalisée" else 0.0,
                "simulated": True,
                "source_dataset": DATASET,
                "source_id": uid,
            }
        )
        geoms.append(point)
        history += _history(uid, steps, "historique simulé")
        if constat:
            links.append(
                {"parent_uid": uid, "constat_uid": constat, "linked_at": decided, "linked_by": "simulation"}
            )
    return _Plan(actions, geoms, history, links, [])


def simulate_action_plans(
    store: LayerStore,
    perimeters: gpd.GeoDataFrame,
    *,
    seed: int = 2025,
    year: int | None = None,
    today: date | None = None,
) -> ActionsSummary:
    """Write the simulated plans d'actions of the two busiest quartiers and the TFPB programme.

    Parameters
    ----------
    store : LayerStore
        Holds the simulated constats (:func:`layers.simulate.simulate_territory`); the
        conventions of ``data/conventions`` are imported into it.
    perimeters : geopandas.GeoDataFrame
        Candidate quartiers (``code``).
    seed : int
        The same seed writes the same records.
    year : int, optional
        Year of the TFPB programme: by default the latest year of the simulated constats (so
        that the programme is compared with the constats of its own year, on the TFPB page
        and in the dashboards), never after ``today``.
    today : date, optional
        No date of the programme lies after it (today by default).

    Returns
    -------
    ActionsSummary
        What was added (0 on a re-run).
    """
    today = today or date.today()
    import_demo_conventions(store)
    conventions = {c.code: c for c in list_conventions()}
    codes = busiest_quartiers(store, perimeters)
    if not codes:
        raise ValueError("Aucun constat simulé dans les quartiers : lancez d'abord la simulation.")
    plans, pool = [], []
    for code in codes:
        constats = _constats(store, perimeters[perimeters["code"] == code])
        plans.append(_plan(code, constats, seed=seed, conv=conventions.get(MODEL_CONVENTION)))
        pool.append(constats.assign(_code=code))
    both = pd.concat(pool, ignore_index=True)
    if year is None:
        seen = pd.to_datetime(both["observed_at"]).dt.year
        year = min(int(seen.max()), today.year) if len(seen) else today.year
    plans.append(
        _tfpb(
            gpd.GeoDataFrame(both, geometry="geometry", crs=store.crs),
            both["_code"],
            seed=seed,
            year=year,
            today=today,
            conv=conventions.get(TFPB_CONVENTION),
        )
    )
    records = gpd.GeoDataFrame(
        [a for p in plans for a in p.actions], geometry=[g for p in plans for g in p.geoms], crs=store.crs
    )
    history = pd.DataFrame([h for p in plans for h in p.history])
    links = pd.DataFrame([lk for p in plans for lk in p.links])
    treated = 0
    with store.transaction():
        written = store.write("actions", records, actor="simulation", history=history)
        # links and « traité » only for the actions just written: a re-run adds nothing
        new = set(written.inserted)
        links = links[links["parent_uid"].isin(new)] if len(links) else links
        linked = store.add_children("actions", "constats", links, actor="simulation") if len(links) else None
        fresh = {a["reference"] for p in plans for a in p.actions if a["uid"] in new}
        treat = [t for p in plans for t in p.treat if t[1] in fresh]
        status = store.read("observations", uids=sorted({t[0] for t in treat}))
        still_open = set(status.loc[status["status"].isin(_OPEN), "uid"].astype(str))
        for uid, ref, when in treat:
            if uid in still_open:
                store.update(
                    "observations",
                    uid,
                    {"status": "traité", "action_reference": ref, "resolved_at": when},
                    actor="simulation",
                    comment=f"traité par l'action {ref}",
                )
                still_open.discard(uid)
                treated += 1
    n_tfpb = int(records.loc[records["uid"].isin(written.inserted), "tfpb"].sum())
    summary = ActionsSummary(
        tuple(codes), written.n_inserted, linked.n_inserted if linked else 0, treated, n_tfpb
    )
    logger.info("simulated plans d'actions: %s", summary)
    return summary
