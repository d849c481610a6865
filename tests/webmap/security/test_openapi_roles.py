# mypy: disable-error-code="index, union-attr, arg-type"
"""``/openapi.json`` per role: only the operations, layers and fields that role may use."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from layers.schema import LAYERS

PARAMS = re.compile(r"\{([^}]+)\}")


def _spec(client: FlaskClient) -> tuple[dict[str, Any], str]:
    res = client.get("/openapi.json")
    assert res.status_code == 200
    text = res.get_data(as_text=True)
    return json.loads(text), text


def test_anonymous_document_has_no_confidential_layer(clients: dict[str, FlaskClient]) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    anon, anon_text = _spec(clients["anonyme"])
    tech, tech_text = _spec(clients["technicien"])
    validator.validate(anon)
    validator.validate(tech)
    confidential = [name for name, schema in LAYERS.items() if schema.confidential]
    assert confidential == ["videoprotection"]
    for name in confidential:
        assert name not in anon_text and name not in _spec(clients["lecteur"])[1]
        assert name in tech_text and f"Properties_{name}" in tech["components"]["schemas"]
    # internal fields and account-only operations are absent too
    for word in ("changed_by", "pilote", "partenaires", "organisations", "/api/users"):
        assert word not in anon_text, word
        assert word in _spec(clients["administrateur"])[1], word
    assert set(anon["paths"]["/api/observations/{uid}"]) == {"get"}
    assert set(tech["paths"]["/api/observations/{uid}"]) == {"get", "patch"}
    assert "/api/observations" not in anon["paths"] and "post" in tech["paths"]["/api/observations"]
    # the server is the one asked, whatever the role's document was cached with
    assert anon["servers"] == [{"url": "http://localhost/"}]
    # a Host outside TRUSTED_HOSTS is refused, never reflected (test_headers.py)
    assert clients["anonyme"].get("/openapi.json", base_url="http://carte.exemple.fr").status_code == 400


def _example(path: str, spec: dict[str, Any], uid: str) -> str:
    """A concrete URL of ``path``: first value of the layer enums, a real uid elsewhere."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        for method in spec["paths"][path].values():
            for p in method.get("parameters", []):
                if p["name"] == name and p["schema"].get("enum"):
                    return "observations" if "observations" in p["schema"]["enum"] else p["schema"]["enum"][0]
        return uid

    return PARAMS.sub(value, path)


@pytest.mark.parametrize("role", ["anonyme", "lecteur", "technicien", "administrateur"])
def test_every_documented_read_is_allowed(clients: dict[str, FlaskClient], store: Any, role: str) -> None:
    """Every GET operation of a role's document answers that role (no 401 or 403)."""
    spec, _ = _spec(clients[role])
    uid = store.read("observations", limit=1)["uid"].iloc[0]
    checked = 0
    for path, item in spec["paths"].items():
        if "get" not in item or path.startswith("/photos"):
            continue  # photo names are the server's: covered by the access table
        url = _example(path, spec, uid)
        res = clients[role].get(url + ("?limit=2" if "items" in url or "features" in url else ""))
        assert res.status_code not in (401, 403, 500), (role, url, res.status_code)
        res.close()
        checked += 1
    assert checked >= 15
