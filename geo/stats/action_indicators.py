"""Indicators of a plan d'actions: états, délais, retards, time from constat to action, TFPB amounts.

Pure computations on data frames (no store, no rendering). The frames are those of the
``actions`` layer (columns ``uid``, ``etat``, ``deadline``, ``resolved_at``, ``pilote``,
``partenaires``, ``delay_causes``, ``simulated``, ``tfpb``, ``tfpb_axe``, ``amount_*``),
of its ``constats`` link table (``parent_uid``, ``constat_uid``) and of the linked
``observations`` (``uid``, ``observed_at``). Missing columns are read as unknown.

Conventions (the issue's rules « unknown ≠ 0 »):

- an action is **late** when its délai is before ``today`` and its état is « à engager »,
  « engagée » or « reportée »; an action without délai is never late (« sans délai »);
- the **share réalisées within their délai** is ``réalisées with resolved_at <= délai``
  over the actions with a délai that are réalisées or whose délai is past; ``None``
  (« n.d. ») when that denominator is 0; a réalisée action without ``resolved_at`` cannot
  be judged and is left out of both;
- the **time from constat to action réalisée** is, per réalisée action, ``resolved_at``
  minus the earliest ``observed_at`` of its linked constats (days, negative gaps dropped);
  its median is ``None`` when no action qualifies;
- **TFPB amounts by axe** sum the actions of each axe; an axe whose actions leave an
  amount blank gets ``NaN`` for that amount (a partial sum would be read as the total).

Every figure carries the number of simulated actions behind it (``simulated``), so that
what shows it can say « dont N simulées ».
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

__all__ = [
    "AMOUNT_COLUMNS",
    "LATE_STATES",
    "NO_ACTOR",
    "NO_CAUSE",
    "STATES",
    "ActionIndicators",
    "action_indicators",
    "actions_by_state",
    "constat_delays",
    "delay_causes",
    "grouped_indicators",
    "is_late",
    "on_time",
    "split_partners",
    "tfpb_by_axe",
]

#: États d'avancement, in workflow order (those of ``layers.schema.ACTION_STATES``).
STATES = ("à engager", "engagée", "réalisée", "reportée", "abandonnée")
#: États of an action still to deliver: late once their délai is past.
LATE_STATES = ("à engager", "engagée", "reportée")
#: Cause shown for a late action whose causes are not filled in.
NO_CAUSE = "non renseignée"
#: Pilote / partenaire shown for an action that names none.
NO_ACTOR = "non renseigné"
#: TFPB amount columns and their French headings.
AMOUNT_COLUMNS = {
    "amount_planned": "Prévisionnel (€)",
    "amount_committed": "Engagé (€)",
    "amount_deferred": "Reporté (€)",
    "amount_valued": "Valorisé (€)",
}
_PARTNER_SEP = re.compile(r"\s*[,;]\s*")
_CAUSE_SEP = re.compile(r"\s*[;\n]\s*")


# --------------------------------------------------------------------------- columns


def _col(frame: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` of ``frame`` (all missing when absent), aligned on its index."""
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _day(series: pd.Series) -> pd.Series:
    """Dates (or datetimes) as naive day timestamps; unreadable → NaT."""
    out = pd.to_datetime(series, errors="coerce", utc=True)
    return out.dt.tz_localize(None).dt.normalize()


def _simulated(frame: pd.DataFrame) -> pd.Series:
    return _col(frame, "simulated").fillna(False).astype(bool)


def _state(frame: pd.DataFrame) -> pd.Series:
    return _col(frame, "etat").astype(object).where(_col(frame, "etat").notna(), None)


# --------------------------------------------------------------------------- per action


def is_late(actions: pd.DataFrame, *, today: date) -> pd.Series:
    """Tell, per action, whether its délai is before ``today`` while it is still to deliver."""
    deadline = _day(_col(actions, "deadline"))
    late = (deadline < pd.Timestamp(today)) & _state(actions).isin(LATE_STATES)
    return late.fillna(False).astype(bool)


