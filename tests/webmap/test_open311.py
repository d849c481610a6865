# mypy: disable-error-code="index, union-attr, arg-type, operator"
# (Response.json is Optional for mypy; these tests assert the status code first)
"""Open311 GeoReport v2: services, requests (filters), one request, intake with an API key."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.schema import OPEN_STATUSES, THEMES
from tests.webmap.conftest import PASSWORD
from webmap import users

BASE = "/open311/v2"


@pytest.fixture(scope="module")
def keys(app: Flask) -> dict[str, str]:
    """API keys of a technician and of a reader."""
    _, tech = users.add_user(
        app.config["USERS_DB"], "appli-ville", PASSWORD, role="technicien", organisation="ville"
    )
    _, reader = users.add_user(
        app.config["USERS_DB"], "lecteur-311", PASSWORD, role="lecteur", organisation="association"
    )
    return {"technicien": tech, "lecteur": reader}


def test_services_one_per_theme(anon: FlaskClient) -> None:
    services = anon.get(f"{BASE}/services.json").json
    assert len(services) == len(THEMES)
    codes = {s["service_code"]: s for s in services}
    assert codes["depots-sauvages"]["service_name"] == "Dépôts sauvages"
    assert all(s["type"] == "realtime" and s["metadata"] is False for s in services)


def test_requests_filters(anon: FlaskClient, store: Any) -> None:
    all_ = anon.get(f"{BASE}/requests.json").json
    assert len(all_) == 1000
    dates = [r["requested_datetime"] for r in all_]
    assert dates == sorted(dates, reverse=True)
    res = anon.get(
        f"{BASE}/requests.json?service_code=proprete,voirie&status=open"
        "&start_date=2024-01-01&end_date=2024-03-01"
    ).json
    expected = store.count(
        "observations",
        start="2024-01-01",
        end="2024-03-01",
        where={"theme": ["propreté", "voirie"], "status": list(OPEN_STATUSES)},
    )
    assert len(res) == expected > 0
    assert {r["service_code"] for r in res} <= {"proprete", "voirie"} and {r["status"] for r in res} == {
        "open"
    }
    r = res[0]
    assert {"service_request_id", "lat", "long", "requested_datetime", "description", "address"} <= set(r)
    closed = anon.get(f"{BASE}/requests.json?status=closed&limit=5").json
    assert closed and {r["status"] for r in closed} == {"closed"}
    one = anon.get(f"{BASE}/requests/{r['service_request_id']}.json").json
    assert one == [r]
    assert anon.get(f"{BASE}/requests/inexistant.json").status_code == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("service_code=licornes", "service_code"),
        ("status=peut-etre", "status"),
        ("start_date=hier", "start_date"),
        ("start_date=2024-03-01&end_date=2024-01-01", "end_date"),
        ("limit=0", "limit"),
    ],
)
def test_requests_bad_filters(anon: FlaskClient, query: str, field: str) -> None:
    res = anon.get(f"{BASE}/requests.json?{query}")
    assert res.status_code == 400 and res.json["champ"] == field


def test_post_request_creates_observation(anon: FlaskClient, keys: dict[str, str], store: Any) -> None:
    form = {
        "api_key": keys["technicien"],
        "service_code": "depots-sauvages",
        "lat": "48.8601",
        "long": "2.4099",
        "description": "Matelas sur le trottoir",
        "address_string": "12 rue des Envierges",
        "email": "habitant@example.org",
        "first_name": "Camille",
    }
    res = anon.post(f"{BASE}/requests.json", data=form)
    assert res.status_code == 201, res.json
    rid = res.json[0]["service_request_id"]
    rec = store.get("observations", rid).iloc[0]
    assert rec["source"] == "habitant" and rec["theme"] == "dépôts sauvages" and rec["status"] == "nouveau"
    assert rec["address"] == "12 rue des Envierges" and "Camille" not in str(rec.to_dict())
    assert "habitant@example.org" not in str(rec.to_dict())
    assert store.history("observations", rid)["changed_by"].iloc[0] == "appli-ville (ville)"
    back = anon.get(f"{BASE}/requests/{rid}.json").json[0]
    assert back["media_url"] is None and back["status"] == "open"
    assert back["lat"] == pytest.approx(48.8601, abs=1e-6)


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"api_key": ""}, 401, "api_key"),
        ({"api_key": "fausse"}, 401, "api_key"),
        ({"service_code": ""}, 400, "service_code"),
        ({"service_code": "licornes"}, 400, "service_code"),
        ({"lat": "", "long": ""}, 400, "lat"),
        ({"lat": "nord"}, 400, "lat"),
        ({"long": "200"}, 400, "long"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
        ({"couleur": "rouge"}, 400, "couleur"),
    ],
)
def test_post_request_bad_input(
    anon: FlaskClient, keys: dict[str, str], change: dict[str, str], status: int, field: str
) -> None:
    form = {"api_key": keys["technicien"], "service_code": "voirie", "lat": "48.86", "long": "2.41", **change}
    res = anon.post(f"{BASE}/requests.json", data=form)
    assert res.status_code == status and res.json["champ"] == field


def test_post_request_needs_a_writing_role(anon: FlaskClient, keys: dict[str, str]) -> None:
    form = {"api_key": keys["lecteur"], "service_code": "voirie", "lat": "48.86", "long": "2.41"}
    res = anon.post(f"{BASE}/requests.json", data=form)
    assert res.status_code == 403 and res.json["champ"] == "api_key"


def test_open311_hidden_when_observations_are_hidden(app: Flask) -> None:
    from webmap.app import create_app

    other = create_app(
        {
            **{k: app.config[k] for k in ("STORE", "USERS_DB", "SECRET_KEY")},
            "instance_path": app.instance_path,
            "LAYER_ROLES": {"observations": ["technicien", "administrateur"]},
        }
    )
    client = other.test_client()
    assert client.get(f"{BASE}/services.json").status_code == 404
    assert client.get(f"{BASE}/requests.json").status_code == 404
