# mypy: disable-error-code="index, union-attr, arg-type, operator"
"""Sessions: revoked by logout, deactivation and password changes, idle timeout and absolute
lifetime (frozen clock, no sleeps), cookie flags (Secure with https, behind a proxy)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webmap.security.conftest import CAMERAS_CSV, PASSWORD, login
from webmap import sessions, users


class Clock:
    """A clock the test moves by hand (replaces :data:`webmap.sessions.clock`)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    frozen = Clock()
    monkeypatch.setattr(sessions, "clock", frozen)
    return frozen


def _cookie(client: FlaskClient, app: Flask) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def _who(client: FlaskClient) -> str | None:
    return client.get("/api/session").json["user"]


def test_cookie_saved_before_logout_is_anonymous_after(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    browser = app.test_client()
    assert login(browser, "theo-tech").status_code == 302
    assert browser.get(CAMERAS_CSV).status_code == 200
    saved = _cookie(browser, app)
    token = browser.get("/api/session").json["csrf_token"]
    res = browser.post("/deconnexion", data={"csrf_token": token})
    assert res.status_code == 302
    thief = app.test_client()
    thief.set_cookie(app.config["SESSION_COOKIE_NAME"], saved)
    assert thief.get(CAMERAS_CSV).status_code == 404  # confidential layer hidden again
    assert _who(thief) is None
    writer = app.test_client()
    writer.set_cookie(app.config["SESSION_COOKIE_NAME"], saved)
    res = writer.post("/api/observations", json={"lon": 2.4099, "lat": 48.8601, "theme": "voirie"},
                      headers={"X-CSRFToken": token})
    assert res.status_code == 401  # anonymous now, even with the old CSRF token
    # the refused cookie is replaced (cleared), not kept
    assert _cookie(thief, app) != saved and _who(thief) is None
    # logging in again works and is a new session
    assert login(browser, "theo-tech").status_code == 302
    assert browser.get(CAMERAS_CSV).status_code == 200 and _cookie(browser, app) != saved


def test_idle_timeout(make_app: Callable[..., Flask], clock: Clock) -> None:
    assert make_app().config["SESSION_IDLE_TIMEOUT"] == 8 * 3600
    app = make_app(SESSION_MAX_AGE=3 * 86400)  # only the idle timeout can end this session
    browser = app.test_client()
    login(browser, "camille")
    clock.now += 8 * 3600 - 30  # just under eight idle hours
    assert _who(browser) == "camille"  # activity: last seen moves
    clock.now += 8 * 3600 - 30
    assert _who(browser) == "camille"
    clock.now += 8 * 3600 + 1
    assert _who(browser) is None
    clock.now += 1
    assert _who(browser) is None  # cleared, it does not come back


def test_absolute_lifetime_even_when_active(make_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_app()
    assert app.config["SESSION_MAX_AGE"] == 12 * 3600
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(hours=12)
    browser = app.test_client()
    login(browser, "camille")
    for _ in range(12):
        clock.now += 3600 - 5
        assert _who(browser) == "camille"
    clock.now += 12 * 5 + 1  # 12 h and 1 s after login, though active a minute ago
    assert _who(browser) is None
    shorter = make_app(SESSION_IDLE_TIMEOUT=600, SESSION_MAX_AGE=1800)
    assert shorter.config["PERMANENT_SESSION_LIFETIME"] == timedelta(minutes=30)
    other = shorter.test_client()
    login(other, "camille")
    clock.now += 601
    assert _who(other) is None


def test_last_seen_is_rewritten_at_most_once_a_minute(make_app: Callable[..., Flask], clock: Clock) -> None:
    app = make_app()
    browser = app.test_client()
    login(browser, "camille")
    browser.get("/api/session")  # the CSRF token of the page is now in the cookie
    clock.now += 10
    res = browser.get("/api/session")
    assert res.json["user"] == "camille" and "Set-Cookie" not in res.headers
    clock.now += sessions.SEEN_REFRESH
    res = browser.get("/api/session")
    assert "Set-Cookie" in res.headers and "HttpOnly" in res.headers["Set-Cookie"]
    assert "SameSite=Lax" in res.headers["Set-Cookie"]
    clock.now += 5
    assert "Set-Cookie" not in browser.get("/api/session").headers


def test_sessions_without_version_or_with_a_forged_one_are_anonymous(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    db = app.config["USERS_DB"]
    old = app.test_client()
    with old.session_transaction() as sess:
        sess["login"] = "theo-tech"  # a cookie of the previous version: login only
    assert old.get(CAMERAS_CSV).status_code == 404 and _who(old) is None
    forged = app.test_client()
    with forged.session_transaction() as sess:
        sess.update(sessions.session_fields("theo-tech", db))
        sess["sv"] = sess["sv"] + 1
    assert _who(forged) is None
    future = app.test_client()
    with future.session_transaction() as sess:
        sess.update(sessions.session_fields("theo-tech", db, now=sessions.clock() + 30 * 86400))
    assert _who(future) is None
    good = app.test_client()
    with good.session_transaction() as sess:
        sess.update(sessions.session_fields("theo-tech", db))
    assert _who(good) == "theo-tech"


def test_password_change_and_deactivation_revoke_other_sessions(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    db = app.config["USERS_DB"]
    phone, laptop = app.test_client(), app.test_client()
    login(phone, "victor")
    login(laptop, "victor")
    users.change_password(db, "victor", PASSWORD, "un autre secret bien long")
    assert _who(phone) is None and _who(laptop) is None
    login(phone, "victor", "un autre secret bien long")
    assert _who(phone) == "victor"
    users.reset_password(db, "victor", "encore un secret bien long")
    assert _who(phone) is None
    login(phone, "victor", "encore un secret bien long")
    users.set_active(db, "victor", False)
    assert _who(phone) is None
    users.set_active(db, "victor", True)
    assert _who(phone) is None  # reactivation does not bring old sessions back


def test_logout_ends_every_session_of_the_account(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    phone, laptop = app.test_client(), app.test_client()
    login(phone, "camille")
    login(laptop, "camille")
    token = laptop.get("/api/session").json["csrf_token"]
    laptop.post("/deconnexion", data={"csrf_token": token})
    assert _who(phone) is None and _who(laptop) is None


@pytest.mark.parametrize(("config", "headers", "secure"), [
    ({}, {}, False),
    ({"PUBLIC_URL": "https://gusp.example.fr"}, {}, True),
    ({"PUBLIC_URL": "http://localhost:5000"}, {}, False),
    ({"PROXY_FIX": 1}, {"X-Forwarded-Proto": "https"}, True),
    ({"PROXY_FIX": 1}, {"X-Forwarded-Proto": "http"}, False),
    ({}, {"X-Forwarded-Proto": "https"}, False),  # no proxy declared: the header is not trusted
    ({"SESSION_COOKIE_SECURE": True}, {}, True),
])
def test_secure_cookie_flag(make_app: Callable[..., Flask], config: dict[str, object],
                            headers: dict[str, str], secure: bool) -> None:
    app = make_app(**config)
    client = app.test_client()
    page = client.get("/connexion", headers=headers)
    set_cookie = page.headers.get("Set-Cookie", "")
    assert "session=" in set_cookie and "HttpOnly" in set_cookie
    assert ("Secure" in set_cookie) is secure, set_cookie


def test_https_request_without_proxy_gets_a_secure_cookie(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    page = client.get("/connexion", base_url="https://localhost")
    assert "Secure" in page.headers["Set-Cookie"]
