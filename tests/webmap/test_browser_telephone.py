"""The map page on a phone (390 × 844) and on a desktop (1400 × 900), in a real browser.

Issue 17, point 2: on a phone the map fills the screen below the header; filters, layers,
legend and list are drawers opened from the bar under the map (mouse and keyboard), popups
fit the screen, « Ajouter un constat » and « Me localiser » stay over the map. Point 6 for
the map page: axe-core (WCAG 2.1 A/AA) finds no serious or critical violation, drawers and
popups open. The real app serves a copy of the demo store (Paris 20e and Montpellier), the
network cut. Screenshots land in ``tests/artifacts/telephone-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

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
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app

pytestmark = [pytest.mark.browser, requires_chromium]

DRAWERS = {"tiroir-filtres": "Filtres", "tiroir-couches": "Couches", "tiroir-legende": "Légende",
           "liste": "Liste"}
#: a place of Paris 20e (QP075019) with constats around: where the phone is "found"
HERE = (48.8606, 2.4106)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    store = demo_store_copy(tmp_path_factory, "telephone")
    return build_app(store, store.parent / "instance")


@pytest.fixture(scope="module")
def base_url(app: Flask) -> Iterator[str]:
    with serve_in_thread(app) as base:
        yield base


def open_map(base_url: str, size: tuple[int, int], role: str) -> Any:
    """A chromium on the map page, network cut, screen ``size``, logged in as ``role``."""

    # headless chromium keeps windows at least 500 px wide: the phone's screen is emulated
    drv = chrome(window=f"{max(size[0], 500)},{size[1]}", offline=True)
    emulate_screen(drv, size)
    if role == "anonyme":
        drv.get(f"{base_url}/")
    else:
        log_in(drv, base_url, LOGINS[role], PASSWORD)
    assert drv.execute_script("return window.innerWidth") == size[0]
    wait_ready(drv)
    return drv


def generation(drv: Any) -> int:
    return int(drv.execute_script("return window.qpvCarte ? window.qpvCarte.state.generation : -1"))


def wait_ready(drv: Any, since: int = 0) -> None:
    """Wait until a map refresh started after the first ``since`` ones is drawn."""
    wait_for(lambda: drv.execute_script(
        "const c = window.qpvCarte;"
        "return Boolean(c) && c.state.started && c.state.generation > arguments[0]"
        " && document.body.dataset.etat === 'pret';", since),
        f"carte prête (après la mise à jour n° {since})")


def move_map(drv: Any, script: str, *args: Any) -> None:
    """Run ``script`` (a move of the map) and wait until the refresh it starts is drawn."""
    since = generation(drv)
    drv.execute_script(script, *args)
    wait_ready(drv, since)


def rect(drv: Any, element: Any) -> dict[str, float]:
    return dict(drv.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return {left: r.left, top: r.top, right: r.right, bottom: r.bottom,"
        " width: r.width, height: r.height};",
        element))


def in_viewport(drv: Any, element: Any) -> bool:
    """The element is displayed and lies whole inside the window (no scrolling needed)."""
    r = rect(drv, element)
    w, h = drv.execute_script("return [window.innerWidth, window.innerHeight]")
    return bool(element.is_displayed() and r["width"] > 0 and r["left"] >= 0 and r["top"] >= 0
                and r["right"] <= w and r["bottom"] <= h)


def active_id(drv: Any) -> str:
    """Id of the drawer holding the focus ('' if none), or of the focused element itself."""
    return str(drv.execute_script(
        "const a = document.activeElement; const t = a && a.closest('.tiroir');"
        "return t ? 'dans:' + t.id : (a && a.id) || (a && a.tagName) || '';"))


def console_errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def check_drawer(drv: Any, drawer: str, label: str) -> None:
    """Open and close one drawer with the mouse, then with the keyboard."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    button = drv.find_element(By.CSS_SELECTOR, f'#barre-tiroirs button[data-tiroir="{drawer}"]')
    box = drv.find_element(By.ID, drawer)
    assert text_of(button) == label and in_viewport(drv, button)
    assert rect(drv, button)["height"] >= 44 and rect(drv, button)["width"] >= 44
    assert not box.is_displayed()
    # the mouse: the button opens, « Fermer » closes
    button.click()
    wait_for(box.is_displayed, f"tiroir {label} ouvert")
    assert button.get_attribute("aria-expanded") == "true"
    assert box.get_attribute("role") == "dialog"
    title = drv.find_element(By.ID, box.get_attribute("aria-labelledby"))
    assert title.is_displayed() and text_of(title)
    assert active_id(drv) == f"dans:{drawer}", "le focus n'est pas entré dans le tiroir"
    others = [d for d in DRAWERS if d != drawer]
    assert not any(drv.find_element(By.ID, d).is_displayed() for d in others), "deux tiroirs ouverts"
    assert wider_than_screen(drv) == []
    # the map stays usable: part of it shows above the drawer
    map_box, drawer_box = rect(drv, drv.find_element(By.ID, "carte")), rect(drv, box)
    assert drawer_box["top"] - map_box["top"] > 0.25 * map_box["height"]
    shot(drv, f"telephone-tiroir-{drawer}")
    close = box.find_element(By.CSS_SELECTOR, ".tiroir-fermer")
    assert in_viewport(drv, close) and text_of(close) == "Fermer"
    close.click()
    wait_for(lambda: not box.is_displayed(), f"tiroir {label} fermé")
    assert button.get_attribute("aria-expanded") == "false"
    assert drv.switch_to.active_element == button, "le focus n'est pas revenu au bouton"
    # the keyboard: Enter on the focused button opens, Escape closes
    button.send_keys(Keys.ENTER)
    wait_for(box.is_displayed, f"tiroir {label} ouvert au clavier")
    assert active_id(drv) == f"dans:{drawer}"
    drv.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait_for(lambda: not box.is_displayed(), f"tiroir {label} fermé par Échap")
    assert drv.switch_to.active_element == button


