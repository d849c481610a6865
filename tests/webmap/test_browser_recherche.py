"""Search, share and follow-up on the map, in a real browser with the network cut (issue 17).

On a 390 × 844 phone and a 1400 × 900 desktop: an address of the real Paris BAN is searched
and the map centres there; a permalink reopened in a fresh page restores the view and the
filters; « en retard » shows the late constats and only them; a point noir shows its
dumping events as a timeline and a bin its readings as a chart. Screenshots land in
``tests/artifacts/``; axe-core runs on the opened popups.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from flask import Flask

from layers.schema import OPEN_STATUSES
from layers.settings import REPO_ROOT
from layers.store import open_store
from tests.walkdemo import demo_store_copy
from tests.webmap._browser import (
    AXE_JS,
    DESKTOP,
    PHONE,
    chrome,
    emulate_screen,
    log_in,
    requires_chromium,
    shot,
    text_of,
    wait_for,
)
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app
from webmap._followup import today_paris

pytestmark = [pytest.mark.browser, requires_chromium]

SCREENS = {"telephone": PHONE, "bureau": DESKTOP}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The demo store, with one dumping event of unknown volume (a real-life gap) on a point noir."""
    path = demo_store_copy(tmp_path_factory, "recherche")
    store = open_store(path, create=False)
    try:
        events = store.read_children("points_noirs", "evenements")
        busiest = events["parent_uid"].value_counts().index[0]
        last = pd.to_datetime(events.loc[events["parent_uid"] == busiest, "observed_at"]).max()
        store.add_children("points_noirs", "evenements", pd.DataFrame([{
            "parent_uid": busiest, "observed_at": (last + pd.Timedelta(hours=6)).isoformat(),
            "waste_type": "encombrants", "volume_m3": None, "description": "volume non estimé"}]),
            actor="tests")
    finally:
        store.close()
    return build_app(path, tmp_path_factory.mktemp("recherche-instance"))


@pytest.fixture(scope="module")
def base_url(app: Flask) -> Iterator[str]:
    with serve_in_thread(app) as base:
        yield base


@pytest.fixture(params=list(SCREENS), ids=list(SCREENS))
def screen(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def drv(screen: str) -> Iterator[Any]:
    width, height = SCREENS[screen]
    d = chrome(window=f"{width},{height}", offline=True)
    emulate_screen(d, SCREENS[screen])
    try:
        yield d
    finally:
        d.quit()


def _store_frame(app: Flask, layer: str) -> pd.DataFrame:
    s = open_store(app.config["STORE"], create=False)
    try:
        return s.read(layer)
    finally:
        s.close()


def wait_ready(drv: Any, since: int = 0) -> None:
    wait_for(lambda: drv.execute_script(
        "const c = window.qpvCarte;"
        "return Boolean(c) && c.state.started && c.state.generation > arguments[0]"
        " && document.body.dataset.etat === 'pret';", since), "carte prête")


def generation(drv: Any) -> int:
    return int(drv.execute_script("return window.qpvCarte.state.generation"))


def login(drv: Any, base_url: str) -> None:
    log_in(drv, base_url, LOGINS["technicien"], PASSWORD)
    wait_ready(drv)


def click(drv: Any, element: Any) -> None:
    """Click ``element`` as a finger would, once it is scrolled into view."""
    drv.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def scroll_to(drv: Any, css: str) -> None:
    """Bring ``css`` into the screen (on the phone the map is below the filters) for a screenshot."""
    drv.execute_script("document.querySelector(arguments[0]).scrollIntoView({block: 'center'})", css)


def view(drv: Any) -> tuple[float, float, int]:
    return tuple(drv.execute_script(
        "const m = window.qpvCarte.map, c = m.getCenter(); return [c.lat, c.lng, m.getZoom()];"))


def my_violations(drv: Any, scope: str) -> list[dict[str, Any]]:
    """Serious or critical axe-core violations (WCAG 2.1 A/AA) of the element ``scope`` (CSS)."""
    assert AXE_JS.is_file(), "axe-core absent : lancer « npm ci »"
    drv.execute_script(AXE_JS.read_text(encoding="utf-8"))
    result = drv.execute_async_script("""
      const done = arguments[arguments.length - 1];
      axe.run(document.querySelector(arguments[0]),
              {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
        .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}))))
        .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));""", scope)
    return [v for v in result if v.get("impact") in ("serious", "critical")]


def _ban(numero: str, voie: str) -> tuple[float, float]:
    ban = REPO_ROOT / "data" / "demo" / "paris" / "adresses-75020.csv.gz"
    with gzip.open(ban, "rt", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f, delimiter=";")
                   if r["numero"] == numero and r["nom_voie"] == voie and not r["rep"])
    return float(row["lat"]), float(row["lon"])


