"""Walk → plan d'actions → compte-rendu in a real browser (Debian chromium, headless, no network).

A technicien logs in on a walk of the demo store (Mosson, real streets) holding four
constats recorded through the API. On the walk page he ticks two constats and creates one
action for them, then attaches a third constat to an action of the quartier created
earlier; each constat then shows its action's reference. On ``/actions`` he closes the new
action (« réalisée »): its row, its history and the store follow, and its constats become
« traité » with the action's reference. The compte-rendu PDF (pdftotext) holds the plan.
On a phone (390 × 844 emulated) the plan is a list of cards that fits the screen, and a
card's état is changed there. Screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from shapely.affinity import translate

from layers.actions import create_action
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap._actions_fixture import CONSTATS, WalkWithConstats, prepare
from tests.webmap._browser import chrome, log_in, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app

pytestmark = [pytest.mark.browser, requires_chromium,
              pytest.mark.skipif(shutil.which("pdftotext") is None,
                                 reason="pdftotext (poppler-utils) absent")]

DESKTOP = (1280, 900)
PHONE = (390, 844)


@dataclass(frozen=True)
class Server:
    base: str
    store: str
    walk: WalkWithConstats
    existing: dict[str, Any]  # an action of the quartier, placed 30 m from the third constat


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = demo_store_copy(tmp_path_factory, "actions-navigateur")
    app = build_app(path, path.parent / "instance")
    walk = prepare(path, app)
    store = open_store(path, create=False)
    try:
        third = store.get("observations", walk.constats[2]).geometry.iloc[0]
        existing = create_action(store, {
            "title": "Renforcer le passage de la propreté", "quartier": walk.quartier, "pilote": "Métropole",
            "partenaires": "ACM Habitat", "deadline": (date.today() + timedelta(days=60)).isoformat(),
            "etat": "engagée", "geometry": translate(third, 30, 0)}, organisation="ville", actor="tiago")
    finally:
        store.close()
    with serve_in_thread(app) as base:
        yield Server(base, str(path), walk, existing)


def _driver(size: tuple[int, int]) -> Any:
    width, height = size
    drv = chrome(window=f"{max(width, 500)},{height}")
    drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
    return drv


def _login(drv: Any, base: str, target: str) -> None:
    log_in(drv, base, LOGINS["technicien"], PASSWORD, then=target)


def _fits(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _constat_item(drv: Any, uid: str) -> str:
    from selenium.webdriver.common.by import By

    return text_of(drv.find_element(By.CSS_SELECTOR, f'#dg-plan-constats li[data-uid="{uid}"]'))


def _tick(drv: Any, uids: list[str]) -> None:
    from selenium.webdriver.common.by import By

    for uid in uids:
        box = drv.find_element(By.CSS_SELECTOR, f'#dg-plan-constats input[value="{uid}"]')
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", box)
        box.click()
    expected = f"{len(uids)} constat(s) coché(s)."
    wait_for(lambda: text_of(drv.find_element(By.ID, "dg-plan-selection")) == expected, "sélection comptée")


def _pdf_text(drv: Any, base: str, href: str, folder: Path) -> str:
    http = requests.Session()
    for c in drv.get_cookies():
        http.cookies.set(c["name"], c["value"])
    res = http.get(base + href, timeout=180)
    assert res.status_code == 200 and res.headers["Content-Type"] == "application/pdf", res.status_code
    pdf = folder / "compte-rendu.pdf"
    pdf.write_bytes(res.content)
    out = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


def _store_rows(server: Server) -> tuple[Any, Any]:
    store = open_store(server.store, create=False)
    try:
        return store.read("actions", where={"walk_id": server.walk.walk_uid}), \
            store.read("observations", uids=list(server.walk.constats))
    finally:
        store.close()


def _create_and_attach(drv: Any, server: Server) -> str:
    """On the walk page: one action for constats 1 and 2, constat 3 attached; return the new reference."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    constats = server.walk.constats
    wait_for(lambda: drv.find_elements(By.ID, "dg-plan-nouvelle"), "section « Construire le plan d'actions »")
    assert all("Aucune action" in _constat_item(drv, u) for u in constats)
    _tick(drv, [constats[0], constats[1]])
    drv.find_element(By.ID, "dg-pa-titre").send_keys("Évacuer les encombrants et les sacs du square")
    Select(drv.find_element(By.ID, "dg-pa-origine")).select_by_visible_text("usage")
    Select(drv.find_element(By.ID, "dg-pa-reponse")).select_by_value("gestion")
    orientation = Select(drv.find_element(By.ID, "dg-pa-orientation"))
    orientation.select_by_index(2)  # the first objectif of the first orientation of the convention
    drv.find_element(By.ID, "dg-pa-pilote").send_keys("Ville — service propreté")
    drv.find_element(By.ID, "dg-pa-partenaires").send_keys("ACM Habitat, Métropole")
    past = (date.today() - timedelta(days=10))
    drv.execute_script("arguments[0].value = arguments[1];", drv.find_element(By.ID, "dg-pa-delai"),
                       past.isoformat())
    shot(drv, "actions-parcours-selection-bureau")
    drv.find_element(By.ID, "dg-pa-creer").click()
    wait_for(lambda: "Action créée pour 2 constat(s)." in text_of(drv.find_element(By.ID, "dg-plan-message")),
             "action créée")
    created, _ = _store_rows(server)
    assert len(created) == 1
    reference = str(created.iloc[0]["reference"])
    assert created.iloc[0]["objectif"] and created.iloc[0]["origine"] == "usage"
    for uid in constats[:2]:
        assert f"Action : {reference}" in _constat_item(drv, uid)
    _tick(drv, [constats[2]])
    Select(drv.find_element(By.ID, "dg-pa-action")).select_by_value(server.existing["uid"])
    drv.find_element(By.ID, "dg-pa-rattacher").click()
    wait_for(lambda: "1 constat(s) rattaché(s)" in text_of(drv.find_element(By.ID, "dg-plan-message")),
             "constat rattaché")
    assert f"Action : {server.existing['reference']}" in _constat_item(drv, constats[2])
    assert "Aucune action" in _constat_item(drv, constats[3])
    shot(drv, "actions-parcours-references-bureau")
    return reference