def actions_by_state(actions: pd.DataFrame) -> pd.DataFrame:
    """Count the actions per état (every état, in workflow order; unknown états last).

    Returns
    -------
    pandas.DataFrame
        ``État``, ``Actions``, ``dont simulées``.
    """
    state = _state(actions).fillna("non renseigné")
    sim = _simulated(actions)
    extra = sorted(set(state) - set(STATES))
    rows = [(s, int((state == s).sum()), int((sim & (state == s)).sum())) for s in (*STATES, *extra)]
    return pd.DataFrame(rows, columns=["État", "Actions", "dont simulées"])


@dataclass(frozen=True)
class OnTime:
    """Share of the actions réalisées within their délai.

    Attributes
    ----------
    share : float or None
        ``in_time / denominator``; None (« n.d. ») when the denominator is 0.
    in_time : int
        Réalisées on or before their délai.
    denominator : int
        Actions with a délai that are réalisées or whose délai is past.
    simulated : int
        Simulated actions among the denominator.
    """

    share: float | None
    in_time: int
    denominator: int
    simulated: int


def on_time(actions: pd.DataFrame, *, today: date) -> OnTime:
    """Return the share of the actions réalisées within their délai (see the module rules)."""
    deadline = _day(_col(actions, "deadline"))
    done_at = _day(_col(actions, "resolved_at"))
    state = _state(actions)
    done = (state == "réalisée").to_numpy()
    has_deadline = deadline.notna().to_numpy()
    judged = done & done_at.notna().to_numpy()
    past = (deadline < pd.Timestamp(today)).fillna(False).to_numpy()
    denominator = has_deadline & (judged | (past & ~done))
    in_time = denominator & judged & (done_at <= deadline).fillna(False).to_numpy()
    n = int(denominator.sum())
    sim = int((_simulated(actions).to_numpy() & denominator).sum())
    return OnTime(float(in_time.sum()) / n if n else None, int(in_time.sum()), n, sim)


def delay_causes(actions: pd.DataFrame, *, today: date) -> pd.DataFrame:
    """Count the causes of retard of the late actions (« ; »-separated; none → « non renseignée »).

    An action giving two causes counts once under each.

    Returns
    -------
    pandas.DataFrame
        ``Cause``, ``Actions en retard``, ``dont simulées``; most frequent first.
    """
    late = actions[is_late(actions, today=today).to_numpy()]
    rows: list[tuple[str, bool]] = []
    for text, sim in zip(_col(late, "delay_causes"), _simulated(late), strict=True):
        parts = [] if text is None or pd.isna(text) else [p for p in _CAUSE_SEP.split(str(text)) if p]
        for cause in dict.fromkeys(parts or [NO_CAUSE]):
            rows.append((cause, bool(sim)))
    frame = pd.DataFrame(rows, columns=["Cause", "sim"])
    if frame.empty:
        return pd.DataFrame({"Cause": [], "Actions en retard": [], "dont simulées": []}).astype(
            {"Actions en retard": int, "dont simulées": int}
        )
    out = frame.groupby("Cause", sort=False).agg(n=("sim", "size"), s=("sim", "sum")).reset_index()
    out = out.sort_values(["n", "Cause"], ascending=[False, True], kind="stable")
    out.columns = ["Cause", "Actions en retard", "dont simulées"]
    return out.astype({"Actions en retard": int, "dont simulées": int}).reset_index(drop=True)


def constat_delays(actions: pd.DataFrame, links: pd.DataFrame, constats: pd.DataFrame) -> pd.Series:
    """Days from the earliest linked constat to the réalisation, per réalisée action (index: uid).

    Actions without linked constat, without ``resolved_at`` or whose constats have no date
    are left out; so are negative gaps (a constat dated after the réalisation).
    """
    done = actions[
        (_state(actions) == "réalisée").to_numpy() & _col(actions, "resolved_at").notna().to_numpy()
    ]
    if done.empty or links.empty or constats.empty:
        return pd.Series([], dtype=float, name="days")
    seen = pd.Series(_day(constats["observed_at"]).to_numpy(), index=constats["uid"].astype(str))
    seen = seen[~seen.index.duplicated()]
    link = links[links["parent_uid"].isin(done["uid"])]
    first = (
        pd.DataFrame(
            {"uid": link["parent_uid"].astype(str), "seen": link["constat_uid"].astype(str).map(seen)}
        )
        .dropna()
        .groupby("uid")["seen"]
        .min()
    )
    ended = pd.Series(_day(done["resolved_at"]).to_numpy(), index=done["uid"].astype(str))
    days = (ended.reindex(first.index) - first).dt.days.astype(float)
    return days[days >= 0].rename("days")