def test_search_an_address_and_the_map_centres_there(drv: Any, base_url: str, screen: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    login(drv, base_url)
    field = drv.find_element(By.ID, "recherche-adresse")
    click(drv, field)
    field.send_keys("12 rue des pyren")
    wait_for(lambda: drv.find_element(By.ID, "recherche-liste").is_displayed(), "suggestions affichées")
    options = drv.find_elements(By.CSS_SELECTOR, "#recherche-liste [role=option]")
    assert text_of(options[0]).startswith("12 Rue des Pyrénées, 75020")
    assert field.get_attribute("aria-expanded") == "true"
    field.send_keys(Keys.ARROW_DOWN)
    assert field.get_attribute("aria-activedescendant") == options[0].get_attribute("id")
    assert options[0].get_attribute("aria-selected") == "true"
    field.send_keys(Keys.ENTER)
    lat, lon = _ban("12", "Rue des Pyrénées")
    wait_for(lambda: abs(view(drv)[0] - lat) < 1e-5 and abs(view(drv)[1] - lon) < 1e-5 and view(drv)[2] == 18,
             "carte centrée sur le 12 rue des Pyrénées au zoom 18")
    status = text_of(drv.find_element(By.ID, "recherche-etat"))
    assert status == "Carte centrée sur 12 Rue des Pyrénées, 75020 Paris 20e Arrondissement (zoom 18)."
    assert drv.execute_script("return Boolean(window.qpvCarte.recherche.marker())")
    assert drv.find_element(By.ID, "recherche-liste").get_attribute("hidden") is not None
    wait_ready(drv)
    scroll_to(drv, "#carte")
    shot(drv, f"recherche-adresse-{screen}")
    assert [w for w in drv_wider(drv) if "recherche" in w] == []
    # a misspelt street: said so, the map stays where it is
    before = view(drv)
    field.clear()
    field.send_keys("12 rue des pyrennees")
    field.send_keys(Keys.ENTER)
    wait_for(lambda: "Aucune adresse" in text_of(drv.find_element(By.ID, "recherche-etat")), "aucun résultat")
    assert text_of(drv.find_element(By.ID, "recherche-etat")) == (
        "Aucune adresse trouvée pour « 12 rue des pyrennees » dans le territoire.")
    assert view(drv) == before
    assert my_violations(drv, "#recherche") == []


def drv_wider(drv: Any) -> list[str]:
    from tests.webmap._browser import wider_than_screen

    return wider_than_screen(drv)


def filters_drawer(drv: Any, *, shown: bool) -> None:
    """On a phone the filters (and « Copier le lien ») wait in a drawer: open or close it with its
    button, as a person taps « Filtres »; nothing to do on a wide screen."""
    from selenium.webdriver.common.by import By

    if not drv.execute_script("return window.qpvCarte.drawers.narrow()"):
        return
    drawer = drv.find_element(By.ID, "tiroir-filtres")
    if drawer.is_displayed() != shown:
        drv.find_element(By.CSS_SELECTOR, '[data-tiroir="tiroir-filtres"]').click()
    wait_for(lambda: drawer.is_displayed() == shown, "tiroir des filtres " + ("ouvert" if shown else "fermé"))


def test_a_permalink_reopens_the_same_view_and_filters(drv: Any, base_url: str, screen: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    login(drv, base_url)
    filters_drawer(drv, shown=True)
    since = generation(drv)
    Select(drv.find_element(By.ID, "f-statut")).select_by_value("transmis")
    wait_ready(drv, since)
    since = generation(drv)
    click(drv, drv.find_element(By.ID, "f-en-retard"))
    wait_ready(drv, since)
    since = generation(drv)
    Select(drv.find_element(By.ID, "f-simule")).select_by_value("true")
    wait_ready(drv, since)
    since = generation(drv)
    click(drv, drv.find_element(By.ID, "f-chaleur"))
    wait_ready(drv, since)
    drv.execute_script("const q = window.qpvCarte; q.map.removeLayer(q.state.holders.travaux_npnru);")
    filters_drawer(drv, shown=False)
    field = drv.find_element(By.ID, "recherche-adresse")
    click(drv, field)
    field.send_keys("5 avenue du vert-bois")
    wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#recherche-liste [role=option]"), "suggestion")
    field.send_keys(Keys.ARROW_DOWN, Keys.ENTER)
    wait_for(lambda: "suivi=en-retard" in drv.current_url and "zoom=18" in drv.current_url,
             "adresse de la vue")
    wait_ready(drv)
    state = drv.execute_script("return JSON.stringify(window.qpvCarte.state.filters)")
    period = text_of(drv.find_element(By.ID, "f-mois"))
    before = view(drv)
    filters_drawer(drv, shown=True)
    click(drv, drv.find_element(By.ID, "copier-lien"))
    wait_for(lambda: text_of(drv.find_element(By.ID, "partage-etat")), "message de copie")
    message = text_of(drv.find_element(By.ID, "partage-etat"))
    assert message.startswith(("Lien copié", "Copie automatique impossible"))
    link = drv.find_element(By.ID, "lien-vue").get_attribute("value")
    assert link == drv.current_url
    shot(drv, f"permalien-{screen}")

    drv.get("about:blank")
    drv.get(link)  # a fresh page, the same session
    wait_ready(drv)
    after = view(drv)
    assert abs(after[0] - before[0]) < 1e-4 and abs(after[1] - before[1]) < 1e-4 and after[2] == before[2]
    filters = drv.execute_script("return JSON.stringify(window.qpvCarte.state.filters)")
    assert json.loads(filters) == json.loads(state)
    chosen = {name: Select(drv.find_element(By.ID, name)).first_selected_option.get_attribute("value")
              for name in ("f-statut", "f-simule")}
    assert chosen == {"f-statut": "transmis", "f-simule": "true"}
    assert drv.find_element(By.ID, "f-en-retard").is_selected()
    assert text_of(drv.find_element(By.ID, "f-mois")) == period
    assert drv.find_element(By.ID, "f-chaleur").is_selected()
    assert drv.execute_script("const q = window.qpvCarte; return [q.state.heat,"
                              " q.map.hasLayer(q.state.holders.travaux_npnru),"
                              " q.map.hasLayer(q.state.holders.observations)]") == [True, False, True]
    scroll_to(drv, "#f-suivi")
    shot(drv, f"permalien-rouvert-{screen}")

    # the same link, anonymous: the follow-up filter is not applied, and the page says so
    drv.delete_all_cookies()
    drv.get(link)
    wait_ready(drv)
    assert not drv.find_element(By.ID, "f-en-retard").is_selected()
    assert "réservés aux comptes connectés" in text_of(drv.find_element(By.ID, "bandeau"))


def test_late_filter_shows_the_late_constats_only(app: Flask, drv: Any, base_url: str, screen: str) -> None:
    from selenium.webdriver.common.by import By

    obs = _store_frame(app, "observations")
    deadline = pd.to_datetime(obs["deadline"], errors="coerce")
    late = obs[(deadline < pd.Timestamp(today_paris())) & obs["status"].isin(OPEN_STATUSES)]
    on_time = obs[~obs["uid"].isin(late["uid"])]
    assert len(late) > 10
    login(drv, base_url)
    filters_drawer(drv, shown=True)
    since = generation(drv)
    click(drv, drv.find_element(By.ID, "f-toute-periode"))
    wait_ready(drv, since)
    since = generation(drv)
    click(drv, drv.find_element(By.ID, "f-en-retard"))
    wait_ready(drv, since)
    # zoom on a late constat: every constat drawn is late, the others around are not drawn
    target = late.to_crs("EPSG:4326").iloc[0]
    since = generation(drv)
    drv.execute_script("window.qpvCarte.map.setView([arguments[0], arguments[1]], 17)",
                       target.geometry.y, target.geometry.x)
    wait_ready(drv, since)
    drawn = set(drv.execute_script(
        "return window.qpvCarte.viewData('observations').records.map((f) => f.properties.uid)"))
    assert target["uid"] in drawn and drawn <= set(late["uid"])
    wgs = on_time.to_crs("EPSG:4326")
    bounds = drv.execute_script("const b = window.qpvCarte.map.getBounds();"
                                "return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]")
    around = wgs.cx[bounds[0]:bounds[2], bounds[1]:bounds[3]]
    assert len(around) > 0 and not (drawn & set(around["uid"]))  # open but not late, or closed: hidden
    # layers without a délai (bins, points noirs) are emptied, and the export carries the filter
    assert drv.execute_script("return window.qpvCarte.viewData('bacs').count") == 0
    link = drv.find_element(By.CSS_SELECTOR, 'a[data-couche="observations"][data-format="csv"]')
    href = link.get_attribute("href")
    assert "suivi=en-retard" in href
    assert not drv.find_elements(By.CSS_SELECTOR, 'a[data-couche="bacs"]')
    body = drv.execute_async_script(
        "const done = arguments[1]; fetch(arguments[0], {credentials: 'same-origin'})"
        ".then((r) => r.text()).then(done)", href)
    rows = list(csv.DictReader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert {r["uid"] for r in rows} == set(late["uid"])
    scroll_to(drv, "#carte")
    shot(drv, f"en-retard-{screen}")


def test_point_noir_timeline_and_bin_chart(app: Flask, drv: Any, base_url: str, screen: str) -> None:
    from selenium.webdriver.common.by import By

    s = open_store(app.config["STORE"], create=False)
    try:
        events = s.read_children("points_noirs", "evenements")
        readings = s.read_children("bacs", "releves")
    finally:
        s.close()
    pn = events["parent_uid"].value_counts().index[0]
    mine = events[events["parent_uid"] == pn]
    login(drv, base_url)
    drv.execute_script("window.qpvCarte.openRecord('points_noirs', arguments[0])", pn)
    fiche = wait_for(lambda: drv.find_element(By.CSS_SELECTOR, ".leaflet-popup .suivi-fiche svg") and
                     drv.find_element(By.CSS_SELECTOR, ".leaflet-popup .suivi-fiche"), "frise des dépôts")
    summary = text_of(fiche.find_element(By.CSS_SELECTOR, ".resume"))
    assert summary.startswith(f"{len(mine)} dépôts du ")
    assert "1 dépôt de volume n.d., non compté" in summary
    assert f"{len(mine) - 1} dépôts simulés" in summary
    svg = fiche.find_element(By.TAG_NAME, "svg")
    assert svg.get_attribute("role") == "img"
    assert text_of(drv.find_element(By.ID, svg.get_attribute("aria-labelledby"))) == summary
    assert len(svg.find_elements(By.CSS_SELECTOR, "rect.barre")) == len(mine) - 1
    assert len(svg.find_elements(By.CSS_SELECTOR, "path.inconnu")) == 1  # never a bar at 0
    items = [text_of(li) for li in fiche.find_elements(By.CSS_SELECTOR, "ol li")]
    assert items[0].startswith(tuple("0123456789")) and "volume n.d." in items[0]
    assert "(simulé)" not in items[0] and "(simulé)" in items[1]
    dates = [pd.to_datetime(i[:10], format="%d/%m/%Y") for i in items]
    assert dates == sorted(dates, reverse=True)  # newest first
    assert all(" m³" in i or "volume n.d." in i for i in items)
    assert fiche.get_attribute("style") in (None, "")
    scroll_to(drv, ".leaflet-popup .suivi-fiche")
    shot(drv, f"point-noir-frise-{screen}")
    assert my_violations(drv, ".leaflet-popup") == []

    bac = readings["parent_uid"].value_counts().index[0]
    # (on the phone the layer control still covers the popup's cross: the drawers of part B fix it)
    drv.execute_script("const m = window.qpvCarte.map;"
                       "m.eachLayer((l) => { if (l instanceof L.Popup) m.closePopup(l); });")
    wait_for(lambda: not drv.find_elements(By.CSS_SELECTOR, ".leaflet-popup"), "fiche fermée")
    drv.execute_script("window.qpvCarte.openRecord('bacs', arguments[0])", bac)
    fiche = wait_for(lambda: drv.find_element(By.CSS_SELECTOR, ".leaflet-popup .suivi-fiche svg") and
                     drv.find_element(By.CSS_SELECTOR, ".leaflet-popup .suivi-fiche"), "graphe du bac")
    assert text_of(fiche.find_element(By.TAG_NAME, "h4")) == "Remplissage et levées"
    summary = text_of(fiche.find_element(By.CSS_SELECTOR, ".resume"))
    last = readings[readings["parent_uid"] == bac].sort_values("measured_at").iloc[-1]
    assert summary.startswith(f"Dernier relevé : {last['fill_pct']:.0f} % le "
                              f"{pd.Timestamp(last['measured_at']).strftime('%d/%m/%Y')} (simulé)")
    assert "remplissage moyen avant levée" in summary or "avant levée n.d." in summary
    assert fiche.find_elements(By.CSS_SELECTOR, "svg circle.point")
    scroll_to(drv, ".leaflet-popup .suivi-fiche")
    shot(drv, f"bac-graphe-{screen}")
    assert my_violations(drv, ".leaflet-popup") == []