def test_walk_to_actions_to_compte_rendu(server: Server, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    drv = _driver(DESKTOP)
    try:
        _login(drv, server.base, f"/diagnostic/{server.walk.walk_uid}")
        reference = _create_and_attach(drv, server)

        link = drv.find_element(By.LINK_TEXT, "Plan d'actions du quartier")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
        link.click()
        wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#ac-tableau tr.ac-ligne"), "tableau du plan")
        assert text_of(drv.find_element(By.CSS_SELECTOR, '.entete-liens a[aria-current="page"]')) \
            == "Plan d'actions"
        created, _ = _store_rows(server)
        uid = str(created.iloc[0]["uid"])
        row = drv.find_element(By.ID, f"ac-ligne-{uid}")
        late = (date.today() - timedelta(days=10)).strftime("%d/%m/%Y")
        assert f"en retard depuis le {late}" in text_of(row) and reference in text_of(row)
        # map: the placed action, three constats, one line from the attached constat to its action
        wait_for(lambda: len(drv.find_elements(By.CSS_SELECTOR, "#ac-carte path.leaflet-interactive")) >= 4,
                 "action et constats sur la carte")
        lines = drv.execute_script(
            "return document.querySelectorAll('#ac-carte path[stroke-dasharray]').length")
        assert lines == 1
        assert "Sans localisation" in text_of(drv.find_element(By.ID, "ac-carte-section"))
        assert _fits(drv)
        shot(drv, "actions-plan-bureau")

        drv.find_element(By.CSS_SELECTOR, f'.ac-modifier[data-uid="{uid}"]').click()
        form = drv.find_element(By.CSS_SELECTOR, f'.ac-form-edition[data-uid="{uid}"]')
        wait_for(form.is_displayed, "formulaire de modification ouvert")
        Select(form.find_element(By.NAME, "etat")).select_by_value("réalisée")
        form.find_element(By.NAME, "evaluation").send_keys("Square dégagé, à surveiller")
        form.find_element(By.NAME, "commentaire").send_keys("Constaté lors du passage du 4")
        shot(drv, "actions-modification-bureau")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: f"Action {reference} enregistrée." in text_of(drv.find_element(By.ID, "ac-message")),
                 "action enregistrée")
        row = drv.find_element(By.ID, f"ac-ligne-{uid}")
        assert "réalisée" in text_of(row.find_element(By.CSS_SELECTOR, ".ac-etat"))
        history = text_of(row.find_element(By.CSS_SELECTOR, ".ac-historique"))
        assert "Historique (2)" in history and "Constaté lors du passage du 4" in history
        assert "en retard" not in text_of(row)  # closed: no longer late
        created, constats = _store_rows(server)
        assert created.iloc[0]["etat"] == "réalisée"
        assert created.iloc[0]["evaluation"] == "Square dégagé, à surveiller"
        mine = constats[constats["uid"].isin(server.walk.constats[:2])]
        assert set(mine["status"]) == {"traité"} and set(mine["action_reference"]) == {reference}

        drv.get(f"{server.base}/diagnostic/{server.walk.walk_uid}")
        link = wait_for(lambda: drv.find_element(By.LINK_TEXT, "Compte-rendu (PDF)"), "lien du compte-rendu")
        text = _pdf_text(drv, server.base, link.get_attribute("href").replace(server.base, ""), tmp_path)
        assert "Plan d'actions" in text and reference in text and server.existing["reference"] in text
        plan = text[text.index("Plan d'actions"):text.index("Par pilote")]
        assert "2 action(s)" in plan and "Aucune action" not in text
        # the cells of the new action: title, origine, pilote, délai, état, the constats it answers
        for word in ("Évacuer", "square", "usage", "(réponse gestion)", "propreté",
                     (date.today() - timedelta(days=10)).strftime("%d/%m/%Y"), "réalisée", "engagée",
                     CONSTATS[0][1][:6], CONSTATS[2][1][:10]):
            assert word in plan, word
    finally:
        drv.quit()


