"""Hostile uploads: request and photo size limits, photo names that try to leave the photos
folder, polyglot and fake-extension files. The app runs on a private copy of the test store."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.webmap.conftest import PASSWORD, ROLE_LOGINS, logged_client
from webmap import users
from webmap.app import create_app
from webmap.photos import PHOTO_NAME

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 32
MAX_CONTENT = 256 * 1024
MAX_PHOTO = 16 * 1024


@pytest.fixture(scope="module")
def upload_app(store_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Flask:
    """The app on a private store copy, with small request and photo limits."""
    folder = tmp_path_factory.mktemp("uploads")
    shutil.copy(store_path, folder / "territoire.gpkg")
    application = create_app({
        "STORE": str(folder / "territoire.gpkg"), "instance_path": str(folder / "instance"),
        "PHOTOS_DIR": str(folder / "instance" / "photos"), "SECRET_KEY": "clef", "TESTING": True,
        "MAX_CONTENT_LENGTH": MAX_CONTENT, "MAX_PHOTO_BYTES": MAX_PHOTO,
    })
    for role, login in ROLE_LOGINS.items():
        users.add_user(application.config["USERS_DB"], login, PASSWORD, role=role, organisation="ville")
    return application


@pytest.fixture
def tech(upload_app: Flask) -> FlaskClient:
    """A technician of the upload app."""
    return logged_client(upload_app, "technicien")


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


def _post(client: FlaskClient, photos: list[tuple[bytes, str]], **extra: Any) -> Any:
    form = {"lon": "2.41", "lat": "48.86", "theme": "propreté",
            "photos": [(io.BytesIO(data), name) for data, name in photos], **extra}
    return client.post("/api/observations", data=form, content_type="multipart/form-data")


def test_request_over_max_content_length_is_413_in_french(upload_app: Flask, tech: FlaskClient) -> None:
    photos = Path(upload_app.config["PHOTOS_DIR"])
    before = _tree(photos.parent)
    res = _post(tech, [(JPEG + b"\x00" * MAX_CONTENT, "grosse.jpg")])
    assert res.status_code == 413
    assert res.is_json and res.json == {"erreur": "Requête trop volumineuse (0.25 Mo au plus).",
                                        "champ": "photos"}
    res = tech.post("/api/observations", data=b'{"lon": 2.41, "x": "' + b"a" * MAX_CONTENT + b'"}',
                    content_type="application/json")
    assert res.status_code == 413 and res.is_json and res.json["champ"] == "corps"
    assert _tree(photos.parent) == before


def test_photo_size_limit_boundary(upload_app: Flask, tech: FlaskClient) -> None:
    exact = JPEG + b"\x00" * (MAX_PHOTO - len(JPEG))
    assert _post(tech, [(exact, "juste.jpg")]).status_code == 201
    res = _post(tech, [(exact + b"\x00", "trop.jpg")])
    assert res.status_code == 400 and res.json["champ"] == "photos" and "trop lourde" in res.json["erreur"]


def test_photo_count_limit_boundary(upload_app: Flask, tech: FlaskClient) -> None:
    n = int(upload_app.config["MAX_PHOTOS"])
    assert _post(tech, [(PNG, f"p{i}.png") for i in range(n)]).status_code == 201
    res = _post(tech, [(PNG, f"p{i}.png") for i in range(n + 1)])
    assert res.status_code == 400 and res.json["champ"] == "photos"


def test_too_many_form_parts_is_413(tech: FlaskClient) -> None:
    fields = {f"champ{i}": "x" for i in range(2000)}
    res = tech.post("/api/observations", data=fields, content_type="multipart/form-data")
    assert res.status_code in (400, 413) and res.is_json and res.json["erreur"]


TRAVERSAL_NAMES = [
    "../../etc/passwd", "..\\..\\x.jpg", "/etc/passwd", "/tmp/evasion.png", "C:\\Windows\\x.jpg",
    "photos/../../../x.png", "a\x00.png", "....//....//x.png", "%2e%2e%2fx.png", "..%c0%afx.png",
    "\u2025/\u2025/x.png", "\uff0e\uff0e\uff0fx.png", "x.png\n", ".htaccess", "~/.ssh/authorized_keys",
    "x" * 5000 + ".png", "", ".",
]


@pytest.mark.parametrize("name", TRAVERSAL_NAMES)
def test_photo_names_never_leave_the_photos_dir(upload_app: Flask, tech: FlaskClient, name: str) -> None:
    photos = Path(upload_app.config["PHOTOS_DIR"])
    root = photos.parents[1]
    before = _tree(root)
    res = _post(tech, [(PNG, name)])
    assert res.status_code in (201, 400), res.get_data(as_text=True)[:300]
    created = _tree(root) - before
    assert all(p.resolve().is_relative_to(photos.resolve()) for p in created), created
    if res.status_code == 201:
        stored = tech.get(f"/api/observations/{res.json['uid']}").json["properties"]["photos"]
        assert len(stored) == 1 and PHOTO_NAME.fullmatch(stored[0]) and stored[0].endswith(".png")
        assert (photos / stored[0]).read_bytes() == PNG
        assert {p.name for p in created if p.is_file()} == {stored[0]}
    else:
        assert res.json["champ"] == "photos" and not [p for p in created if p.is_file()]
    assert not Path("/tmp/evasion.png").exists()


@pytest.mark.parametrize("path", [
    "/photos/..%2F..%2Fusers.sqlite", "/photos/%2e%2e%2fsecret_key", "/photos/..%5C..%5Csecret_key",
    "/photos/%252e%252e%252fsecret_key", "/photos/..", "/photos/.", "/photos/%00", "/photos/a%00.png",
    "/photos/" + "0" * 32 + ".png%0A", "/photos/" + "0" * 32 + ".png/..", "/photos/%2Fetc%2Fpasswd",
    "/photos//etc/passwd", "/photos/.en-cours", "/photos/" + "a" * 32 + ".PNG", "/photos/secret_key",
    "/photos/users.sqlite", "/photos/\u2025\u2025/secret_key",
])
def test_get_photo_with_traversal_names_is_404(upload_app: Flask, tech: FlaskClient, path: str) -> None:
    instance = Path(upload_app.instance_path)
    (instance / "photos").mkdir(parents=True, exist_ok=True)
    res = tech.get(path)
    assert res.status_code == 404, (path, res.status_code)
    body = res.get_data()
    for secret in ("secret_key", "users.sqlite"):
        target = instance / secret
        if target.exists() and target.stat().st_size:
            assert target.read_bytes()[:16] not in body
    assert b"root:" not in body


@pytest.mark.parametrize(("data", "name"), [
    (JPEG + b"<?php system($_GET['c']); ?>", "photo.jpg"),
    (PNG + b"<script>alert(1)</script>", "photo.png"),
    (b"\xff\xd8\xff\xe0" + b"<html><body onload=alert(1)>", "photo.jpg"),
    (WEBP + b"<svg onload=alert(1)>", "photo.webp"),
    (b"GIF89a/*" + b"\x00" * 20 + b"*/=alert(1);", "photo.gif"),
    (b"<?php echo 1; ?>", "photo.jpg"),
    (b"PK\x03\x04" + b"\x00" * 40, "photo.png"),
    (b"%PDF-1.7\n" + b"\x00" * 40, "photo.jpeg"),
    (b"\x00" * 100, "photo.png"),
    (b"", "vide.jpg"),
])
def test_polyglot_and_fake_images_are_refused(upload_app: Flask, tech: FlaskClient, data: bytes,
                                              name: str) -> None:
    photos = Path(upload_app.config["PHOTOS_DIR"])
    before = _tree(photos.parent)
    res = _post(tech, [(data, name)])
    assert res.status_code == 400 and res.json["champ"] == "photos", res.json
    assert _tree(photos.parent) == before


def test_fake_extension_is_named_after_the_content(upload_app: Flask, tech: FlaskClient) -> None:
    res = _post(tech, [(PNG, "vacances.jpg"), (JPEG, "script.php"), (WEBP, "page.html")])
    assert res.status_code == 201
    names = tech.get(f"/api/observations/{res.json['uid']}").json["properties"]["photos"]
    assert [n.rsplit(".", 1)[1] for n in names] == ["png", "jpg", "webp"]
    for stored, mime in zip(names, ("image/png", "image/jpeg", "image/webp"), strict=True):
        with tech.get(f"/photos/{stored}") as got:
            assert got.status_code == 200 and got.mimetype == mime
            assert got.headers.get("X-Content-Type-Options") == "nosniff"


def test_nothing_written_outside_the_instance(upload_app: Flask, tech: FlaskClient, tmp_path: Path) -> None:
    """Relative traversal names are resolved against the process's working folder too."""
    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        before = _tree(tmp_path)
        for name in ("../../x.png", "x.png", "../x.png"):
            assert _post(tech, [(PNG, name)]).status_code == 201
        assert _tree(tmp_path) == before
        assert not (tmp_path.parent / "x.png").exists()
    finally:
        os.chdir(cwd)