def open_popup_at_right_edge(drv: Any) -> Any:
    """Bring a constat 6 px from the map's right edge, click it as a person would: its popup."""
    from selenium.webdriver.common.by import By

    move_map(drv, "window.qpvCarte.map.setView(arguments[0], 18, {animate: false})", list(HERE))
    latlng = drv.execute_script(
        "const q = window.qpvCarte, m = q.map, c = m.getCenter();"
        "const recs = q.viewData('observations').records.filter((f) => !f.properties.cluster);"
        "recs.sort((a, b) => m.distance(c, [a.geometry.coordinates[1], a.geometry.coordinates[0]])"
        "  - m.distance(c, [b.geometry.coordinates[1], b.geometry.coordinates[0]]));"
        "const g = recs[0].geometry.coordinates; return [g[1], g[0]];")
    move_map(drv, "const m = window.qpvCarte.map, p = m.latLngToContainerPoint(arguments[0]);"
                  "m.panBy([p.x - (m.getSize().x - 6), p.y - m.getSize().y / 2], {animate: false});", latlng)
    point, right = drv.execute_script(
        "const m = window.qpvCarte.map, p = m.latLngToContainerPoint(arguments[0]),"
        " r = m.getContainer().getBoundingClientRect();"
        " return [[r.left + p.x, r.top + p.y], r.right];", latlng)
    assert right - 12 <= point[0] <= right, (point, right)
    drv.execute_script(
        "const o = {bubbles: true, cancelable: true, clientX: arguments[0], clientY: arguments[1]};"
        "const t = document.elementFromPoint(o.clientX, o.clientY);"
        "['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'].forEach((k) =>"
        " t.dispatchEvent(new (k.startsWith('pointer') ? PointerEvent : MouseEvent)(k, o)));", *point)
    popup = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, ".leaflet-popup"), "fiche ouverte")[0]
    wait_for(lambda: drv.execute_script(
        "return getComputedStyle(arguments[0]).opacity === '1'", popup), "fiche affichée (fin du fondu)")
    return popup


