"""Indicators of a plan d'actions: hand-checked small cases, then real Dans Ma Rue constats."""

from __future__ import annotations

import statistics
import zlib
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo.stats.action_indicators import (
    NO_ACTOR,
    NO_CAUSE,
    action_indicators,
    actions_by_state,
    constat_delays,
    delay_causes,
    grouped_indicators,
    is_late,
    on_time,
    split_partners,
    tfpb_by_axe,
)

TODAY = date(2026, 6, 1)


def _small() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    actions = pd.DataFrame(
        {
            "uid": ["a", "b", "c", "d", "e", "f", "g"],
            "etat": ["réalisée", "réalisée", "engagée", "reportée", "à engager", "abandonnée", "réalisée"],
            # a: done in time; b: done late; c: late; d: late; e: no délai; f: abandoned, past; g: no date
            "deadline": [
                "2026-03-01",
                "2026-01-10",
                "2026-05-01",
                "2026-02-01",
                None,
                "2026-01-01",
                "2026-04-01",
            ],
            "resolved_at": [
                "2026-02-20T10:00:00",
                "2026-02-15T09:00:00",
                None,
                None,
                None,
                "2026-01-05T00:00:00",
                None,
            ],
            "pilote": ["Ville", "Bailleur", "Ville", None, "Ville", "Métropole", "Bailleur"],
            "partenaires": [
                "Bailleur, Régie ; Conseil citoyen",
                "Ville",
                None,
                "Régie;Régie",
                "",
                "Conseil citoyen",
                "Ville",
            ],
            "delay_causes": [None, None, "intempéries ; attente de devis", None, None, None, None],
            "simulated": [True, False, True, False, False, False, False],
        }
    )
    links = pd.DataFrame(
        {"parent_uid": ["a", "a", "b", "g", "c"], "constat_uid": ["k1", "k2", "k3", "k4", "k5"]}
    )
    constats = pd.DataFrame(
        {
            "uid": ["k1", "k2", "k3", "k4", "k5"],
            "observed_at": [
                "2026-02-10T08:00:00",
                "2026-01-31T12:00:00",
                "2026-02-25",
                "2026-01-01",
                "2026-01-01",
            ],
        }
    )
    return actions, links, constats


def test_small_case_by_hand() -> None:
    actions, links, constats = _small()
    before = actions.copy()
    ind = action_indicators(actions, links, constats, today=TODAY)
    pd.testing.assert_frame_equal(actions, before)  # not modified
    assert ind.total == 7 and ind.simulated == 2
    states = dict(zip(ind.by_state["État"], ind.by_state["Actions"], strict=True))
    assert states == {"à engager": 1, "engagée": 1, "réalisée": 3, "reportée": 1, "abandonnée": 1}
    assert list(ind.by_state["dont simulées"]) == [0, 1, 1, 0, 0]
    # denominator: a, b (réalisées dated), c, d, f (délai past, not done); g undated, e no délai
    assert (ind.on_time.in_time, ind.on_time.denominator) == (1, 5)
    assert ind.on_time.share == pytest.approx(0.2) and ind.on_time.simulated == 2
    assert (ind.late, ind.late_simulated) == (2, 1)  # c and d; e has no délai
    causes = dict(zip(ind.causes["Cause"], ind.causes["Actions en retard"], strict=True))
    assert causes == {"intempéries": 1, "attente de devis": 1, NO_CAUSE: 1}
    # a: earliest constat 31/01 → 20/02 = 20 days; b: b's constat 25/02 after 15/02 → dropped
    assert ind.constat_delay.median_days == 20.0 and ind.constat_delay.n == 1
    assert ind.constat_delay.simulated == 1
    assert any("sans délai" in n for n in ind.notes) and any(
        "sans date de réalisation" in n for n in ind.notes
    )


