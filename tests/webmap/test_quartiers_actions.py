"""The « Plan d'actions » section of the quartier dashboard and report.

The store is a copy of the web tests' store (real Paris QPV and Dans Ma Rue reports,
simulated Montpellier constats) given the demo's simulated plans d'actions; every figure
checked is recomputed from the stored actions with plain pandas, not with the code under
test. A role that may not read ``actions`` gets no section; a quartier without actions
says so, with « n.d. » for its share and median.
"""

from __future__ import annotations

import io
import re
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from flask import Flask

from layers.analyses import quartier_report_from_store
from layers.demo_actions import DATASET, simulate_action_plans
from layers.store import open_store
from tests.webmap.conftest import PASSWORD, client_logged_as
from webmap import users
from webmap.app import create_app
from webmap.documents.report import render_report_html
from webmap.jobs.kinds import report_read_layers

PERIOD = "debut=2024-01&fin=2024-12"
START, END = date(2024, 1, 1), date(2024, 12, 31)
PARIS = "QP075019"


@pytest.fixture(scope="module")
def plan_store(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[str, ...]]:
    """A copy of the web store with the demo's plans d'actions."""
    path = tmp_path_factory.mktemp("plans") / "plans.gpkg"
    shutil.copy(store_path, path)
    store = open_store(path, create=False)
    try:
        per = store.read("perimetres")
        # the TFPB programme of the current year, outside the 2024 period of the section
        summary = simulate_action_plans(store, per[per["communes"] == "Montpellier"], seed=11,
                                        year=date.today().year)
    finally:
        store.close()
    assert summary.actions > 30 and summary.links > summary.actions - summary.tfpb
    return path, summary.quartiers