@pytest.mark.parametrize("role", ["anonyme", "technicien"])
def test_phone_map_drawers_popup_and_axe(base_url: str, role: str) -> None:
    from selenium.webdriver.common.by import By

    drv = open_map(base_url, PHONE, role)
    try:
        assert drv.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
        carte = drv.find_element(By.ID, "carte")
        assert rect(drv, carte)["height"] >= 0.8 * PHONE[1], rect(drv, carte)
        assert rect(drv, carte)["width"] == PHONE[0]
        assert wider_than_screen(drv) == []
        # one-handed: the bar, « Me localiser » and « Ajouter un constat » at the bottom
        bar = drv.find_element(By.ID, "barre-tiroirs")
        assert in_viewport(drv, bar) and rect(drv, bar)["bottom"] >= PHONE[1] - 2
        locate = drv.find_element(By.ID, "bouton-localiser")
        assert in_viewport(drv, locate) and rect(drv, locate)["top"] > PHONE[1] * 0.75
        assert rect(drv, locate)["height"] >= 44
        add = drv.find_element(By.ID, "bouton-ajout")
        if role == "technicien":
            assert in_viewport(drv, add) and rect(drv, add)["top"] > PHONE[1] * 0.75
            assert rect(drv, add)["height"] >= 44
            assert not (rect(drv, add)["left"] < rect(drv, locate)["right"]), "boutons superposés"
        else:
            assert not add.is_displayed()
        # no side panel nor map control covers the map: they wait in their drawers
        for drawer in DRAWERS:
            assert not drv.find_element(By.ID, drawer).is_displayed()
        assert not drv.find_element(By.CSS_SELECTOR, ".leaflet-control-layers").is_displayed()
        assert not drv.find_element(By.ID, "legende").is_displayed()
        shot(drv, f"telephone-carte-{role}")
        assert axe_violations(drv) == []

        for drawer, label in DRAWERS.items():
            check_drawer(drv, drawer, label)

        # the layer control works in its drawer: a layer off, then on again
        drv.find_element(By.CSS_SELECTOR, '[data-tiroir="tiroir-couches"]').click()
        box = drv.find_element(
            By.XPATH, "//div[@id='couches-corps']//label[contains(., 'Constats et signalements')]//input")
        assert box.is_displayed() and box.is_selected()
        assert rect(drv, box.find_element(By.XPATH, "./ancestor::label"))["height"] >= 44
        since = generation(drv)
        box.click()
        wait_ready(drv, since)
        assert not drv.execute_script(
            "return window.qpvCarte.map.hasLayer(window.qpvCarte.state.holders.observations)")
        since = generation(drv)
        box.click()
        wait_ready(drv, since)
        # the legend's drawer, open with its layers loaded: a text per layer, axe clean
        drv.find_element(By.CSS_SELECTOR, '[data-tiroir="tiroir-legende"]').click()
        legend = drv.find_element(By.ID, "legende")
        wait_for(legend.is_displayed, "légende dans son tiroir")
        assert "Constats et signalements" in text_of(legend) and "donnée simulée" in text_of(legend)
        # not colour alone: each point layer has its shape, on the map and in the legend
        shapes = drv.execute_script(
            "const out = {};"
            "document.querySelectorAll('#legende .legende-ligne').forEach((n) => {"
            "  const p = n.querySelector('.pastille'), count = /\\s*\\([\\d\\s\\u202f\\u00a0]+\\)$/;"
            "  if (p) out[n.textContent.replace(count, '').trim()] = p.className; });"
            "return out;")
        assert "forme-triangle" in shapes["Points noirs (dépôts sauvages)"], shapes
        assert "forme-carre" in shapes["Bacs enterrés et points d'apport volontaire"], shapes
        assert "forme-rond" in shapes["Constats et signalements"], shapes
        assert drv.execute_script(
            "return window.qpvCarte.state.holders.points_noirs.cluster.getLayers()[0].options.shape"
        ) == "triangle"
        assert axe_violations(drv) == []

        # a popup on a constat 6 px from the right edge lies whole in the screen and the map
        popup = open_popup_at_right_edge(drv)
        assert not drv.find_element(By.ID, "tiroir-legende").is_displayed()  # the record comes first
        wait_for(lambda: in_viewport(drv, popup), f"fiche entièrement à l'écran {rect(drv, popup)}")
        map_box, pop_box = rect(drv, carte), rect(drv, popup)
        assert map_box["left"] <= pop_box["left"] and pop_box["right"] <= map_box["right"]
        assert map_box["top"] <= pop_box["top"] and pop_box["bottom"] <= map_box["bottom"]
        assert wider_than_screen(drv) == []
        shot(drv, f"telephone-fiche-{role}")
        assert axe_violations(drv) == []
        assert console_errors(drv) == []
    finally:
        drv.quit()


