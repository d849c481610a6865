"""The walk planner's journey in a real browser (Debian chromium, headless, no network).

A technicien logs in, plans a 90-minute walk in a Montpellier QPV of the demo store (real
streets and addresses), imposes a point noir, removes a stop, recomputes, saves, and
downloads the sheet PDF, whose text (pdftotext) lists the same stops, in the same order, as
the page. On the desktop the quartier is Mosson (196 candidate stops: a large quartier, the
page runs a « parcours » job and shows its progress) with an address search for the start;
on the phone (390 × 844 emulated) Figuerolles (computed directly) with a tap on the map.
Screenshots land in ``tests/artifacts/``.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import requests
from flask import Flask
from shapely.geometry import Point

from layers.settings import get_settings
from layers.store import open_store
from tests.walkdemo import MOSSON, MOSSON_START, demo_store_copy
from tests.webmap._browser import chrome, log_in, requires_chromium, shot, submit_login, text_of, wait_for
from tests.webmap._server import serve_in_thread
from tests.webmap.security._fixtures import LOGINS, PASSWORD, build_app
from webmap.jobs.views import job_queue

pytestmark = [pytest.mark.browser, requires_chromium,
              pytest.mark.skipif(shutil.which("pdftotext") is None,
                                 reason="pdftotext (poppler-utils) absent")]

FIGUEROLLES = "QP034010"
PARIS = "QP075019"
NO_NETWORK = "QP094025"  # Champigny: no street network in the demo store


@dataclass(frozen=True)
class Journey:
    size: str
    width: int
    height: int
    quartier: str
    job: bool  # the page computes through a background job


JOURNEYS = {"bureau": Journey("bureau", 1280, 900, MOSSON, True),
            "telephone": Journey("telephone", 390, 844, FIGUEROLLES, False)}


@pytest.fixture(scope="module")
def planner_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Flask]]:
    path = demo_store_copy(tmp_path_factory, "planificateur")
    app = build_app(path, path.parent / "instance")
    workers = job_queue(app).start_workers(1, poll=0.1)
    try:
        with serve_in_thread(app) as base:
            yield base, app
    finally:
        workers.stop()


def _nearest_address(app: Flask, lon: float, lat: float) -> str:
    """The address of the store nearest to ``lon, lat`` (« 51 Rue de Louvois »), read from the data."""
    with open_store(app.config["STORE"], create=False) as store:
        point = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326").to_crs(store.crs).iloc[0]
        near = store.read("adresses", bbox=point.buffer(150).bounds)
    assert len(near), "aucune adresse près du départ"
    row = near.loc[near.distance(point).idxmin()]
    return f"{row['number']}{row['suffix'] or ''} {row['street']}"


def _fits(drv: Any) -> bool:
    return bool(drv.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"))


def _etat(drv: Any) -> str:
    return str(drv.execute_script("return document.body.dataset.etat || ''"))


def _stops(drv: Any) -> list[tuple[str, str]]:
    """(candidate id, label) of the stops the page shows, in order (one group)."""
    return [(li.get_attribute("data-id"),
             text_of(li.find_element("css selector", ".pl-lib b")).split(" ", 1)[1])
            for li in drv.find_elements("css selector", "#pl-groupes-resultat .pl-etapes li")]


def _calculate(drv: Any, journey: Journey) -> list[str]:
    """Click « Calculer » and wait for the result; return the progress texts seen meanwhile."""
    seen: list[str] = []
    drv.find_element("id", "pl-calculer").click()

    def finished() -> bool:
        step = text_of(drv.find_element("id", "pl-etape"))
        if step and step not in seen:
            seen.append(step)
        return _etat(drv) in ("resultat", "erreur")

    wait_for(finished, "parcours calculé")
    assert _etat(drv) == "resultat", text_of(drv.find_element("id", "pl-message"))
    return seen


def _tap_map(drv: Any, lon: float, lat: float) -> str:
    """Tap the map at ``lon, lat`` as a finger would (pointer and mouse events at that pixel)."""
    drv.execute_script(
        "const m = window.qpvPlanificateur.map(), el = document.getElementById('pl-carte');"
        "m.setView([arguments[1], arguments[0]], 17, {animate: false});"
        "el.scrollIntoView({block: 'center'});", lon, lat)
    return str(drv.execute_script(
        "const m = window.qpvPlanificateur.map(), el = document.getElementById('pl-carte');"
        "const p = m.latLngToContainerPoint([arguments[1], arguments[0]]), r = el.getBoundingClientRect();"
        "const o = {bubbles: true, cancelable: true, clientX: r.left + p.x, clientY: r.top + p.y};"
        "const t = document.elementFromPoint(o.clientX, o.clientY);"
        "['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'].forEach((k) =>"
        " t.dispatchEvent(new (k.startsWith('pointer') ? PointerEvent : MouseEvent)(k, o)));"
        "return t.tagName + '.' + t.className.toString();", lon, lat))


def _pdf_text(drv: Any, base: str, href: str, folder: Path) -> str:
    http = requests.Session()
    for c in drv.get_cookies():
        http.cookies.set(c["name"], c["value"])
    res = http.get(base + href, timeout=120)
    assert res.status_code == 200 and res.headers["Content-Type"] == "application/pdf", res.status_code
    pdf = folder / "feuille.pdf"
    pdf.write_bytes(res.content)
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True)
    return " ".join(out.stdout.split())


@pytest.mark.parametrize("size", list(JOURNEYS))
def test_technicien_plans_removes_recomputes_saves_and_gets_the_same_stops_in_the_pdf(
        planner_server: tuple[str, Flask], size: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, app = planner_server
    journey = JOURNEYS[size]
    picked = ""
    assert get_settings().planner_job_candidates < 196  # Mosson is « large » under the default threshold
    drv = chrome(window=f"{max(journey.width, 500)},{journey.height}")
    try:
        drv.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": journey.width, "height": journey.height, "deviceScaleFactor": 1,
                             "mobile": journey.width < 500})
        # anonymous: the planner sends to the login page, which comes back to it
        drv.get(f"{base}/diagnostics/nouveau")
        wait_for(lambda: "/connexion" in drv.current_url, "page de connexion")
        submit_login(drv, LOGINS["technicien"], PASSWORD, then="/diagnostics/nouveau")
        wait_for(lambda: _etat(drv) == "pret",
                 "planificateur prêt")
        assert drv.execute_script("return window.innerWidth") == journey.width
        current = drv.find_element(By.CSS_SELECTOR, '.entete-liens a[aria-current="page"]')
        assert text_of(current) == "Diagnostics"
        shot(drv, f"planificateur-vide-{size}")

        if not journey.job:  # Champigny has no street in the demo store: said plainly, nothing to compute
            Select(drv.find_element(By.ID, "pl-quartier")).select_by_value(NO_NETWORK)
            wait_for(lambda: "Pas de réseau de rues connu pour ce quartier" in text_of(
                drv.find_element(By.ID, "pl-reseau")), "quartier sans réseau signalé")
            assert not drv.find_element(By.ID, "pl-calculer").is_enabled()
            assert "non desservi" not in text_of(drv.find_element(By.TAG_NAME, "main"))
            shot(drv, f"planificateur-sans-reseau-{size}")
        Select(drv.find_element(By.ID, "pl-quartier")).select_by_value(journey.quartier)
        wait_for(lambda: _etat(drv) == "pret"
                 and "arrêts candidats" in text_of(drv.find_element(By.ID, "pl-reseau")), "quartier chargé")
        network = text_of(drv.find_element(By.ID, "pl-reseau"))
        assert ("arrière-plan" in network) is journey.job, network
        if journey.job:  # the start from an address search (/api/lookup), read from the store
            address = _nearest_address(app, *MOSSON_START)
            drv.find_element(By.ID, "pl-adresse").send_keys(address)
            drv.find_element(By.ID, "pl-chercher").click()
            wait_for(lambda: text_of(drv.find_element(By.ID, "pl-depart")).startswith("Départ : "),
                     "départ trouvé")
            assert address.split(" ", 1)[1].lower() in text_of(drv.find_element(By.ID, "pl-depart")).lower()
        else:  # a tap on the map, 10 m beside a street of the quartier (the first candidate « rue »)
            info = drv.execute_script("return window.qpvPlanificateur.state.info.candidats"
                                      ".filter((c) => c.kind === 'rue')[0]")
            target = _tap_map(drv, info["lon"] + 0.0001, info["lat"] + 0.00003)
            wait_for(lambda: "point choisi sur la carte" in text_of(drv.find_element(By.ID, "pl-depart")),
                     f"départ choisi sur la carte (touché : {target})")
            # and a mandatory stop picked on the map: the open constat nearest to the start
            near = drv.execute_script(
                "const s = window.qpvPlanificateur.state, d = (c) => (c.lon - s.start.lon) ** 2"
                " + (c.lat - s.start.lat) ** 2;"
                "return s.info.candidats.filter((c) => c.kind === 'constat').sort((a, b) => d(a) - d(b))[0];")
            target = _tap_map(drv, near["lon"], near["lat"])
            button = wait_for(lambda: [b for b in drv.find_elements(By.CSS_SELECTOR, ".leaflet-popup button")
                                       if text_of(b) == "Étape obligatoire"],
                              f"fiche du constat ouverte (touché : {target})")[0]
            shot(drv, f"planificateur-fiche-{size}")
            button.click()
            wait_for(lambda: near["label"] in text_of(drv.find_element(By.ID, "pl-choisies")),
                     "constat imposé depuis la carte")
            picked = near["id"]
        assert drv.find_element(By.ID, "pl-duree").get_attribute("value") == "90"
        if journey.job:  # a duration out of bounds: the server's French refusal names the form's field
            duration = drv.find_element(By.ID, "pl-duree")
            duration.clear()
            duration.send_keys("10")
            drv.find_element(By.ID, "pl-calculer").click()
            wait_for(lambda: _etat(drv) == "erreur", "refus de la durée")
            refusal = text_of(drv.find_element(By.ID, "pl-message"))
            assert "« Durée » hors limites : 10 (de 15 à 480)" in refusal, refusal
            assert duration.get_attribute("aria-invalid") == "true"
            assert duration.get_attribute("aria-describedby") == "pl-message"
            duration.clear()
            duration.send_keys("90")

        # impose the point noir of the list nearest to the start (the demo's are drawn at random:
        # a far one would leave the 90 minutes little else)
        details = drv.find_element(By.CSS_SELECTOR, "#pl-listes details[data-kind=point_noir]")
        drv.execute_script("arguments[0].open = true; arguments[0].scrollIntoView({block: 'center'});",
                           details)
        imposed = drv.execute_script(
            "const s = window.qpvPlanificateur.state, d = (c) => (c.lon - s.start.lon) ** 2"
            " + (c.lat - s.start.lat) ** 2;"
            "return s.info.candidats.filter((c) => c.kind === 'point_noir')"
            ".sort((a, b) => d(a) - d(b))[0].id;")
        box = details.find_element(By.CSS_SELECTOR, f'input[type=checkbox][data-id="{imposed}"]')
        drv.execute_script("arguments[0].click();", box)
        assert imposed in text_of(drv.find_element(By.ID, "pl-choisies")) or "Imposées" in text_of(
            drv.find_element(By.ID, "pl-choisies"))
        assert _fits(drv), "le formulaire déborde"
        shot(drv, f"planificateur-formulaire-{size}")

        seen = _calculate(drv, journey)
        if journey.job:
            assert any("%" in s for s in seen), seen
            jobs = [j for j in job_queue(app).jobs() if j.kind == "parcours"]
            assert jobs and jobs[0].state == "terminé" and jobs[0].owner == LOGINS["technicien"]
        first = _stops(drv)
        assert len(first) >= 4, first
        assert imposed in [i for i, _ in first]
        if not journey.job:
            assert picked in [i for i, _ in first]
        times = [text_of(b).split(" ", 1)[0]
                 for b in drv.find_elements(By.CSS_SELECTOR, "#pl-groupes-resultat .pl-lib b")]
        assert times == sorted(times) and all(len(t) == 5 and t[2] == ":" for t in times), times
        summary = text_of(drv.find_element(By.CSS_SELECTOR, ".pl-groupe h3"))
        assert "sur 90 prévues" in summary, summary
        minutes = int(summary.split(" min sur")[0].split("·")[-1].strip())
        assert minutes <= 90
        markers = drv.execute_script(
            "return document.querySelectorAll('#pl-carte .leaflet-marker-icon.pl-numero').length")
        assert markers == len(first)
        # the map knows its real size (no part of the route cut off when the layout changes)
        sizes = drv.execute_script(
            "const m = window.qpvPlanificateur.map(), el = document.getElementById('pl-carte');"
            "const s = m.getSize(); return [s.x, s.y, el.clientWidth, el.clientHeight];")
        assert sizes[:2] == sizes[2:], sizes
        assert "Arrêts laissés de côté (" in text_of(drv.find_element(By.ID, "pl-cote-titre"))
        assert _fits(drv), "le parcours déborde"
        shot(drv, f"planificateur-parcours-{size}")

        # remove the second stop (not the imposed one), recompute
        dropped = next(i for i, _ in first[1:] if i != imposed)
        button = drv.find_element(By.CSS_SELECTOR, f'#pl-groupes-resultat li[data-id="{dropped}"] button')
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", button)
        wait_for(lambda: drv.find_element(By.ID, "pl-perime").is_displayed(), "parcours à recalculer")
        assert not drv.find_element(By.ID, "pl-enregistrer").is_enabled()
        assert text_of(drv.find_element(By.ID, "pl-calculer")) == "Recalculer"
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});",
                           drv.find_element(By.ID, "pl-calculer"))
        _calculate(drv, journey)
        second = _stops(drv)
        assert dropped not in [i for i, _ in second] and imposed in [i for i, _ in second]
        left = drv.find_element(By.CSS_SELECTOR, f'#pl-cote-liste li[data-id="{dropped}"]')
        assert "retiré par le planificateur" in text_of(left)
        assert not drv.find_element(By.ID, "pl-perime").is_displayed()

        # save, then the links; the sheet PDF lists the same stops in the same order
        save = drv.find_element(By.ID, "pl-enregistrer")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", save)
        wait_for(lambda: _etat(drv) in ("enregistre", "erreur"), "diagnostic enregistré")
        assert _etat(drv) == "enregistre", text_of(drv.find_element(By.ID, "pl-message"))
        assert not drv.find_element(By.ID, "pl-enregistrer").is_enabled()  # no second copy by a double click
        links = drv.find_element(By.ID, "pl-liens")
        sheet = links.find_element(By.CSS_SELECTOR, "a.pl-lien-feuille").get_attribute("href")
        gpx = links.find_element(By.CSS_SELECTOR, "a.pl-lien-gpx").get_attribute("href")
        assert gpx.endswith("/route.gpx")
        page = links.find_element(By.CSS_SELECTOR, "a.pl-lien-page").get_attribute("href")
        assert _fits(drv)
        shot(drv, f"planificateur-enregistre-{size}")
        text = _pdf_text(drv, base, sheet.removeprefix(base), tmp_path)
        position = 0
        for order, (_, label) in enumerate(second, start=1):
            found = text.find(f"Arrêt {order} — {label}", position)
            assert found >= 0, (order, label, text[:3000])
            position = found
        assert f"Arrêt {len(second) + 1} —" not in text
        # the field page of the walk opens with the same stops
        drv.get(page)
        wait_for(lambda: drv.find_elements(By.CSS_SELECTOR, "#dg-etapes li"), "page de terrain")
        assert [text_of(b) for b in drv.find_elements(By.CSS_SELECTOR, "#dg-etapes li > b")] == [
            label for _, label in second]
        errors = [e["message"] for e in drv.get_log("browser")  # the refused duration's 400 is expected
                  if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
                  and "status of 400 (BAD REQUEST)" not in e["message"]]
        assert not errors, errors
    finally:
        drv.quit()


def test_groups_and_every_street_mode_on_the_desktop(planner_server: tuple[str, Flask]) -> None:
    """Two groups share the stops (two numbered lists, two tracks); « toutes les rues » says its coverage."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, _ = planner_server
    drv = chrome(window="1280,900")
    try:
        log_in(drv, base, LOGINS["administrateur"], PASSWORD,
               then=f"/diagnostics/nouveau?quartier={FIGUEROLLES}")
        wait_for(lambda: _etat(drv) == "pret"
                 and "arrêts candidats" in text_of(drv.find_element(By.ID, "pl-reseau")),
                 "quartier choisi par l'adresse de la page")
        assert Select(drv.find_element(By.ID, "pl-quartier")).first_selected_option.get_attribute("value") \
            == FIGUEROLLES
        start = drv.execute_script("return window.qpvPlanificateur.state.info.candidats"
                                   ".filter((c) => c.kind === 'rue')[0]")
        drv.execute_script("window.qpvPlanificateur.setStart({lon: arguments[0], lat: arguments[1]}, 'rue');",
                           start["lon"], start["lat"])
        groups = drv.find_element(By.ID, "pl-groupes")
        groups.clear()
        groups.send_keys("2")
        _calculate(drv, JOURNEYS["bureau"])
        lists = drv.find_elements(By.CSS_SELECTOR, "#pl-groupes-resultat .pl-etapes")
        assert [x.get_attribute("data-group") for x in lists] == ["1", "2"]
        titles = [text_of(h) for h in drv.find_elements(By.CSS_SELECTOR, ".pl-groupe h3")]
        assert titles[0].startswith("Groupe 1 : ") and titles[1].startswith("Groupe 2 : "), titles
        ids = [li.get_attribute("data-id") for li in drv.find_elements(By.CSS_SELECTOR, ".pl-etapes li")]
        assert len(ids) == len(set(ids)) >= 4  # shared out, never twice
        assert drv.execute_script("return document.querySelectorAll('#pl-carte .pl-g2').length") > 0
        shot(drv, "planificateur-groupes-bureau")

        every = drv.find_element(By.CSS_SELECTOR, "input[name=mode][value=toutes-les-rues]")
        drv.execute_script("arguments[0].scrollIntoView({block: 'center'});", every)
        every.click()
        assert not groups.is_enabled() and groups.get_attribute("value") == "1"  # one walk, one group
        _calculate(drv, JOURNEYS["bureau"])
        text = text_of(drv.find_element(By.ID, "pl-groupes-resultat"))
        assert "Rues du quartier parcourues : " in text and " %" in text, text[:300]
        summary = text_of(drv.find_element(By.CSS_SELECTOR, ".pl-groupe h3"))
        assert summary.startswith("toutes les rues · "), summary
        minutes = int(summary.split(" min sur")[0].split("·")[-1].strip())
        if minutes > 90:  # walking every street takes longer than planned: the page says so
            warning = text_of(drv.find_element(By.CSS_SELECTOR, ".pl-depasse"))
            assert f"dépasse de {minutes - 90} min" in warning, warning
        assert not drv.find_element(By.ID, "pl-cote").is_displayed()
        assert _fits(drv)
        shot(drv, "planificateur-toutes-les-rues-bureau")
    finally:
        drv.quit()