@pytest.fixture(scope="module")
def plan_app(plan_store: tuple[Path, tuple[str, ...]], tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app on that store; only technicien and administrateur may read ``actions``."""
    app = create_app(
        {
            "STORE": str(plan_store[0]),
            "instance_path": str(tmp_path_factory.mktemp("inst")),
            "SECRET_KEY": "clef-plans",
            "TESTING": True,
            "LAYER_ROLES": {"actions": ["technicien", "administrateur"]},
        }
    )
    users.add_user(app.config["USERS_DB"], "lea", PASSWORD, role="lecteur", organisation="ville")
    users.add_user(app.config["USERS_DB"], "theo", PASSWORD, role="technicien", organisation="ville")
    return app


def _expected(path: Path, code: str) -> dict[str, Any]:
    """The section's figures recomputed from the stored actions of ``code`` decided in 2024."""
    store = open_store(path, create=False)
    try:
        actions = store.read("actions", where={"quartier": code})
    finally:
        store.close()
    decided = pd.to_datetime(actions["decided_at"])
    a = actions[(decided >= "2024-01-01") & (decided <= "2024-12-31")]
    today = pd.Timestamp(date.today())
    deadline = pd.to_datetime(a["deadline"])
    done_at = pd.to_datetime(a["resolved_at"]).dt.normalize()
    late = a[(deadline < today) & a["etat"].isin(["à engager", "engagée", "reportée"])]
    judged = (a["etat"] == "réalisée") & done_at.notna() & deadline.notna()
    past = deadline.notna() & (deadline < today) & (a["etat"] != "réalisée")
    in_time = judged & (done_at <= deadline)
    return {
        "total": len(a),
        "simulated": int(a["simulated"].sum()),
        "done": int((a["etat"] == "réalisée").sum()),
        "late": len(late),
        "in_time": int(in_time.sum()),
        "denominator": int((judged | past).sum()),
    }


def _section(html: str) -> str:
    start = html.index('id="plan-actions"')
    return html[start : html.index("</section>", start)]


def _figure(block: str, label: str) -> str:
    found = re.search(re.escape(label) + r"</dt><dd>([^<]*)", block)
    assert found, label
    return found.group(1).strip()


def test_section_figures_match_the_store(plan_app: Flask, plan_store: tuple[Path, tuple[str, ...]]) -> None:
    path, codes = plan_store
    tech = client_logged_as(plan_app, "theo")
    for code in codes:
        exp = _expected(path, code)
        assert exp["total"] > 0 and exp["simulated"] == exp["total"]
        html = tech.get(f"/quartiers/{code}?{PERIOD}").get_data(as_text=True)
        block = _section(html)
        assert _figure(block, "Actions enregistrées") == str(exp["total"])
        assert f"dont {exp['total']} simulée" in block  # every figure from simulated rows says so
        assert _figure(block, "Actions réalisées") == str(exp["done"])
        assert _figure(block, "Actions en retard") == str(exp["late"])
        share = _figure(block, "Part des actions réalisées dans leur délai")
        if exp["denominator"]:
            assert share == f"{exp['in_time'] / exp['denominator'] * 100:.1f} %".replace(".", ",")
            assert f"{exp['in_time']} sur {exp['denominator']}" in block
        else:
            assert share == "n.d."
        # grouped by the convention used as a model: orientation titles
        assert (
            "Actions par orientation — Gestion urbaine et sociale de proximité (GUSP) - "
            "Convention 2025 / 2030" in block
        )
        assert "Actions par pilote" in block and "Actions par partenaire" in block
        assert "qd-simule" in block
        # the download holds the same figures
        res = tech.get(f"/quartiers/{code}/plan-actions.csv?{PERIOD}")
        assert res.status_code == 200
        table = pd.read_csv(
            io.BytesIO(res.data), sep=";", encoding="utf-8-sig", dtype=str, keep_default_na=False
        )
        figures = table[table["Tableau"] == "Chiffres clés"].set_index("Ligne")
        assert figures.loc["Actions en retard", "Valeur"] == str(exp["late"])
        states = table[table["Tableau"] == "Actions par état d'avancement"]
        counts = states[states["Colonne"] == "Actions"].set_index("Ligne")["Valeur"].astype(int)
        assert counts.sum() == exp["total"] and counts["réalisée"] == exp["done"]


def test_no_section_for_a_role_without_actions(
    plan_app: Flask, plan_store: tuple[Path, tuple[str, ...]]
) -> None:
    code = plan_store[1][0]
    lecteur = client_logged_as(plan_app, "lea")
    html = lecteur.get(f"/quartiers/{code}?{PERIOD}").get_data(as_text=True)
    assert "Indicateurs des fiches action" in html  # the rest of the page is there
    assert 'id="plan-actions"' not in html and "Plan d'actions" not in html
    assert lecteur.get(f"/quartiers/{code}/plan-actions.csv?{PERIOD}").status_code == 404


def test_a_quartier_without_action_says_so(plan_app: Flask) -> None:
    tech = client_logged_as(plan_app, "theo")
    block = _section(tech.get(f"/quartiers/{PARIS}?{PERIOD}").get_data(as_text=True))
    assert "Aucune action enregistrée dans ce quartier sur la période." in block
    assert _figure(block, "Actions enregistrées") == "0"
    assert _figure(block, "Part des actions réalisées dans leur délai") == "n.d."
    assert _figure(block, "Délai médian du constat à l&#39;action réalisée (jours)") == "n.d."
    assert "simulée" not in block


def test_report_section_follows_the_readable_layers(plan_store: tuple[Path, tuple[str, ...]]) -> None:
    path, codes = plan_store
    code = codes[0]
    exp = _expected(path, code)
    store = open_store(path, create=False)
    try:
        withheld = quartier_report_from_store(
            store, code, start=START, end=END, readable=["perimetres", "observations", "points_noirs"]
        )
        full = quartier_report_from_store(store, code, start=START, end=END)
    finally:
        store.close()
    # without the actions layer: no « Plan d'actions »; the « Sources et couverture » of every report, and
    # the notice standing for the confidential camera section (not readable either)
    assert [s.title for s in withheld.sections if s.restricted is None] == ["Sources et couverture"]
    notices = [(s.restricted, s.withheld) for s in withheld.sections if s.restricted]
    assert notices == [("videoprotection", True)]
    section, sources = [s for s in full.sections if s.restricted is None]
    assert sources.title == "Sources et couverture"
    figures = {label: (value, detail) for label, value, detail in section.figures}
    assert figures["Actions enregistrées"] == (exp["total"], f"dont {exp['total']} simulées")
    assert figures["Actions en retard"][0] == exp["late"]
    states = section.tables["Actions par état d'avancement"].set_index("État")
    assert states["Actions"].sum() == exp["total"] and states["dont simulées"].sum() == exp["total"]
    html = render_report_html(full)
    assert "<h2>Plan d&#39;actions</h2>" in html or "<h2>Plan d'actions</h2>" in html
    assert (
        f"dont {exp['total']} simulées" in html
        and "Programme TFPB : aucune action TFPB sur la période." in html
    )
    assert (
        "Plan d" not in render_report_html(withheld).split("Note de méthode")[0].split("<h2>Chiffres clés")[1]
    )
    # the report job reads the actions only for a requester who may read them
    params = {"quartier": code, "couche": "auto"}
    assert "actions" in report_read_layers(params)
    assert "actions" not in report_read_layers({**params, "couches_lisibles": ["perimetres"]})


def test_tfpb_amounts_by_axe_in_the_report(plan_store: tuple[Path, tuple[str, ...]]) -> None:
    path, codes = plan_store
    year = date.today().year
    store = open_store(path, create=False)
    try:
        section = quartier_report_from_store(
            store, codes[0], start=date(year, 1, 1), end=date(year, 12, 31)
        ).sections[0]
        tfpb = store.read("actions", where={"quartier": codes[0], "tfpb": True})
    finally:
        store.close()
    assert len(tfpb) and set(tfpb["source_dataset"]) == {DATASET}
    table = section.tables["Programme TFPB : montants par axe"]
    assert table["Actions"].sum() == len(tfpb)
    by_axe = tfpb.groupby("tfpb_axe")["amount_planned"].sum()
    for axe, total in by_axe.items():
        row = table[table["Axe"].str.startswith(f"{axe} — ")]
        assert len(row) == 1 and row["Prévisionnel (€)"].iloc[0] == pytest.approx(total)