def test_small_case_by_pilote_and_partenaire() -> None:
    actions, links, constats = _small()
    pil = grouped_indicators(actions, links, constats, by="pilote", today=TODAY).set_index("pilote")
    assert list(pil.index) == ["Bailleur", "Métropole", "Ville", NO_ACTOR]
    assert pil.loc["Ville", "Actions"] == 3 and pil.loc["Ville", "En retard"] == 1
    assert pil.loc["Ville", "Part réalisées dans leur délai"] == pytest.approx(0.5)  # a in time, c late
    assert pil.loc["Bailleur", "Part réalisées dans leur délai"] == 0.0  # b late, g not judged
    assert np.isnan(pil.loc["Bailleur", "Délai médian constat → réalisation (jours)"])
    assert pil.loc[NO_ACTOR, "En retard"] == 1
    part = grouped_indicators(actions, links, constats, by="partenaires", today=TODAY).set_index(
        "partenaires"
    )
    assert part.loc["Régie", "Actions"] == 2  # a and d (d names it twice)
    assert part.loc["Conseil citoyen", "Actions"] == 2
    assert part.loc["Ville", "Actions"] == 2
    assert part.loc[NO_ACTOR, "Actions"] == 2  # c (None) and e ("")
    # c is late (share 0 of 1); e alone has no délai: its share is unknown, not 0
    assert part.loc[NO_ACTOR, "Part réalisées dans leur délai"] == 0.0
    only_e = actions[actions["uid"] == "e"]
    assert on_time(only_e, today=TODAY).share is None


def test_edge_cases() -> None:
    empty = pd.DataFrame({"uid": [], "etat": []})
    ind = action_indicators(empty, today=TODAY)
    assert ind.total == 0 and ind.on_time.share is None and ind.constat_delay.median_days is None
    assert ind.causes.empty and ind.tfpb.empty and ind.by_pilote.empty
    assert actions_by_state(empty)["Actions"].sum() == 0
    # a deadline today is not late yet; yesterday is
    frame = pd.DataFrame(
        {"uid": ["x", "y"], "etat": ["engagée", "engagée"], "deadline": [TODAY, TODAY - timedelta(days=1)]}
    )
    assert list(is_late(frame, today=TODAY)) == [False, True]
    assert (
        split_partners(" A ;B,  A ") == ["A", "B"]
        and split_partners(None) == []
        and split_partners(np.nan) == []
    )
    assert constat_delays(
        frame,
        pd.DataFrame({"parent_uid": [], "constat_uid": []}),
        pd.DataFrame({"uid": [], "observed_at": []}),
    ).empty
    # unreadable deadline: unknown, so never late and out of the share
    odd = pd.DataFrame({"uid": ["z"], "etat": ["engagée"], "deadline": ["pas de date"]})
    assert not is_late(odd, today=TODAY).any() and on_time(odd, today=TODAY).share is None


def test_tfpb_by_axe() -> None:
    frame = pd.DataFrame(
        {
            "uid": list("pqrs"),
            "tfpb": [True, True, True, False],
            "tfpb_axe": ["3", "3", "10", "3"],
            "amount_planned": [1000.0, 500.0, 200.0, 9999.0],
            "amount_committed": [800.0, None, 0.0, 1.0],
            "amount_deferred": [0.0, 0.0, None, 1.0],
            "amount_valued": [700.0, 100.0, 50.0, 1.0],
            "simulated": [True, True, False, True],
        }
    )
    out = tfpb_by_axe(frame, titles={"3": "Sur-entretien"}).set_index("Axe")
    assert list(out.index) == ["3 — Sur-entretien", "10"]
    row = out.loc["3 — Sur-entretien"]
    assert row["Actions"] == 2 and row["Prévisionnel (€)"] == 1500.0 and row["Valorisé (€)"] == 800.0
    assert np.isnan(row["Engagé (€)"])  # q left it blank: n.d., not 800
    assert row["dont simulées"] == 2
    assert np.isnan(out.loc["10", "Reporté (€)"]) and out.loc["10", "Engagé (€)"] == 0.0


# --------------------------------------------------------------------------- realistic frame


def _dansmarue(shared_data: Path) -> pd.DataFrame:
    path = shared_data / "paris" / "dansmarue-2023-2024-echantillon.csv"
    if not path.exists():
        pytest.skip(f"real data missing: {path}")
    return pd.read_csv(
        path,
        usecols=["id_dmr", "type", "arrondissement", "intervenant", "conseilquartier", "datedecl"],
        dtype=str,
        nrows=4000,
    )


def _h(text: str, n: int) -> int:
    return zlib.crc32(text.encode()) % n


