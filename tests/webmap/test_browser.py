"""The map page in a real browser (Debian chromium + chromedriver, headless, no network).

The real application serves a demo store built from ``data/demo`` with
:func:`layers.demo.build_demo`, with ``BASEMAP = "aucun"``. Screenshots land in
``tests/artifacts/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from layers.demo import build_demo
from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.webmap._browser import chrome, log_in, png_bytes, requires_chromium, shot, text_of, wait_for
from tests.webmap._server import serve_in_thread
from webmap import users
from webmap.app import create_app

PASSWORD = "mot-de-passe-navigateur"
LOGINS = {"technicien": "tina", "lecteur": "luc"}
# A quiet spot inside QP075019 (Paris 20e) where the new observation is placed.
PLACE = (48.8606, 2.4106)

pytestmark = [pytest.mark.browser, requires_chromium]


@pytest.fixture(scope="module")
def map_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The real app on the demo store, no base map, one technician and one reader."""
    folder = tmp_path_factory.mktemp("carte")
    store = open_store(folder / "demo.gpkg")
    try:
        build_demo(store, REPO_ROOT / "data" / "demo", report_dir=folder / "rapports")
    finally:
        store.close()
    app = create_app({"STORE": str(folder / "demo.gpkg"), "instance_path": str(folder / "instance"),
                      "SECRET_KEY": "clef-navigateur", "BASEMAP": "aucun"})
    for role, login in LOGINS.items():
        users.add_user(app.config["USERS_DB"], login, PASSWORD, role=role, organisation="ville")
    return app


@pytest.fixture(scope="module")
def base_url(map_app: Flask) -> Iterator[str]:
    """The app served by werkzeug on 127.0.0.1 in a thread."""
    with serve_in_thread(map_app) as base:
        yield base


@pytest.fixture
def driver() -> Iterator[Any]:
    """A headless chromium driven by Debian's chromedriver (no download of anything)."""
    drv = chrome(window="1400,900")
    try:
        yield drv
    finally:
        drv.quit()


def refresh_count(drv: Any) -> int:
    """How many map refreshes the page has started (``qpvCarte.state.generation``)."""
    return int(drv.execute_script("return window.qpvCarte ? window.qpvCarte.state.generation : -1"))


def wait_ready(drv: Any, since: int = 0) -> None:
    """Wait until a map refresh started after the first ``since`` ones is drawn.

    ``body[data-etat=pret]`` alone is not enough: a refresh is debounced, so the page is
    still "pret" for a moment after a move or a filter change. With ``since=0`` (a page
    just loaded): its first refresh is drawn.
    """
    wait_for(lambda: drv.execute_script(
        "const c = window.qpvCarte;"
        "return Boolean(c) && c.state.started && c.state.generation > arguments[0]"
        " && document.body.dataset.etat === 'pret';", since),
        f"carte prête (mise à jour n° {since + 1} ou suivante dessinée, rien en cours)")


@contextlib.contextmanager
def refreshed(drv: Any) -> Iterator[None]:
    """Run the block (one action that refreshes the map), then wait until that refresh is drawn."""
    since = refresh_count(drv)
    yield
    wait_ready(drv, since)


def console_errors(drv: Any) -> list[str]:
    return [e["message"] for e in drv.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]  # login page's icon


def layer_count(drv: Any, name: str) -> int | None:
    """Count shown in the list for layer ``name`` (None when the layer is not listed)."""
    return drv.execute_script(
        "const d = window.qpvCarte.viewData(arguments[0]);"
        "const on = window.qpvCarte.map.hasLayer(window.qpvCarte.state.holders[arguments[0]]);"
        "return on && d ? d.count : null;", name)