@dataclass(frozen=True)
class ConstatDelay:
    """Median days from constat to action réalisée over ``n`` actions (None when n = 0)."""

    median_days: float | None
    n: int
    simulated: int


def _median_delay(actions: pd.DataFrame, days: pd.Series) -> ConstatDelay:
    if days.empty:
        return ConstatDelay(None, 0, 0)
    sim = _simulated(actions).to_numpy()
    sim_uids = set(actions["uid"].astype(str).to_numpy()[sim]) if "uid" in actions.columns else set()
    return ConstatDelay(float(days.median()), len(days), sum(u in sim_uids for u in days.index))


# --------------------------------------------------------------------------- groups


def split_partners(text: Any) -> list[str]:
    """Partenaires of one action: the « , » or « ; » separated names, trimmed, deduplicated."""
    if text is None or (isinstance(text, float) and np.isnan(text)) or pd.isna(text):
        return []
    return list(dict.fromkeys(p for p in _PARTNER_SEP.split(str(text).strip()) if p))


def _group_row(group: pd.DataFrame, days: pd.Series, today: date) -> dict[str, Any]:
    state = _state(group)
    ontime = on_time(group, today=today)
    delay = _median_delay(group, days[days.index.isin(group["uid"].astype(str))])
    return {
        "Actions": len(group),
        "Réalisées": int((state == "réalisée").sum()),
        "En retard": int(is_late(group, today=today).sum()),
        "Part réalisées dans leur délai": ontime.share,
        "Délai médian constat → réalisation (jours)": delay.median_days,
        "n (délai)": delay.n,
        "dont simulées": int(_simulated(group).sum()),
    }


