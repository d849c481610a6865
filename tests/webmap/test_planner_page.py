"""The planner page ``/diagnostics/nouveau`` and the « parcours » job kind, on a copy of the demo store.

The demo store holds real Montpellier streets and addresses (Mosson, Figuerolles…) and three
Paris-area quartiers with no street at all: the page and the API say so plainly.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.walkdemo import MOSSON, MOSSON_START, demo_store_copy
from tests.webmap.security._fixtures import build_app, client_as
from webmap.errors import JobError
from webmap.jobs.kinds import KINDS
from webmap.jobs.views import job_queue
from webmap.planner_api import validate_walk_job

START = f"{MOSSON_START[0]},{MOSSON_START[1]}"
BODY: dict[str, Any] = {"quartier": MOSSON, "date": "2026-03-10T14:00", "start": START, "duration_min": 90}
PARIS = "QP075019"  # real Paris reports and streets in the demo store
#: Champigny (L'Egalité): a perimeter of the demo store without any street network, and a point inside it
NO_NETWORK, NO_NETWORK_START = "QP094025", "2.5207,48.8177"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path = demo_store_copy(tmp_path_factory, "plannerpage")
    return build_app(path, path.parent / "instance", TESTING=True)


@pytest.fixture(scope="module")
def tech(app: Flask) -> FlaskClient:
    return client_as(app, "technicien")


def _config(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="pl-config">(.*?)</script>', html, re.S)
    assert found is not None
    return dict(json.loads(found.group(1)))


def test_page_roles(app: Flask) -> None:
    anonymous = client_as(app, "anonyme").get("/diagnostics/nouveau")
    assert anonymous.status_code == 302
    assert "/connexion?suivant=/diagnostics/nouveau" in anonymous.headers["Location"]
    assert client_as(app, "lecteur").get("/diagnostics/nouveau").status_code == 403
    for role in ("technicien", "administrateur"):
        assert client_as(app, role).get("/diagnostics/nouveau").status_code == 200, role


def test_page_lists_the_quartiers_of_the_store_and_has_no_inline_code(tech: FlaskClient) -> None:
    resp = tech.get(f"/diagnostics/nouveau?quartier={MOSSON.lower()}")
    html = resp.get_data(as_text=True)
    config = _config(html)
    codes = [q["code"] for q in config["quartiers"]]
    assert MOSSON in codes and PARIS in codes and config["quartier"] == MOSSON
    assert f'<option value="{MOSSON}" selected>Mosson ({MOSSON}) — Montpellier</option>' in html
    assert config["bounds"]["duration_min"] == {"min": 15, "max": 480, "defaut": 90}
    assert config["urls"]["apercu"] == "/api/diagnostics/apercu" and config["urls"]["jobs"] == "/api/jobs"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT14:00", config["date"])
    # CSP: no inline script or style; the page data is JSON only
    assert " style=" not in html and "<style" not in html
    scripts = re.findall(r"<script([^>]*)>", html)
    assert all("src=" in s or 'type="application/json"' in s for s in scripts), scripts
    assert "Content-Security-Policy" in resp.headers
    unknown = tech.get("/diagnostics/nouveau?quartier=QP999999")  # an unknown code: none chosen
    assert unknown.status_code == 200 and _config(unknown.get_data(as_text=True))["quartier"] == ""


def test_candidates_say_how_the_walk_is_computed(tech: FlaskClient) -> None:
    mosson = tech.get(f"/api/diagnostics/candidats?quartier={MOSSON}").get_json()
    assert len(mosson["candidats"]) > 150 and mosson["calcul"] == "travail"
    assert mosson["reseau"]["voies"] > 100 and mosson["communes"] == "Montpellier"
    assert mosson["perimetre"]["type"] in ("Polygon", "MultiPolygon")
    lon, lat = mosson["perimetre"]["coordinates"][0][0][0] if mosson["perimetre"]["type"] == "MultiPolygon" \
        else mosson["perimetre"]["coordinates"][0][0]
    assert 3.7 < lon < 3.95 and 43.5 < lat < 43.7  # WGS84, Montpellier
    assert mosson["voies"]["type"] in ("LineString", "MultiLineString")
    small = tech.get("/api/diagnostics/candidats?quartier=QP034010").get_json()
    assert 0 < len(small["candidats"]) <= 150 and small["calcul"] == "direct"
    paris = tech.get(f"/api/diagnostics/candidats?quartier={PARIS}").get_json()
    assert paris["calcul"] != "impossible" and paris["reseau"]["voies"] > 100  # the demo's Paris streets
    bare = tech.get(f"/api/diagnostics/candidats?quartier={NO_NETWORK}").get_json()
    assert bare["calcul"] == "impossible" and bare["reseau"]["voies"] == 0 and bare["voies"] is None
    assert bare["message"].startswith(f"Pas de réseau de rues connu pour ce quartier ({NO_NETWORK})")


def test_no_street_network_is_said_plainly_not_unserved(tech: FlaskClient) -> None:
    # a start in the middle of a quartier without streets: the refusal names the network, not the start
    body = {**BODY, "quartier": NO_NETWORK, "start": NO_NETWORK_START}
    resp = tech.post("/api/diagnostics/apercu", json=body)
    assert resp.status_code == 400
    data = resp.get_json()
    assert data["champ"] == "quartier" and "Pas de réseau de rues connu pour ce quartier" in data["erreur"]
    assert "non desservi" not in data["erreur"]


def test_threshold_follows_the_settings(tech: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QPV_PLANNER_JOB_CANDIDATES", "500")
    assert tech.get(f"/api/diagnostics/candidats?quartier={MOSSON}").get_json()["calcul"] == "direct"
    monkeypatch.setenv("QPV_PLANNER_JOB_VOIES", "10")
    assert tech.get(f"/api/diagnostics/candidats?quartier={MOSSON}").get_json()["calcul"] == "travail"


def test_walk_job_gives_the_preview_with_progress(app: Flask, tech: FlaskClient) -> None:
    assert KINDS["parcours"].minimum == "technicien"
    preview = tech.post("/api/diagnostics/apercu", json=BODY).get_json()
    candidates = tech.get(f"/api/diagnostics/candidats?quartier={MOSSON}").get_json()["candidats"]
    imposed = next(c["id"] for c in candidates if c["kind"] == "point_noir")
    dropped = preview["groups"][0]["timetable"][0]["id"]
    body = {**BODY, "mandatory": [imposed], "excluded": [dropped]}
    resp = tech.post("/api/jobs", json={"kind": "parcours", "params": body})
    assert resp.status_code == 202, resp.get_json()
    job = resp.get_json()
    assert job["state"] == "en attente" and job["params"]["mandatory"] == [imposed]
    steps: list[tuple[int, str]] = []
    queue = job_queue(app)
    original = queue.records.save

    def spy(record: Any) -> None:  # every progress write of the running job
        if record.id == job["id"]:
            steps.append((record.progress, record.step))
        original(record)

    queue.records.save = spy  # type: ignore[method-assign]
    try:
        assert queue.run_one()
    finally:
        queue.records.save = original  # type: ignore[method-assign]
    done = tech.get(job["links"]["self"]).get_json()
    assert done["state"] == "terminé" and done["error"] is None, done
    percents = [p for p, _ in steps]
    assert percents == sorted(percents) and percents[-1] == 100
    labels = [s for _, s in steps]
    assert "Graphe des voies du quartier" in labels and "Recherche du meilleur parcours" in labels
    assert done["result"]["fichiers"] == ["apercu.json"] and done["result"]["quartier"] == MOSSON
    assert len(json.dumps(done["result"])) < 500  # the record stays small: the preview is a file
    with tech.get(done["links"]["files"][0]["href"]) as download:
        assert download.status_code == 200 and download.mimetype == "application/json"
        result = download.get_json()
    assert done["result"]["arrets"] == sum(len(g["timetable"]) for g in result["groups"])
    same = tech.post("/api/diagnostics/apercu", json=body).get_json()
    ids = [t["id"] for t in result["groups"][0]["timetable"]]
    assert ids == [t["id"] for t in same["groups"][0]["timetable"]]
    assert imposed in ids and dropped not in ids
    assert {"retiré par le planificateur"} == {r["why"] for r in result["left_out"] if r["id"] == dropped}
    # another technician does not see it; a lecteur may not start one
    other = client_as(app, "administrateur").get(job["links"]["self"])
    assert other.status_code == 200  # administrators see every job
    refused = client_as(app, "lecteur").post("/api/jobs", json={"kind": "parcours", "params": body})
    assert refused.status_code == 403


@pytest.mark.parametrize(("change", "words"), [
    ({"start": "3.8700,43.6100"}, "m du quartier QP034005"),
    ({"duration_min": 5}, "de 15 à 480"),
    ({"quartier": NO_NETWORK, "start": NO_NETWORK_START}, "Pas de réseau de rues connu"),
    ({"excluded": ["rue:Rue Imaginaire"]}, "inconnu"),
])
def test_walk_job_refuses_bad_parameters_in_french(tech: FlaskClient, change: dict[str, Any],
                                                   words: str) -> None:
    resp = tech.post("/api/jobs", json={"kind": "parcours", "params": {**BODY, **change}})
    assert resp.status_code == 400
    assert words in resp.get_json()["erreur"], resp.get_json()


def test_walk_job_fails_in_french_when_the_data_changed(app: Flask, tech: FlaskClient) -> None:
    """A job whose imposed stop no longer exists when it runs ends « échec » with the French reason."""
    resp = tech.post("/api/jobs", json={"kind": "parcours", "params": BODY}).get_json()
    queue = job_queue(app)
    record = queue.get(resp["id"])
    assert record is not None
    queue.records.save(record.evolve(params={**record.params, "excluded": ["rue:Rue Disparue"]}))
    assert queue.run_one()
    done = tech.get(resp["links"]["self"]).get_json()
    assert done["state"] == "échec" and "Rue Disparue" in done["error"] and "inconnu" in done["error"]


def test_walk_job_is_asked_from_the_web_only() -> None:
    with pytest.raises(JobError, match="depuis l'application web"):
        validate_walk_job(BODY)