def layer_labels(drv: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    labels = drv.find_elements(By.CSS_SELECTOR, ".leaflet-control-layers-overlays label")
    return [text_of(e) for e in labels]


def login(drv: Any, base_url: str, role: str) -> None:
    log_in(drv, base_url, LOGINS[role], PASSWORD)
    wait_ready(drv)


def test_map_layers_slider_and_list(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.get(base_url + "/")
    wait_ready(driver)
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    assert driver.execute_script("return performance.getEntriesByName('qpv-premier-rendu').length") == 1
    labels = layer_labels(driver)
    assert any(label.startswith("Périmètres QPV") for label in labels)
    assert any(label.startswith("Constats et signalements") for label in labels)
    assert not any("Vidéoprotection" in label for label in labels)  # anonymous visitor
    assert driver.find_element(By.ID, "lien-connexion").get_attribute("href").endswith("/connexion?suivant=/")
    assert not driver.find_element(By.ID, "edition").is_displayed()

    # the period starts on the last 12 months of the events, not on the whole period
    assert not driver.find_element(By.ID, "f-toute-periode").is_selected()
    assert "Par défaut : les 12 derniers mois" in text_of(driver.find_element(By.ID, "f-etendue"))
    with refreshed(driver):
        driver.find_element(By.ID, "f-toute-periode").click()
    # the simulated points noirs (Montpellier) are loaded whole, then cut to the view
    assert (layer_count(driver, "points_noirs") or 0) > 0
    # Paris 20e at zoom 14: individual records, listed beside the map
    with refreshed(driver):
        driver.execute_script("window.qpvCarte.map.setView([48.8635, 2.4010], 14)")
    assert layer_count(driver, "points_noirs") == 0
    all_time = layer_count(driver, "observations")
    assert all_time and all_time > 100
    rows = driver.find_elements(By.CSS_SELECTOR, '[data-couche="observations"] tbody tr')
    assert len(rows) == min(all_time, 200)
    total = int(driver.find_element(By.ID, "liste-total").get_attribute("data-total"))
    assert total >= all_time
    shot(driver, "carte-anonyme")

    # toggle a layer off and on in the layer control
    obs_box = driver.find_element(
        By.XPATH, "//div[contains(@class,'leaflet-control-layers-overlays')]"
                  "//label[contains(., 'Constats et signalements')]//input")
    with refreshed(driver):
        obs_box.click()
    assert layer_count(driver, "observations") is None
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-couche="observations"]')
    assert int(driver.find_element(By.ID, "liste-total").get_attribute("data-total")) == total - all_time
    with refreshed(driver):
        obs_box.click()
    assert layer_count(driver, "observations") == all_time

    # the time slider (it starts on the last month): one step back, then two more
    slider = driver.find_element(By.ID, "f-curseur")
    with refreshed(driver):
        slider.send_keys(Keys.ARROW_LEFT)
    assert not driver.find_element(By.ID, "f-toute-periode").is_selected()
    last_month_label = text_of(driver.find_element(By.ID, "f-mois"))
    last_month = layer_count(driver, "observations")
    for _ in range(2):  # one step at a time: each debounced refresh is awaited
        with refreshed(driver):
            slider.send_keys(Keys.ARROW_LEFT)
    other_label = text_of(driver.find_element(By.ID, "f-mois"))
    other = layer_count(driver, "observations")
    assert other_label != last_month_label
    assert last_month is not None and other is not None
    assert last_month < all_time and other < all_time and (last_month, other) != (all_time, all_time)
    assert driver.find_element(By.ID, "f-debut").get_attribute("value") != ""
    shot(driver, "carte-curseur")
    # every layer follows: the export links carry the period
    link = driver.find_element(By.CSS_SELECTOR, 'a[data-couche="observations"][data-format="csv"]')
    assert "start=" in link.get_attribute("href") and "end=" in link.get_attribute("href")

    # heat map instead of markers for the point layers
    with refreshed(driver):
        driver.find_element(By.ID, "f-chaleur").click()
    assert driver.execute_script(
        "const h = window.qpvCarte.state.holders.observations;"
        "return window.qpvCarte.map.hasLayer(h.heat) && !window.qpvCarte.map.hasLayer(h.cluster)")
    assert driver.find_elements(By.CSS_SELECTOR, "canvas.leaflet-heatmap-layer")
    shot(driver, "carte-chaleur")
    with refreshed(driver):
        driver.find_element(By.ID, "f-chaleur").click()

    # back to the whole period, then the list in full page
    with refreshed(driver):
        driver.find_element(By.ID, "f-toute-periode").click()
    assert layer_count(driver, "observations") == all_time
    driver.find_element(By.ID, "lien-liste").click()
    wait_for(lambda: "liste-pleine" in driver.find_element(By.TAG_NAME, "body").get_attribute("class"),
             "liste plein écran")
    assert not driver.find_element(By.ID, "carte").is_displayed()
    summary = wait_for(lambda: text_of(driver.find_element(
        By.CSS_SELECTOR, '.synthese[data-couche="observations"]')), "synthèse de la liste")
    assert "Par statut" in summary and "Par thème" in summary
    # Paris 20e: the Dans Ma Rue file of the demo is a sample, and the summary says so
    assert "Échantillon : 10 000 signalements" in summary and "comptes sont partiels" in summary
    shot(driver, "liste-plein-ecran")
    assert console_errors(driver) == []


def test_technicien_creates_observation_with_photo(driver: Any, base_url: str, map_app: Flask,
                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    photo = tmp_path / "constat.png"
    photo.write_bytes(png_bytes())
    login(driver, base_url, "technicien")
    assert "tina (technicien" in text_of(driver.find_element(By.ID, "session-info"))
    assert any("Vidéoprotection" in label for label in layer_labels(driver))
    with refreshed(driver):
        driver.execute_script("window.qpvCarte.map.setView(arguments[0], 18)", list(PLACE))
    before = layer_count(driver, "observations") or 0

    driver.find_element(By.ID, "bouton-ajout").click()
    assert driver.find_element(By.ID, "aide-ajout").is_displayed()
    carte = driver.find_element(By.ID, "carte")
    ActionChains(driver).move_to_element(carte).click().perform()
    form = wait_for(lambda: driver.find_elements(By.ID, "form-saisie"), "formulaire de saisie")[0]
    Select(form.find_element(By.NAME, "theme")).select_by_visible_text("dépôts sauvages")
    form.find_element(By.NAME, "description").send_keys("Matelas déposé au pied de l'immeuble")
    form.find_element(By.NAME, "photos").send_keys(str(photo))
    shot(driver, "saisie-constat")
    with refreshed(driver):  # the map reloads once the record is created
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        uid = wait_for(lambda: driver.execute_script("return window.qpvCarte.state.lastCreated"),
                       "constat créé")
    # the banner hides itself after 8 s: its text is read from the DOM
    assert "Constat « dépôts sauvages » enregistré" in text_of(driver.find_element(By.ID, "bandeau"))
    assert layer_count(driver, "observations") == before + 1

    # in the list beside the map...
    row = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, f'tr[data-uid="{uid}"]'),
                   "ligne du constat")[0]
    assert "dépôts sauvages" in text_of(row)
    # ...and on the map: its popup opens from the list, with the photo served by the app
    row.click()
    fiche = wait_for(lambda: driver.find_elements(
        By.CSS_SELECTOR, f'.leaflet-popup .fiche[data-uid="{uid}"]'), "fiche du constat sur la carte")[0]
    fiche_text = text_of(fiche)  # its top may be scrolled out of the popup or of the map
    assert "Matelas déposé" in fiche_text and "nouveau" in fiche_text
    img = fiche.find_element(By.CSS_SELECTOR, ".photos img")
    wait_for(lambda: driver.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth", img) == 24, "photo chargée")
    wait_for(lambda: "nouveau" in text_of(fiche.find_element(By.CSS_SELECTOR, ".historique-liste")),
             "historique")

    # change its status with a comment: the history in the popup shows it
    status_form = fiche.find_element(By.CSS_SELECTOR, "form.form-statut")
    Select(status_form.find_element(By.NAME, "status")).select_by_value("transmis")
    status_form.find_element(By.NAME, "comment").send_keys("Transmis au bailleur")
    status_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: "Transmis au bailleur" in text_of(driver.find_element(
        By.CSS_SELECTOR, ".leaflet-popup .historique-liste")), "historique mis à jour")
    shot(driver, "constat-cree")

    # a dumping event on a (simulated) point noir of Montpellier, through its popup
    with refreshed(driver):
        driver.execute_script("window.qpvCarte.map.setView([43.6345, 3.8200], 13)")
    pn = driver.execute_script("return window.qpvCarte.viewData('points_noirs').records[0].properties.uid")
    with open_store(map_app.config["STORE"], create=False) as store:
        before_events = len(store.read_children("points_noirs", "evenements", parent_uids=[pn]))
    driver.execute_script("window.qpvCarte.openRecord('points_noirs', arguments[0])", pn)
    event_form = wait_for(lambda: driver.find_elements(
        By.CSS_SELECTOR, ".leaflet-popup form.form-evenements"), "formulaire de dépôt")[0]
    fiche_pn = driver.find_element(By.CSS_SELECTOR, f'.leaflet-popup .fiche[data-uid="{pn}"]')
    assert "donnée simulée" in text_of(fiche_pn)
    Select(event_form.find_element(By.NAME, "waste_type")).select_by_value("encombrants")
    event_form.find_element(By.NAME, "volume_m3").send_keys("2.5")
    event_form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait_for(lambda: text_of(event_form.find_element(By.CSS_SELECTOR, ".message")) == "Enregistré.",
             "dépôt enregistré")
    with open_store(map_app.config["STORE"], create=False) as store:
        events = store.read_children("points_noirs", "evenements", parent_uids=[pn])
    assert len(events) == before_events + 1
    assert (events["waste_type"] == "encombrants").sum() >= 1 and 2.5 in set(events["volume_m3"])
    shot(driver, "point-noir-depot")
    assert console_errors(driver) == []


