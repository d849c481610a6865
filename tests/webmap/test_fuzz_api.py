"""The HTTP API fuzzed from its own OpenAPI description (schemathesis 4, through WSGI).

Every operation of ``/openapi.json`` is called with generated valid and invalid requests,
anonymously and as a logged-in technician (session cookie + CSRF header). Checks: never a
5xx, status codes and content types declared, bodies conforming to the declared schemas.
The app runs on a private copy of the test store, so generated writes stay there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.webmap.conftest import PASSWORD, ROLE_LOGINS
from webmap import users
from webmap.app import create_app
from webmap.sessions import session_fields

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
# examples per operation; QPV_FUZZ_EXAMPLES=n: a longer, random hunt (CI: 10, derandomized)
FUZZ = settings(max_examples=int(os.environ.get("QPV_FUZZ_EXAMPLES", "10")), deadline=None,
                derandomize="QPV_FUZZ_EXAMPLES" not in os.environ, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The application on a private copy of the test store, one account per role."""
    folder = tmp_path_factory.mktemp("fuzzapi")
    store = folder / "territoire.gpkg"
    shutil.copy(store_path, store)
    application = create_app({"STORE": str(store), "instance_path": str(folder / "instance"),
                              "SECRET_KEY": "clef-de-fuzz", "TESTING": True,
                              "MAX_CONTENT_LENGTH": 2 * 1024 * 1024})
    for role, login in ROLE_LOGINS.items():
        users.add_user(application.config["USERS_DB"], login, PASSWORD, role=role,
                       organisation="ville")
    return application


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Flask) -> Any:
    """The OpenAPI description as the app serves it."""
    return schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)


def _credentials(app: Flask, role: str | None) -> dict[str, dict[str, str]]:
    """Session cookie and CSRF header of ``role`` (nothing for anonymous requests)."""
    if role is None:
        return {"headers": {}, "cookies": {}}
    token = f"jeton-{role}"
    cookie = app.session_interface.get_signing_serializer(app).dumps(  # type: ignore[attr-defined]
        {**session_fields(ROLE_LOGINS[role], app.config["USERS_DB"]), "csrf_token": token})
    return {"headers": {"X-CSRFToken": token},
            "cookies": {app.config.get("SESSION_COOKIE_NAME", "session"): cookie}}


def _fuzz(schema: Any, credentials: dict[str, dict[str, str]], mode: GenerationMode) -> list[str]:
    """Run every operation with ``FUZZ`` examples; return one line per failing operation."""
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    # logging out revokes every session of the account: fuzz it last, the rest stays logged in
    operations.sort(key=lambda op: op.path == "/deconnexion")
    for operation in operations:

        @FUZZ
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            response = case.call(**credentials)
            case.validate_response(response, checks=CHECKS, headers=credentials["headers"])

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to make invalid (no parameters, or only free strings)
        except (Exception, BaseExceptionGroup) as exc:  # reported together below
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures


def test_credentials_reach_the_app(api_schema: Any, fuzz_app: Flask) -> None:
    """The technician's requests below are really authenticated (not fuzzed as anonymous)."""
    session = api_schema["/api/session"]["GET"]
    body = session.Case().call(**_credentials(fuzz_app, "technicien")).json()
    assert (body["user"], body["role"]) == ("theo", "technicien")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize("role", [None, "technicien"])
def test_api_never_fails(api_schema: Any, fuzz_app: Flask, role: str | None, mode: GenerationMode) -> None:
    failures = _fuzz(api_schema, _credentials(fuzz_app, role), mode)
    assert not failures, "\n\n".join(failures)
