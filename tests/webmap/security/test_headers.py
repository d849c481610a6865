"""Security headers on every answer, trusted hosts, public links, private photos, and a
``qpv servir`` that announces no software version (checked on a real socket)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from layers.settings import REPO_ROOT
from tests.webmap._browser import png_bytes
from tests.webmap.conftest import ROLE_LOGINS, logged_client
from webmap import users
from webmap.app import create_app
from webmap.headers import content_security_policy, tile_source

CSP_REQUIRED = {
    "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'", "worker-src": "'self'",
    "frame-ancestors": "'none'", "base-uri": "'self'", "form-action": "'self'", "object-src": "'none'",
}


def csp_directives(value: str) -> dict[str, str]:
    out = {}
    for part in value.split(";"):
        name, _, rest = part.strip().partition(" ")
        out[name] = rest.strip()
    return out


def check_headers(resp: Any, what: str) -> None:
    h = resp.headers
    assert h.get("X-Content-Type-Options") == "nosniff", what
    assert h.get("X-Frame-Options") == "DENY", what
    assert h.get("Referrer-Policy") in ("same-origin", "strict-origin-when-cross-origin"), what
    csp = csp_directives(h.get("Content-Security-Policy", ""))
    for name, value in CSP_REQUIRED.items():
        assert csp.get(name) == value, (what, name, csp.get(name))
    assert not {"'unsafe-inline'", "'unsafe-eval'"} & set(h["Content-Security-Policy"].split())
    assert csp["img-src"].startswith("'self' data: blob:"), what
    assert "Strict-Transport-Security" not in h, what  # plain HTTP


def _sample_args(store: Any) -> dict[str, str]:
    obs = store.read("observations", limit=1)
    uid = str(obs["uid"].iloc[0])
    return {"layer": "observations", "cid": "observations", "fid": uid, "uid": uid, "rid": uid,
            "fmt": "csv", "name": "0" * 32 + ".png", "filename": "css/carte.css", "job_id": "0" * 32,
            "rapport_id": "20240101-000000-rapport-x-abcdef", "code": "QP075019", "table": "indicateurs",
            "z": "14", "x": "8301", "y": "5634", "ext": "mvt"}  # a basemap tile


def test_headers_on_every_get_route(app: Flask, admin: FlaskClient, anon: FlaskClient, store: Any) -> None:
    """Every GET route (HTML for an administrator, JSON, files, errors) carries the headers."""
    args = _sample_args(store)
    html_pages: list[str] = []
    seen = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{name}>", args[name], path)
        urls = (path, path + "?f=html") if path.startswith("/ogc") else (path,)
        for url in urls:
            for client in (admin, anon):
                resp = client.get(url, headers={"Accept": "text/html,application/xhtml+xml"})
                check_headers(resp, f"{url} ({resp.status_code})")
                seen += 1
                if resp.mimetype == "text/html" and resp.status_code == 200 and client is admin:
                    html_pages.append(url)
                resp.close()
    assert seen > 60
    # the HTML pages of an administrator: map, login, walks, OGC API in HTML
    for page in ("/", "/connexion", "/diagnostic/", "/rapports", "/ogc?f=html", "/ogc/collections?f=html",
                 "/ogc/collections/observations/items?f=html",
                 f"/ogc/collections/observations/items/{args['fid']}?f=html"):
        assert page in html_pages, (page, html_pages)
    # JSON answers and refusals too
    for client, url in ((anon, "/api/session"), (anon, "/api/users"), (admin, "/openapi.json"),
                        (anon, "/api/layers/inconnue/features")):
        check_headers(client.get(url), url)
    check_headers(anon.post("/api/observations", data={}), "POST refusé")


def test_csp_tile_host_follows_basemap() -> None:
    osm = csp_directives(content_security_policy("osm"))["img-src"]
    assert osm == "'self' data: blob: https://tile.openstreetmap.org"
    assert csp_directives(content_security_policy(None))["img-src"].endswith(" https://data.geopf.fr")
    assert csp_directives(content_security_policy("aucun"))["img-src"] == "'self' data: blob:"
    assert tile_source("/tuiles/{z}/{x}/{y}.png") is None  # same origin
    assert tile_source("https://{s}.tile.example.fr:8443/{z}/{x}/{y}.png") == "https://*.tile.example.fr:8443"
    assert tile_source("n'importe quoi") is None  # unknown base map: no tiles at all


def test_hsts_only_over_https(anon: FlaskClient) -> None:
    assert "Strict-Transport-Security" not in anon.get("/connexion").headers
    secure = anon.get("/connexion", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_forged_host_is_refused(anon: FlaskClient, admin: FlaskClient) -> None:
    for client in (anon, admin):
        for url in ("/ogc", "/ogc/collections", "/openapi.json", "/open311/v2/services.json", "/connexion"):
            resp = client.get(url, headers={"Host": "evil.example"})
            assert resp.status_code == 400, url
            assert b"evil.example" not in resp.data
    for host in ("localhost", "127.0.0.1:5000"):
        assert anon.get("/ogc", headers={"Host": host}).status_code == 200, host


def _links(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in ("href", "url", "media_url") and isinstance(v, str):
                yield v
            else:
                yield from _links(v)
    elif isinstance(value, list):
        for v in value:
            yield from _links(v)


@pytest.fixture
def own_app(store_path: Path, tmp_path: Path) -> Flask:
    """An app of its own on a copy of the test store (it writes), with a public URL and any Host."""
    copy = tmp_path / "territoire.gpkg"
    shutil.copy(store_path, copy)
    app = create_app({"STORE": str(copy), "instance_path": str(tmp_path / "instance"),
                      "SECRET_KEY": "clef-entetes", "PUBLIC_URL": "https://gusp.ville.fr/",
                      "TRUSTED_HOSTS": [], "TESTING": True})
    for role, login in ROLE_LOGINS.items():
        users.add_user(app.config["USERS_DB"], login, "mot-de-passe-solide", role=role, organisation="ville")
    return app


def test_links_use_public_url_never_host(own_app: Flask) -> None:
    """With PUBLIC_URL, a forged Host (accepted: TRUSTED_HOSTS = []) never reaches a link."""
    tech = logged_client(own_app, "technicien")
    created = tech.post("/api/observations", data={
        "lon": "2.4099", "lat": "48.8601", "theme": "dépôts sauvages", "description": "Sacs au pied du mur",
        "photos": [(io.BytesIO(png_bytes()), "sacs.png")]}, content_type="multipart/form-data")
    assert created.status_code == 201, created.json
    uid = created.json["uid"]
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    checked = 0
    for url in ("/ogc", "/ogc/", "/ogc/collections", "/ogc/collections/observations",
                "/ogc/collections/observations/items?limit=3", f"/ogc/collections/observations/items/{uid}",
                "/openapi.json", "/open311/v2/services.json", "/open311/v2/requests.json",
                f"/open311/v2/requests/{uid}.json"):
        resp = tech.get(url, headers=forged)
        assert resp.status_code == 200, (url, resp.status_code)
        assert b"evil.example" not in resp.data, url
        links = list(_links(resp.get_json(force=True)))
        assert links or url.startswith("/open311"), url  # Open311: only photos are links
        for href in links:
            assert href.startswith("https://gusp.ville.fr/"), (url, href)
        checked += len(links)
        if url.startswith("/ogc"):
            html = tech.get(url + ("&" if "?" in url else "?") + "f=html", headers=forged)
            assert html.status_code == 200 and b"evil.example" not in html.data, url
            assert b'href="https://gusp.ville.fr/ogc/' in html.data, url
    assert checked > 20
    # the Open311 answer names the photo by its public URL, and the photo is private
    photo_url = tech.get(f"/open311/v2/requests/{uid}.json").get_json()[0]["media_url"]
    assert photo_url.startswith("https://gusp.ville.fr/photos/")
    photo = tech.get(photo_url.removeprefix("https://gusp.ville.fr"))
    assert photo.status_code == 200 and photo.data == png_bytes()
    cache = photo.headers["Cache-Control"]
    assert "private" in cache and "public" not in cache and "max-age=" in cache, cache
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    photo.close()


def test_public_url_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PUBLIC_URL invalide"):
        create_app({"STORE": str(tmp_path / "s.gpkg"), "instance_path": str(tmp_path / "i"),
                    "SECRET_KEY": "x", "PUBLIC_URL": "gusp.ville.fr"})
    app = create_app({"STORE": str(tmp_path / "s.gpkg"), "instance_path": str(tmp_path / "i"),
                      "SECRET_KEY": "x", "PUBLIC_URL": "https://gusp.ville.fr"})
    assert app.config["TRUSTED_HOSTS"][0] == "gusp.ville.fr"  # its host, then the loopback names
    assert app.test_client().get("/ogc", headers={"Host": "gusp.ville.fr"}).status_code == 200
    assert app.test_client().get("/ogc", headers={"Host": "evil.example"}).status_code == 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _qpv_servir(store_path: Path, instance: Path, port: int) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QPV_INSTANCE_PATH": str(instance),
           "QPV_SECRET_KEY": "clef-servir", "QPV_PHOTOS_RECOVERY": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "webmap.cli", "--entrepot", str(store_path), "servir",
                             "--port", str(port)], cwd=REPO_ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_qpv_servir_announces_no_version(store_path: Path, tmp_path: Path) -> None:
    port = _free_port()
    with _qpv_servir(store_path, tmp_path / "instance", port) as proc:
        deadline = time.monotonic() + 120
        while True:
            try:
                resp = requests.get(f"http://127.0.0.1:{port}/connexion", timeout=10)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, "qpv servir exited"
                assert time.monotonic() < deadline, "qpv servir never listened"
                time.sleep(0.2)  # polling interval while the server starts
        assert resp.status_code == 200
        for r in (resp, requests.get(f"http://127.0.0.1:{port}/api/session", timeout=10),
                  requests.get(f"http://127.0.0.1:{port}/static/css/carte.css", timeout=10),
                  requests.get(f"http://127.0.0.1:{port}/n-existe-pas", timeout=10)):
            server = r.headers.get("Server", "")
            assert "werkzeug" not in server.lower() and "python" not in server.lower(), server
            assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["Server"] == "qpv"
        # a forged Host on the real socket: refused
        forged = requests.get(f"http://127.0.0.1:{port}/ogc", headers={"Host": "evil.example"}, timeout=10)
        assert forged.status_code == 400 and "evil.example" not in forged.text