def test_lecteur_cannot_see_videoprotection(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By

    login(driver, base_url, "lecteur")
    assert "luc (lecteur" in text_of(driver.find_element(By.ID, "session-info"))
    labels = layer_labels(driver)
    assert any(label.startswith("Constats et signalements") for label in labels)
    assert not any("Vidéoprotection" in label for label in labels)
    assert not driver.find_element(By.ID, "edition").is_displayed()
    shot(driver, "carte-lecteur")
    assert console_errors(driver) == []
    # the API answers as if the layer did not exist
    status = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/api/layers/videoprotection/features?bbox=2.38,48.85,2.42,48.88').then(r => done(r.status));")
    assert status == 404


def test_a_day_without_its_hour_is_shown_as_a_day(driver: Any, base_url: str) -> None:
    """Dans Ma Rue publishes days: a datetime at exactly midnight shows no « 00:00 »."""
    login(driver, base_url, "lecteur")
    shown = driver.execute_script("""
      const f = window.qpvCarte.formatValue;
      return [f("2024-07-08T00:00:00", "datetime"), f("2024-07-08T00:00", "datetime"),
              f("2024-07-08T09:05:00", "datetime"), f("2024-07-08T00:00:07", "datetime"),
              f("2024-07-08", "date")];""")
    assert shown[0] == shown[1] == shown[4] == "08/07/2024"
    assert shown[2] == "08/07/2024 09:05"
    assert shown[3] == "08/07/2024 00:00"  # a recorded second past midnight is a time


def test_unreachable_tiles_fall_back_to_vector_context(driver: Any, map_app: Flask,
                                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    from selenium.webdriver.common.by import By

    # tiles of a "server" that answers 404 to every tile: no network is involved
    app = create_app({"STORE": map_app.config["STORE"], "SECRET_KEY": "clef-tuiles",
                      "instance_path": str(tmp_path_factory.mktemp("instance-tuiles")),
                      "BASEMAP": "/tuiles-absentes/{z}/{x}/{y}.png"})
    with serve_in_thread(app) as base:
        driver.get(f"{base}/")
        wait_ready(driver)
        wait_for(lambda: "injoignable" in text_of(driver.find_element(By.ID, "bandeau")),
                 "bascule sans tuiles")
        with refreshed(driver):
            driver.execute_script("window.qpvCarte.map.setView([43.6160, 3.8230], 16)")  # La Mosson
        n_voies, n_bati = driver.execute_script(
            "const c = window.qpvCarte.context;"
            "return [c.voies.getLayers().length, c.batiments.getLayers().length];")
        assert n_voies > 10 and n_bati > 10
        shot(driver, "contexte-vectoriel")
        with refreshed(driver):
            driver.execute_script("window.qpvCarte.map.setView([43.6160, 3.8230], 13)")
        assert driver.execute_script("return window.qpvCarte.context.voies.getLayers().length") == 0