def grouped_indicators(
    actions: pd.DataFrame,
    links: pd.DataFrame,
    constats: pd.DataFrame,
    *,
    by: str,
    today: date,
    labels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Return the indicators per pilote, partenaire, orientation or axe.

    Parameters
    ----------
    actions, links, constats : pandas.DataFrame
        See the module documentation.
    by : str
        A column of ``actions``; ``partenaires`` is split on « , » and « ; » (an action
        counts under each of its partenaires).
    today : date
        Reference day of the retards and délais.
    labels : dict, optional
        Display name of each value (orientation code → « 1 — title »); values without a
        label are shown as they are.

    Returns
    -------
    pandas.DataFrame
        One row per value (« non renseigné » for actions without one, last), with
        ``Actions``, ``Réalisées``, ``En retard``, ``Part réalisées dans leur délai``
        (NaN: n.d.), ``Délai médian constat → réalisation (jours)`` (NaN: n.d.),
        ``n (délai)`` and ``dont simulées``.
    """
    days = constat_delays(actions, links, constats)
    if by == "partenaires":
        keys = [split_partners(v) or [NO_ACTOR] for v in _col(actions, by)]
    else:
        keys = [
            [NO_ACTOR if v is None or pd.isna(v) or not str(v).strip() else str(v).strip()]
            for v in _col(actions, by)
        ]
    pos = pd.DataFrame([(i, k) for i, ks in enumerate(keys) for k in ks], columns=["pos", "key"])
    order = sorted(set(pos["key"]), key=lambda k: (k == NO_ACTOR, _natural(k)))
    rows = []
    for key in order:
        group = actions.iloc[pos.loc[pos["key"] == key, "pos"].to_numpy()]
        rows.append({by: (labels or {}).get(key, key), **_group_row(group, days, today)})
    columns = [by, *_group_row(actions.iloc[:0], days, today)]
    out = pd.DataFrame(rows, columns=columns)
    return out.astype(
        {"Part réalisées dans leur délai": float, "Délai médian constat → réalisation (jours)": float}
    )


def _natural(text: str) -> tuple[Any, ...]:
    """Sort key putting « 2.10 » after « 2.9 »."""
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text) if p)


def tfpb_by_axe(actions: pd.DataFrame, *, titles: dict[str, str] | None = None) -> pd.DataFrame:
    """Sum the TFPB amounts of the TFPB actions per axe (codes 1–8 in order, then unknown).

    An amount left blank by any action of an axe makes that axe's total NaN (« n.d. »).

    Returns
    -------
    pandas.DataFrame
        ``Axe``, ``Actions``, the four amounts of :data:`AMOUNT_COLUMNS`, ``dont simulées``.
    """
    tfpb = actions[_col(actions, "tfpb").fillna(False).astype(bool).to_numpy()]
    axe = _col(tfpb, "tfpb_axe").astype(object).where(_col(tfpb, "tfpb_axe").notna(), NO_ACTOR).astype(str)
    rows = []
    for code in sorted(set(axe), key=lambda k: (k == NO_ACTOR, _natural(k))):
        group = tfpb[(axe == code).to_numpy()]
        row: dict[str, Any] = {
            "Axe": f"{code} — {titles[code]}" if titles and code in titles else code,
            "Actions": len(group),
        }
        for column, heading in AMOUNT_COLUMNS.items():
            values = pd.to_numeric(_col(group, column), errors="coerce")
            row[heading] = float(values.sum()) if values.notna().all() else np.nan
        row["dont simulées"] = int(_simulated(group).sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["Axe", "Actions", *AMOUNT_COLUMNS.values(), "dont simulées"])


# --------------------------------------------------------------------------- all at once


@dataclass(frozen=True)
class ActionIndicators:
    """Every indicator of a plan d'actions (see :func:`action_indicators`)."""

    total: int
    simulated: int
    by_state: pd.DataFrame
    on_time: OnTime
    late: int
    late_simulated: int
    causes: pd.DataFrame
    constat_delay: ConstatDelay
    by_pilote: pd.DataFrame
    by_partenaire: pd.DataFrame
    tfpb: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def action_indicators(
    actions: pd.DataFrame,
    links: pd.DataFrame | None = None,
    constats: pd.DataFrame | None = None,
    *,
    today: date,
    axe_titles: dict[str, str] | None = None,
) -> ActionIndicators:
    """Return every indicator of the plan d'actions ``actions``.

    Parameters
    ----------
    actions : pandas.DataFrame
        Records of the ``actions`` layer (not modified).
    links : pandas.DataFrame, optional
        Its ``constats`` link rows (``parent_uid``, ``constat_uid``).
    constats : pandas.DataFrame, optional
        The linked observations (``uid``, ``observed_at``).
    today : date
        Reference day of the retards.
    axe_titles : dict, optional
        TFPB axe code → title.

    Returns
    -------
    ActionIndicators
    """
    links = links if links is not None else pd.DataFrame({"parent_uid": [], "constat_uid": []})
    constats = constats if constats is not None else pd.DataFrame({"uid": [], "observed_at": []})
    late = is_late(actions, today=today)
    sim = _simulated(actions)
    notes = []
    undated = int(((_state(actions) == "réalisée") & _col(actions, "resolved_at").isna()).sum())
    if undated:
        notes.append(
            f"{undated} action(s) réalisée(s) sans date de réalisation : ni dans le délai, "
            "ni hors délai, ni dans le délai constat → réalisation."
        )
    no_deadline = int(_day(_col(actions, "deadline")).isna().sum())
    if no_deadline:
        notes.append(f"{no_deadline} action(s) sans délai : jamais comptée(s) en retard.")
    return ActionIndicators(
        total=len(actions),
        simulated=int(sim.sum()),
        by_state=actions_by_state(actions),
        on_time=on_time(actions, today=today),
        late=int(late.sum()),
        late_simulated=int((late & sim).sum()),
        causes=delay_causes(actions, today=today),
        constat_delay=_median_delay(actions, constat_delays(actions, links, constats)),
        by_pilote=grouped_indicators(actions, links, constats, by="pilote", today=today),
        by_partenaire=grouped_indicators(actions, links, constats, by="partenaires", today=today),
        tfpb=tfpb_by_axe(actions, titles=axe_titles),
        notes=notes,
    )