def test_plan_on_a_phone_is_cards_that_fit(server: Server) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    drv = _driver(PHONE)
    try:
        _login(drv, server.base, f"/actions?quartier={server.walk.quartier}")
        rows = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#ac-tableau tr.ac-ligne"),
                        "fiches du plan")
        assert drv.execute_script("return window.innerWidth") == PHONE[0]
        assert _fits(drv)
        assert rows[0].value_of_css_property("display") == "block"
        assert not drv.find_element(By.CSS_SELECTOR, "#ac-tableau thead").is_displayed() or \
            drv.find_element(By.CSS_SELECTOR, "#ac-tableau thead").size["height"] <= 1
        shot(drv, "actions-plan-telephone")
        uid = server.existing["uid"]
        button = drv.find_element(By.CSS_SELECTOR, f'.ac-modifier[data-uid="{uid}"]')
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        button.click()
        form = drv.find_element(By.CSS_SELECTOR, f'.ac-form-edition[data-uid="{uid}"]')
        wait_for(form.is_displayed, "formulaire ouvert sur le téléphone")
        assert _fits(drv)
        Select(form.find_element(By.NAME, "etat")).select_by_value("reportée")
        form.find_element(By.NAME, "delay_causes").send_keys("Marché public relancé")
        shot(drv, "actions-modification-telephone")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: "enregistrée" in text_of(drv.find_element(By.ID, "ac-message")), "fiche enregistrée")
        card = text_of(drv.find_element(By.ID, f"ac-ligne-{uid}"))
        assert "reportée" in card and "Marché public relancé" in card
        assert _fits(drv)
        # the walk page's « Constats et plan d'actions » on the phone
        drv.get(f"{server.base}/diagnostic/{server.walk.walk_uid}")
        section = wait_for(lambda: drv.find_element(By.ID, "dg-plan-construire"),
                           "plan d'actions du diagnostic")
        drv.execute_script("arguments[0].scrollIntoView({block: 'start'});",
                           drv.find_element(By.ID, "dg-plan"))
        assert section.is_displayed() and _fits(drv)
        shot(drv, "actions-parcours-telephone")
    finally:
        drv.quit()
