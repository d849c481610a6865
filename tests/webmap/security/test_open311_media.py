# mypy: disable-error-code="index, union-attr"
"""Open311 ``media_url``: only from the hosts of ``MEDIA_HOSTS``; the map loads nothing else."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape as html_unescape
from pathlib import Path

import pytest
from flask import Flask

from tests.webmap.security._fixtures import PASSWORD, build_app, client_as
from webmap import users

HOST = "photos.montpellier3m.fr"
FORM = {"service_code": "depots-sauvages", "lat": "43.6321", "long": "3.8199",
        "description": "Encombrants devant le local vélos"}


def _app(store_path: Path, tmp_path: Path, **config: object) -> tuple[Flask, str]:
    store = tmp_path / "territoire.gpkg"
    shutil.copyfile(store_path, store)
    app = build_app(store, tmp_path / "instance", **config)
    _, key = users.add_user(app.config["USERS_DB"], "appli-signalement", PASSWORD, role="technicien",
                            organisation="ville")
    return app, key


def test_media_url_refused_without_media_hosts(store_path: Path, tmp_path: Path) -> None:
    app, key = _app(store_path, tmp_path)
    res = app.test_client().post("/open311/v2/requests.json",
                                 data={**FORM, "api_key": key, "media_url": "https://exemple.org/p.jpg"})
    assert res.status_code == 400 and res.json["champ"] == "media_url"
    assert "MEDIA_HOSTS" in res.json["erreur"] and "aucun hôte" in res.json["erreur"]
    # without media_url the request goes through
    plain = app.test_client().post("/open311/v2/requests.json", data={**FORM, "api_key": key})
    assert plain.status_code == 201


@pytest.mark.parametrize("url", [
    "https://exemple.org/p.jpg",
    f"https://{HOST}.exemple.org/p.jpg",
    f"https://exemple.org/{HOST}/p.jpg",
    f"https://{HOST}@exemple.org/p.jpg",
    f"ftp://{HOST}/p.jpg",
    f"//{HOST}/p.jpg",
    "javascript:alert(1)",
])
def test_media_url_outside_the_hosts(store_path: Path, tmp_path: Path, url: str) -> None:
    app, key = _app(store_path, tmp_path, MEDIA_HOSTS=(HOST,))
    res = app.test_client().post("/open311/v2/requests.json", data={**FORM, "api_key": key, "media_url": url})
    assert res.status_code == 400 and res.json["champ"] == "media_url", url
    if url.startswith("https"):
        assert HOST in res.json["erreur"]  # the allowed hosts are listed


def test_media_url_from_an_allowed_host(store_path: Path, tmp_path: Path) -> None:
    app, key = _app(store_path, tmp_path, MEDIA_HOSTS=(HOST.upper(),))
    url = f"https://{HOST}/signalements/2026/encombrants.jpg"
    res = app.test_client().post("/open311/v2/requests.json", data={**FORM, "api_key": key, "media_url": url})
    assert res.status_code == 201, res.json
    rid = res.json[0]["service_request_id"]
    assert client_as(app, "lecteur").get(f"/open311/v2/requests/{rid}.json").json[0]["media_url"] == url
    # a host removed from the setting is no longer handed out, even for a stored record
    app.config["MEDIA_HOSTS"] = ()
    assert client_as(app, "lecteur").get(f"/open311/v2/requests/{rid}.json").json[0]["media_url"] is None


def test_map_page_loads_photos_only_from_here_or_media_hosts(store_path: Path, tmp_path: Path) -> None:
    """The photo addresses of carte.js, run by node on hostile record values."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node absent")
    app, _ = _app(store_path, tmp_path, MEDIA_HOSTS=(HOST,))
    html = client_as(app, "lecteur").get("/").get_data(as_text=True)
    config = json.loads(html_unescape(re.search(
        r'<script type="application/json" id="carte-config">(.*?)</script>', html, re.S).group(1)))
    assert config["mediaHosts"] == [HOST] and config["urls"]["photos"] == "/photos/"
    script = (Path(app.static_folder or "") / "js" / "carte.js").read_text(encoding="utf-8")
    start = script.index("  function photoUrl")
    function = script[start:script.index("\n  }\n", start) + 4]
    values = ["0123456789abcdef0123456789abcdef.jpg", f"https://{HOST}/a.jpg", "https://exemple.org/a.jpg",
              "//exemple.org/a.jpg", "/autre/chemin.jpg", "../../api/users", "javascript:alert(1)",
              f"https://{HOST}.exemple.org/a.jpg", "photo.jpg", "data:image/png;base64,AAAA"]
    program = (f"const CFG = {json.dumps(config)};\n{function}\n"
               f"console.log(JSON.stringify({json.dumps(values)}.map(photoUrl)));")
    out = subprocess.run([node, "-e", program], capture_output=True, text=True, timeout=30, check=True)
    assert json.loads(out.stdout) == ["/photos/0123456789abcdef0123456789abcdef.jpg", f"https://{HOST}/a.jpg",
                                      "", "", "", "", "", "", "", ""]
