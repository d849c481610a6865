"""Annexe 1 / Annexe 2 / TFPB bilan tables built from the actions of a store of real constats."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pandas as pd
import pytest

from layers.action_tables import REFERENCE, SIMULATED, UNKNOWN, TableOptions, plan_table, tfpb_bilan
from layers.conventions import load_convention
from layers.settings import REPO_ROOT
from layers.store import open_store
from layers.store.base import LayerStore
from layers.validate import fold
from tests.actionplan import QUARTIER, add_plan, build_store

SEEDS = REPO_ROOT.parent / "shared" / "seeds"


@pytest.fixture(scope="module")
def plan_store(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> tuple[Path, list[dict]]:
    path = build_store(tmp_path_factory.mktemp("plan") / "plan.gpkg", shared_data)
    store = open_store(path)
    try:
        actions = add_plan(store)
    finally:
        store.close()
    return path, actions


@pytest.fixture
def store(plan_store: tuple[Path, list[dict]]) -> LayerStore:
    s = open_store(plan_store[0], create=False)
    yield s
    s.close()


def _seed(prefix: str) -> str:
    found = sorted(SEEDS.glob(f"{prefix}_*.txt"))
    if not found:
        pytest.skip(f"seed {prefix} absent ({SEEDS})")
    return found[0].read_text(encoding="utf-8")


def test_annexe1_columns_are_the_seed_header_line_in_order(store: LayerStore) -> None:
    table = plan_table(store, "annexe1")
    text = _seed("000")
    block = text[text.index("Annexe 1 : Modèle de plan d'actions suite à un diagnostic en marchant\n"):]
    header = next(line for line in block.splitlines() if line.startswith("Orientations"))
    assert list(table.frame.columns) == [*header.split("\t"), REFERENCE, SIMULATED]


def _best_position(seed: str, heading: str) -> tuple[float, int]:
    """Best fuzzy match of ``heading`` in the OCR text ``seed`` (ratio, position)."""
    target = fold(heading)
    words = seed.split(" ")
    best = (0.0, -1)
    for size in range(1, len(target.split()) + 3):
        for i in range(len(words) - size + 1):
            ratio = difflib.SequenceMatcher(None, target, " ".join(words[i:i + size])).ratio()
            if ratio > best[0]:
                best = (ratio, len(" ".join(words[:i])))
    return best


def test_annexe2_columns_match_the_seed_ocr_in_order(store: LayerStore) -> None:
    table = plan_table(store, "annexe2")
    yaml_headings = load_convention(REPO_ROOT / "data" / "conventions" / "lillers-2023.yaml").table(
        "tableau_suivi").headings
    assert list(table.frame.columns) == [*yaml_headings, REFERENCE, SIMULATED]
    text = _seed("001")
    title = "Annexe 2 : Tableau de suivi des actions engagées"
    start = text.index(title) + len(title)  # the headings follow the title
    ocr = fold(re.sub(r"\s+", " ", text[start:start + 700])).replace("’", "'")
    # the OCR reads the three « Réponses » sub-columns after the others: check each group's order
    groups = [c.groupe for c in table.table.colonnes]
    for wanted in (None, "Réponses"):
        headings = [h for h, g in zip(yaml_headings, groups, strict=True) if g == wanted]
        found = [_best_position(ocr, h) for h in headings]
        assert all(ratio >= 0.8 for ratio, _ in found), list(zip(headings, found, strict=True))
        positions = [pos for _, pos in found]
        assert positions == sorted(positions), headings


def test_annexe2_rows_show_constats_responses_and_simulated(store: LayerStore,
                                                             plan_store: tuple[Path, list[dict]]) -> None:
    actions = {a["reference"]: a for a in plan_store[1]}
    table = plan_table(store, "annexe2", options=TableOptions(quartier=QUARTIER))
    frame = table.frame
    assert sorted(frame[REFERENCE]) == sorted(actions)
    links = store.read_children("actions", "constats")
    obs = store.read("observations", uids=list(links["constat_uid"])).set_index("uid")
    responses = {c.code: c.libelle for c in table.convention.types_reponse}
    for _, row in frame.iterrows():
        action = actions[row[REFERENCE]]
        linked = links[links["parent_uid"] == action["uid"]]["constat_uid"]
        lines = row["Constat"].split("\n")
        assert len(lines) == len(linked) >= 1
        for uid in linked:
            assert any(obs.loc[uid, "address"] in line and obs.loc[uid, "theme"] in line for line in lines)
        for code, heading in responses.items():
            assert (row[heading] == "X") == (action["response_type"] == code)
        assert row[SIMULATED] == ("simulé" if action["simulated"] else "")
        assert row["État d'avancement"] == action["etat"]
        assert row["Actions"] == action["title"]


def test_annexe2_sorted_by_axis_and_annexe1_sectioned_by_axis(store: LayerStore) -> None:
    suivi = plan_table(store, "annexe2")
    order = [a.libelle_suivi for a in suivi.convention.axes]
    ranks = [order.index(v) for v in suivi.frame["Axes d'intervention"]]
    assert ranks == sorted(ranks)
    plan = plan_table(store, "annexe1")
    sections = [s for s in plan.sections]
    # every section is contiguous, sections follow the convention's axes
    seen: list[str] = []
    for s in sections:
        if not seen or seen[-1] != s:
            assert s not in seen
            seen.append(s)
    assert seen[-1] == "Sans orientation"
    axes = [f"{a.code} - {a.titre}" for a in plan.convention.axes]
    assert [axes.index(s) for s in seen[:-1]] == sorted(axes.index(s) for s in seen[:-1])
    # the objectif cell carries the code and the title of the convention
    row = plan.frame[plan.frame["Objectifs"].str.startswith("2.4.10")].iloc[0]
    assert "2.4.10. " in row["Objectifs"] and row["Orientations"].startswith("2. ")


def test_period_and_quartier_filter_rows(store: LayerStore, plan_store: tuple[Path, list[dict]]) -> None:
    decided = pd.to_datetime(pd.Series([a["decided_at"] for a in plan_store[1]]))
    start, end = decided.sort_values().iloc[2].date(), decided.sort_values().iloc[6].date()
    table = plan_table(store, "annexe2", options=TableOptions(quartier=QUARTIER, start=start, end=end))
    assert len(table.frame) == int(((decided.dt.date >= start) & (decided.dt.date <= end)).sum()) == 5
    assert plan_table(store, "annexe2", options=TableOptions(quartier="QP999999")).frame.empty


def test_hidden_fields_stay_empty(store: LayerStore) -> None:
    shown = plan_table(store, "annexe2")
    hidden = plan_table(store, "annexe2", options=TableOptions(hidden=frozenset({"comment"})))
    assert (shown.frame["Commentaire"] != "").any()
    assert (hidden.frame["Commentaire"] == "").all()


def test_tfpb_bilan_sums_counts_and_unknown_amounts(store: LayerStore,
                                                    plan_store: tuple[Path, list[dict]]) -> None:
    bilan = tfpb_bilan(store, bailleur="PARIS HABITAT", year=2024).frame
    tfpb = pd.DataFrame([a for a in plan_store[1] if a["tfpb"]])
    total = bilan[bilan["Axe"] == "Total"].iloc[0]
    assert total["Actions"] == len(tfpb) == 6
    for state in ("à engager", "engagée", "réalisée"):
        assert total[state.capitalize()] == int((tfpb["etat"] == state).sum())
    # every axe and sous-action of the convention is listed, even without action
    convention = load_convention(REPO_ROOT / "data" / "conventions" / "lillers-2023.yaml")
    listed = set(zip(bilan["Axe"], bilan["Sous-action"], strict=True))
    for axe in convention.tfpb_axes:
        for name in axe.sous_actions:
            assert (f"{axe.code}. {axe.titre}", name) in listed
    # no action: « n.d. », never 0; one amount missing: partial, not a wrong total
    empty = bilan[(bilan["Actions"] == 0)]
    assert (empty["Montant prévisionnel (€)"] == UNKNOWN).all()
    assert (bilan["Dépense valorisée (€)"] == UNKNOWN).all()
    nettoyage = bilan[bilan["Sous-action"] == "Renforcement nettoyage"].iloc[0]
    expected = tfpb[tfpb["tfpb_sous_action"] == "Renforcement nettoyage"]["amount_planned"].sum()
    assert nettoyage["Montant prévisionnel (€)"] == pytest.approx(expected)
    assert str(nettoyage["Montant engagé (€)"]).endswith("(partiel : 1/2 actions renseignées)")
    assert total["Simulé"] == "simulé"
    outside = bilan[bilan["Sous-action"].str.startswith("Sous-action non renseignée")]
    assert outside["Actions"].sum() == 2  # « Sous-action inventée » and the one without sous-action
    assert tfpb_bilan(store, bailleur="Autre bailleur", year=2024).frame["Actions"].sum() == 0
