"""A technician's constat journey in a real browser, on a phone and on a desktop, network cut.

Logged in as a technician on the demo store (real Paris data): search an address (the map
centres on it), place a constat (address
filled from the nearest BAN point, pilote and délai chosen), edit it (pilote and
description), mark another constat as its duplicate, then find both states in the list and
in the history of their popups. Screenshots in ``tests/artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from layers.observations_edit import nearest_address
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap._browser import (
    DESKTOP,
    PHONE,
    axe_violations,
    chrome,
    emulate_screen,
    log_in,
    requires_chromium,
    shot,
    text_of,
    wait_for,
    wider_than_screen,
)
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app, client_as

pytestmark = [pytest.mark.browser, requires_chromium]

#: A street of QP075019 (Paris 20e) where the constats are placed.
PLACE = (48.8606, 2.4106)
#: what the technician types in the address search box: an address of that street
SEARCH = "8 rue serpollet"
DEADLINE = "2031-06-30"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    store = demo_store_copy(tmp_path_factory, "constats-navigateur")
    return build_app(store, tmp_path_factory.mktemp("constats-navigateur-instance"))


@pytest.fixture(scope="module")
def base_url(app: Flask) -> Iterator[str]:
    with serve_in_thread(app) as base:
        yield base


def _js(drv: Any, script: str, *args: Any) -> Any:
    return drv.execute_script(script, *args)


def _ready(drv: Any, since: int) -> None:
    wait_for(lambda: _js(drv, "const c = window.qpvCarte; return c && c.state.generation > arguments[0]"
                              " && document.body.dataset.etat === 'pret'", since), "carte dessinée")


def _log_in(drv: Any, base: str) -> None:
    log_in(drv, base, LOGINS["technicien"], PASSWORD)
    _ready(drv, 0)


def _popup(drv: Any, uid: str) -> Any:
    from selenium.webdriver.common.by import By

    return wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, f'.leaflet-popup .fiche[data-uid="{uid}"]'),
                    "fiche du constat")[0]


def _history(drv: Any, uid: str) -> str:
    from selenium.webdriver.common.by import By

    return text_of(_popup(drv, uid).find_element(By.CSS_SELECTOR, ".historique-liste"))


def _open(drv: Any, uid: str) -> Any:
    """Open the popup of constat ``uid`` and wait until it stops changing: its history is read
    after it opens, and the map pans to keep the grown popup in view (a tap before that would
    land on whatever moved under the finger)."""
    from selenium.webdriver.common.by import By

    asked = [-1]

    def popup_open() -> Any:
        # a refresh (the map re-reads its layers after any change) may be under way: the marker
        # is then not in its layer yet, or its popup is closed by the redraw; ask again once
        # the map is drawn and still
        found = drv.find_elements(By.CSS_SELECTOR, f'.leaflet-popup .fiche[data-uid="{uid}"]')
        if found:
            return found[0]
        generation = _js(drv, "const c = window.qpvCarte, m = c.map;"
                              " return document.body.dataset.etat === 'pret' && !m._animatingZoom"
                              " && !(m._panAnim && m._panAnim._inProgress) ? c.state.generation : -1")
        if generation >= 0 and generation != asked[0]:
            asked[0] = generation
            _js(drv, "window.qpvCarte.map.closePopup();"
                     "window.qpvCarte.openRecord('observations', arguments[0])", uid)
        return None

    popup = wait_for(popup_open, "fiche du constat ouverte")
    wait_for(lambda: "Chargement" not in text_of(popup.find_element(By.CSS_SELECTOR, ".historique-liste")),
             "historique du constat lu")
    wait_for(lambda: _js(drv, "const m = window.qpvCarte.map; return !(m._panAnim && m._panAnim._inProgress)"
                              " && !m._animatingZoom"), "carte immobile")
    return popup


def _click(drv: Any, element: Any) -> None:
    """Scroll ``element`` to the middle of its scrolling box (the popup's), as a thumb would, and tap it."""
    _js(drv, "arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _problems_with_the_form_open(drv: Any, name: str) -> None:
    shot(drv, name)
    assert wider_than_screen(drv) == []
    assert axe_violations(drv) == []


@pytest.mark.parametrize("screen", [PHONE, DESKTOP], ids=["telephone", "bureau"])
def test_technician_places_edits_and_merges_constats(app: Flask, base_url: str,
                                                     screen: tuple[int, int]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    name = "telephone" if screen == PHONE else "bureau"
    # « another constat », reported 15 m away by a colleague through the API
    other = client_as(app, "technicien").post("/api/observations", json={
        "lon": PLACE[1] + 0.0002, "lat": PLACE[0], "theme": "propreté", "description": "Sacs au pied du mur"})
    assert other.status_code == 201, other.json
    other_uid = other.json["uid"]

    drv = chrome(window=f"{max(screen[0], 500)},{screen[1]}", offline=True)
    try:
        emulate_screen(drv, screen)
        _log_in(drv, base_url)
        assert _js(drv, "return window.innerWidth") == screen[0]
        # 0. search the address of the place: the map centres on it at zoom 18
        since = _js(drv, "return window.qpvCarte.state.generation")
        field = drv.find_element(By.ID, "recherche-adresse")
        _js(drv, "arguments[0].scrollIntoView({block: 'center'})", field)
        field.click()
        field.send_keys(SEARCH)
        wait_for(lambda: drv.find_element(By.ID, "recherche-liste").is_displayed(), "adresses proposées")
        field.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
        wait_for(lambda: text_of(drv.find_element(By.ID, "recherche-etat")).startswith(
            "Carte centrée sur 8 Rue Serpollet"), "carte centrée sur l'adresse cherchée")
        assert _js(drv, "return window.qpvCarte.map.getZoom()") == 18
        centre = _js(drv, "const c = window.qpvCarte.map.getCenter(); return [c.lat, c.lng]")
        assert abs(centre[0] - PLACE[0]) < 0.001 and abs(centre[1] - PLACE[1]) < 0.001
        _ready(drv, since)

        # 1. place a constat: the address comes from the nearest address point
        drv.find_element(By.ID, "bouton-ajout").click()
        carte = drv.find_element(By.ID, "carte")
        _js(drv, "arguments[0].scrollIntoView({block: 'center'})", carte)
        ActionChains(drv).move_to_element(carte).click().perform()
        form = wait_for(lambda: drv.find_elements(By.ID, "form-saisie"), "formulaire du constat")[0]
        sheet = drv.find_element(By.ID, "fiche-saisie")
        assert sheet.is_displayed()
        if screen == PHONE:  # a full-screen sheet
            rect = _js(drv, "const r = arguments[0].getBoundingClientRect(); return [r.left, r.width]", sheet)
            assert rect == [0, PHONE[0]]
        assert _js(drv, "return document.activeElement.id") == "fiche-saisie-titre"
        position = text_of(form.find_element(By.ID, "saisie-position-texte"))
        lat, lon = map(float, re.findall(r"-?\d+\.\d+", position))
        with open_store(app.config["STORE"], create=False) as store:
            expected = nearest_address(store, lon, lat)
        assert expected is not None  # a street of the 20e: an address point within 50 m
        address = form.find_element(By.NAME, "address")
        wait_for(lambda: address.get_attribute("value") == expected.address, "adresse la plus proche")
        assert "Adresse la plus proche" in text_of(form.find_element(By.ID, "saisie-address-aide"))
        Select(form.find_element(By.NAME, "theme")).select_by_visible_text("propreté")
        form.find_element(By.NAME, "subtheme").send_keys("Déjections canines")
        form.find_element(By.NAME, "description").send_keys("Déjections devant l'entrée de l'école")
        Select(form.find_element(By.NAME, "pilote")).select_by_visible_text("bailleur")
        form.find_element(By.CSS_SELECTOR, "input[type=checkbox][value=police]").click()
        Select(form.find_element(By.NAME, "domanialite")).select_by_visible_text("bailleur")
        deadline = form.find_element(By.NAME, "deadline")
        _js(drv, "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
            deadline, DEADLINE)
        _problems_with_the_form_open(drv, f"constat-saisie-{name}")
        since = _js(drv, "return window.qpvCarte.state.generation")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        uid = wait_for(lambda: _js(drv, "return window.qpvCarte.state.lastCreated"), "constat créé")
        _ready(drv, since)
        banner = text_of(drv.find_element(By.ID, "bandeau"))
        assert banner == f"Constat « propreté » enregistré — {expected.address}."
        assert not sheet.is_displayed()
        with open_store(app.config["STORE"], create=False) as store:
            rec = store.get("observations", uid).iloc[0]
        assert (rec["pilote"], rec["partenaires"]) == ("bailleur", "police")
        assert str(rec["deadline"])[:10] == DEADLINE

        # 2. edit it: another pilote, another description
        popup = _open(drv, uid)
        _click(drv, popup.find_element(By.CSS_SELECTOR, "button.bouton-modifier"))
        form = wait_for(lambda: drv.find_elements(By.ID, "form-saisie"), "formulaire de modification")[0]
        assert form.find_element(By.NAME, "address").get_attribute("value") == expected.address
        Select(form.find_element(By.NAME, "pilote")).select_by_visible_text("ville")
        description = form.find_element(By.NAME, "description")
        description.clear()
        description.send_keys("Déjections nettoyées côté rue, reste la cour")
        form.find_element(By.NAME, "comment").send_keys("Repris par la ville")
        _problems_with_the_form_open(drv, f"constat-modification-{name}")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait_for(lambda: "Pilote : bailleur → ville" in _history(drv, uid), "modification dans l'historique")
        assert "reste la cour" in text_of(_popup(drv, uid))
        assert "modifié" in text_of(drv.find_element(By.ID, "bandeau"))

        # 3. the other constat is a duplicate of it
        popup = _open(drv, other_uid)
        choice = popup.find_element(By.CSS_SELECTOR, "form.form-doublon select")
        Select(choice).select_by_value(uid)
        _click(drv, popup.find_element(By.CSS_SELECTOR, "form.form-doublon button[type=submit]"))
        wait_for(lambda: "doublon de « propreté » — " in _history(drv, other_uid),
                 "doublon dans l'historique")
        assert "clos non traité" in text_of(_popup(drv, other_uid).find_element(By.CSS_SELECTOR, "dl"))
        assert "fusionné dans" in text_of(drv.find_element(By.ID, "bandeau"))
        shot(drv, f"constat-doublon-{name}")
        # the link opens the kept constat, whose popup names its duplicate
        _click(drv, _popup(drv, other_uid).find_element(By.CSS_SELECTOR, ".doublons .lien-doublon"))
        kept = _popup(drv, uid)
        wait_for(lambda: "Doublons fusionnés : « propreté »" in text_of(kept), "lien vers le doublon")
        assert "doublon fusionné : « propreté »" in _history(drv, uid)
        shot(drv, f"constat-garde-{name}")

        # 4. both states in the list
        def row_text(u: str) -> str:
            rows = drv.find_elements(By.CSS_SELECTOR, f'#liste tr[data-uid="{u}"]')
            return text_of(rows[0]) if rows else ""

        wait_for(lambda: "clos non traité" in row_text(other_uid), "doublon fermé dans la liste")
        # the list is redrawn after each change: read it again until it shows the kept constat
        wait_for(lambda: "nouveau" in row_text(uid) and expected.address in row_text(uid),
                 "constat gardé dans la liste")
        errors = [e["message"] for e in drv.get_log("browser") if e["level"] == "SEVERE"
                  and "favicon.ico" not in e["message"]]
        assert errors == []
    finally:
        drv.quit()