@pytest.mark.parametrize("role", ["anonyme", "technicien"])
def test_desktop_keeps_side_panels_and_add_button_above_the_fold(base_url: str, role: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    drv = open_map(base_url, DESKTOP, role)
    try:
        assert drv.find_element(By.ID, "tiroir-filtres").is_displayed()
        assert drv.find_element(By.ID, "liste").is_displayed()
        assert not drv.find_element(By.ID, "barre-tiroirs").is_displayed()
        assert not any(e.is_displayed() for e in drv.find_elements(By.CSS_SELECTOR, ".tiroir-fermer"))
        assert drv.find_element(By.ID, "liste").get_attribute("role") == "complementary"
        # the layer control and the legend are on the map
        layers = drv.find_element(By.CSS_SELECTOR, "#carte .leaflet-control-layers")
        assert layers.is_displayed() and drv.find_element(By.CSS_SELECTOR, "#carte #legende").is_displayed()
        carte = rect(drv, drv.find_element(By.ID, "carte"))
        add = drv.find_element(By.ID, "bouton-ajout")
        if role == "technicien":
            assert in_viewport(drv, add), rect(drv, add)
            r = rect(drv, add)
            assert carte["left"] <= r["left"] and r["right"] <= carte["right"]
            assert r["bottom"] <= carte["bottom"]
        else:
            assert not add.is_displayed()
        assert in_viewport(drv, drv.find_element(By.ID, "bouton-localiser"))
        assert wider_than_screen(drv) == []
        # the zoom buttons speak French and answer the keyboard
        zoom_in = drv.find_element(By.CSS_SELECTOR, ".leaflet-control-zoom-in")
        assert zoom_in.get_attribute("aria-label") == "Zoom avant"
        zoom_out = drv.find_element(By.CSS_SELECTOR, ".leaflet-control-zoom-out")
        assert zoom_out.get_attribute("aria-label") == "Zoom arrière"
        zoom = drv.execute_script("return window.qpvCarte.map.getZoom()")
        since = generation(drv)
        zoom_in.send_keys(Keys.ENTER)
        wait_ready(drv, since)
        assert drv.execute_script("return window.qpvCarte.map.getZoom()") == zoom + 1
        shot(drv, f"bureau-carte-{role}")
        assert axe_violations(drv) == []
        popup = open_popup_at_right_edge(drv)
        wait_for(lambda: in_viewport(drv, popup), f"fiche entièrement à l'écran {rect(drv, popup)}")
        shot(drv, f"bureau-fiche-{role}")
        assert axe_violations(drv) == []
        assert console_errors(drv) == []
    finally:
        drv.quit()


def test_phone_locate_me_centres_the_map_and_says_when_refused(base_url: str) -> None:
    from selenium.webdriver.common.by import By

    drv = open_map(base_url, PHONE, "technicien")
    try:
        drv.execute_cdp_cmd("Browser.grantPermissions", {"origin": base_url, "permissions": ["geolocation"]})
        drv.execute_cdp_cmd("Emulation.setGeolocationOverride",
                            {"latitude": HERE[0], "longitude": HERE[1], "accuracy": 12})
        drv.execute_script("window.qpvHeard = [];"
                           "document.addEventListener('qpv:position',"
                           " (e) => window.qpvHeard.push(e.detail));")
        before = drv.execute_script("const c = window.qpvCarte.map.getCenter(); return [c.lat, c.lng];")
        assert abs(before[0] - HERE[0]) + abs(before[1] - HERE[1]) > 0.01  # the map starts elsewhere
        drv.find_element(By.ID, "bouton-localiser").click()
        position = wait_for(lambda: drv.execute_script("return window.qpvCarte.lastPosition"),
                            "position reçue")
        assert position["lat"] == pytest.approx(HERE[0]) and position["lng"] == pytest.approx(HERE[1])
        assert position["accuracy"] == pytest.approx(12)
        wait_ready(drv)
        centre, zoom, drawn = drv.execute_script(
            "const q = window.qpvCarte, c = q.map.getCenter();"
            "return [[c.lat, c.lng], q.map.getZoom(),"
            " q.map.hasLayer(q.here.point) && q.map.hasLayer(q.here.accuracy)];")
        assert drv.execute_script(
            "return window.qpvCarte.map.distance(arguments[0], arguments[1])", centre, list(HERE)) < 5
        assert zoom >= 17 and drawn
        assert drv.execute_script("return window.qpvHeard.length") == 1
        assert "Vous êtes ici (à 12 m près)" in text_of(drv.find_element(By.ID, "bandeau"))
        shot(drv, "telephone-localisation")
        # an imprecise position says so
        drv.execute_cdp_cmd("Emulation.setGeolocationOverride",
                            {"latitude": HERE[0], "longitude": HERE[1], "accuracy": 850})
        drv.find_element(By.ID, "bouton-localiser").click()
        wait_for(lambda: "Position approximative (à 850 m près)"
                 in text_of(drv.find_element(By.ID, "bandeau")), "position approximative annoncée")
        # refused: a French message, no position kept from it
        drv.execute_cdp_cmd("Browser.setPermission", {
            "origin": base_url, "permission": {"name": "geolocation"}, "setting": "denied"})
        drv.find_element(By.ID, "bouton-localiser").click()
        wait_for(lambda: "Localisation refusée" in text_of(drv.find_element(By.ID, "bandeau")),
                 "refus de localisation annoncé")
        assert "erreur" in drv.find_element(By.ID, "bandeau").get_attribute("class")
        assert drv.execute_script("return window.qpvHeard.length") == 2
        shot(drv, "telephone-localisation-refusee")
        assert console_errors(drv) == []
    finally:
        drv.quit()


def test_tablet_drawers_beside_the_map(base_url: str) -> None:
    """A tablet (768 × 1024): drawers too, as side sheets that leave most of the map visible."""
    from selenium.webdriver.common.by import By

    tablet = (768, 1024)
    drv = open_map(base_url, tablet, "technicien")
    try:
        carte = rect(drv, drv.find_element(By.ID, "carte"))
        assert carte["height"] >= 0.8 * tablet[1] and carte["width"] == tablet[0]
        assert in_viewport(drv, drv.find_element(By.ID, "bouton-ajout"))
        for drawer, label in DRAWERS.items():
            drv.find_element(By.CSS_SELECTOR, f'#barre-tiroirs button[data-tiroir="{drawer}"]').click()
            box = drv.find_element(By.ID, drawer)
            wait_for(box.is_displayed, f"tiroir {label} ouvert")
            r = rect(drv, box)
            assert r["width"] <= 0.55 * tablet[0] and r["height"] > 0.5 * carte["height"], (label, r)
            assert wider_than_screen(drv) == []
            shot(drv, f"tablette-tiroir-{drawer}")
        assert axe_violations(drv) == []
        # La Mosson (Montpellier): points noirs (triangles) and bacs (squares) told apart by shape
        drv.execute_script("window.qpvCarte.drawers.close()")
        move_map(drv, "window.qpvCarte.map.setView([43.6160, 3.8230], 16, {animate: false})")
        shot(drv, "tablette-formes-montpellier")
        assert console_errors(drv) == []
    finally:
        drv.quit()


def test_phone_list_in_full_page_and_back(base_url: str) -> None:
    """The header's « Liste » on a phone: the list as a page of its own, then back to the map."""
    from selenium.webdriver.common.by import By

    drv = open_map(base_url, PHONE, "anonyme")
    try:
        move_map(drv, "window.qpvCarte.map.setView(arguments[0], 17, {animate: false})", list(HERE))
        drv.find_element(By.ID, "entete-menu").click()
        drv.find_element(By.ID, "lien-liste").click()
        wait_for(lambda: "liste-pleine" in drv.find_element(By.TAG_NAME, "body").get_attribute("class"),
                 "liste plein écran")
        listing = drv.find_element(By.ID, "liste")
        assert listing.is_displayed() and listing.get_attribute("role") == "complementary"
        assert not drv.find_element(By.ID, "carte").is_displayed()
        assert not drv.find_element(By.ID, "barre-tiroirs").is_displayed()
        rows = wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, '[data-couche="observations"] tbody tr'),
                        "constats listés")
        assert rows and wider_than_screen(drv) == []
        shot(drv, "telephone-liste-pleine")
        drv.find_element(By.ID, "liste-carte").click()
        wait_for(lambda: drv.find_element(By.ID, "carte").is_displayed(), "retour à la carte")
        wait_for(lambda: drv.execute_script("return window.qpvCarte.map.getSize().x") == PHONE[0],
                 "carte mesurée à nouveau")
        assert not listing.is_displayed() and drv.find_element(By.ID, "barre-tiroirs").is_displayed()
        assert wider_than_screen(drv) == []
        assert console_errors(drv) == []
    finally:
        drv.quit()