def _realistic(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One action per (arrondissement, type) of real Dans Ma Rue reports, made messy."""
    dmr = _dansmarue(shared_data)
    constats = pd.DataFrame({"uid": dmr["id_dmr"], "observed_at": dmr["datedecl"]})
    rows, links = [], []
    states = ["à engager", "engagée", "réalisée", "reportée", "abandonnée", "réalisée"]
    for (arr, typ), group in dmr.groupby(["arrondissement", "type"], sort=True):
        uid = f"{arr}-{typ}"
        first = pd.Timestamp(group["datedecl"].min())
        k = _h(uid, 997)
        etat = states[k % len(states)]
        deadline = None if k % 7 == 0 else (first + pd.Timedelta(days=30 + k % 400)).date()
        resolved = (
            (first + pd.Timedelta(days=k % 500)) if etat in ("réalisée", "abandonnée") and k % 5 else None
        )
        rows.append(
            {
                "uid": uid,
                "etat": etat,
                "deadline": deadline,
                "resolved_at": resolved,
                "pilote": group["intervenant"].iloc[0] if k % 11 else None,
                "partenaires": " ; ".join(group["conseilquartier"].dropna().unique()[:3]).replace(
                    " ; ", ",", k % 2
                ),
                "delay_causes": None if k % 3 else "météo; attente de devis",
                "simulated": bool(k % 4 == 0),
            }
        )
        links += [{"parent_uid": uid, "constat_uid": c} for c in group["id_dmr"]]
    return pd.DataFrame(rows), pd.DataFrame(links), constats


def test_realistic_frame_against_plain_python(shared_data: Path) -> None:
    actions, links, constats = _realistic(shared_data)
    assert len(actions) > 50 and len(links) == 4000
    today = date(2024, 6, 1)
    ind = action_indicators(actions, links, constats, today=today)

    def day(v: object) -> date | None:
        return None if v is None or pd.isna(v) else pd.Timestamp(v).date()

    late = [
        r
        for r in actions.to_dict("records")
        if day(r["deadline"])
        and day(r["deadline"]) < today
        and r["etat"] in ("à engager", "engagée", "reportée")
    ]
    assert ind.late == len(late) > 0
    denominator = in_time = 0
    for r in actions.to_dict("records"):
        d, done = day(r["deadline"]), day(r["resolved_at"])
        if d is None:
            continue
        if r["etat"] == "réalisée" and done is not None:
            denominator += 1
            in_time += done <= d
        elif r["etat"] != "réalisée" and d < today:
            denominator += 1
    assert (ind.on_time.in_time, ind.on_time.denominator) == (in_time, denominator)
    assert 0 < ind.on_time.share < 1
    seen = dict(zip(constats["uid"], constats["observed_at"], strict=True))
    gaps = []
    for r in actions.to_dict("records"):
        if r["etat"] == "réalisée" and day(r["resolved_at"]) is not None:
            first = min(
                pd.Timestamp(seen[c]) for c in links.loc[links["parent_uid"] == r["uid"], "constat_uid"]
            )
            gap = (pd.Timestamp(r["resolved_at"]).normalize() - first.normalize()).days
            if gap >= 0:
                gaps.append(gap)
    assert ind.constat_delay.n == len(gaps) > 0
    assert ind.constat_delay.median_days == pytest.approx(statistics.median(gaps))
    causes = dict(zip(ind.causes["Cause"], ind.causes["Actions en retard"], strict=True))
    with_causes = sum(pd.notna(r["delay_causes"]) for r in late)
    assert causes.get("météo", 0) == with_causes and causes.get(NO_CAUSE, 0) == len(late) - with_causes
    # every partenaire row counts the actions naming it, whatever the separator
    part = grouped_indicators(actions, links, constats, by="partenaires", today=today)
    for name, n in zip(part["partenaires"], part["Actions"], strict=True):
        if name != NO_ACTOR:
            expected = sum(
                name in [p.strip() for p in str(v).replace(";", ",").split(",")]
                for v in actions["partenaires"]
            )
            assert n == expected, name
    pil = ind.by_pilote
    assert pil["Actions"].sum() == len(actions) and pil["dont simulées"].sum() == actions["simulated"].sum()
    assert pil["pilote"].iloc[-1] == NO_ACTOR
    by_state = ind.by_state.set_index("État")["Actions"]
    assert by_state.sum() == len(actions) and by_state["réalisée"] == (actions["etat"] == "réalisée").sum()


def test_causes_order_and_duplicates() -> None:
    frame = pd.DataFrame(
        {
            "uid": ["1", "2", "3"],
            "etat": ["reportée"] * 3,
            "deadline": ["2020-01-01"] * 3,
            "delay_causes": ["b ; a ; a", "b", "\n"],
            "simulated": [True, False, False],
        }
    )
    out = delay_causes(frame, today=TODAY)
    assert list(out["Cause"]) == ["b", "a", NO_CAUSE]
    assert list(out["Actions en retard"]) == [2, 1, 1] and list(out["dont simulées"]) == [1, 1, 0]
