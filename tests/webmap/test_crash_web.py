"""Interrupted observation requests never leave a half-written record or an orphan photo.

Every point of ``create_observation_record`` is interrupted, in-process (an exception)
and for real (the server SIGKILLed there), plus a client that disconnects mid-upload;
after the recovery step (:func:`webmap.photos.recover`, run at start-up and by
``qpv photos nettoyer``) every observation has all its photos and every photo its
observation. Both backends.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

import webmap.photos as photos
from layers.settings import REPO_ROOT
from layers.store import LayerStore, open_store
from tests.webmap._server import (
    JPEG,
    PNG,
    add_technicien,
    app_config,
    login,
    serve_in_subprocess,
    serve_in_thread,
    wait_for,
)
from tests.webmap.conftest import logged_client
from webmap.app import create_app

pytestmark = pytest.mark.timeout(180)
BLOBS = {"a.png": PNG, "b.jpg": JPEG}


@dataclass
class Site:
    """A store, an app on it and its photos folder."""

    url: str
    folder: Path
    app: Flask

    @property
    def photos_dir(self) -> Path:
        return Path(self.app.config["PHOTOS_DIR"])

    def open(self) -> LayerStore:
        return open_store(self.url, create=False)


@pytest.fixture
def site(store_url: str, tmp_path: Path) -> Site:
    """An empty store with an app (exceptions propagated) and a technician account."""
    open_store(store_url).close()
    app = create_app({**app_config(store_url, tmp_path), "TESTING": True})
    add_technicien(app)
    return Site(store_url, tmp_path, app)


def form(uid: str) -> dict[str, Any]:
    """A multipart observation with two photos."""
    return {"uid": uid, "lon": "2.4112", "lat": "48.8612", "theme": "propreté",
            "description": f"constat {uid}",
            "photos": [(io.BytesIO(blob), name) for name, blob in BLOBS.items()]}


def files_of(folder: Path) -> tuple[list[str], list[str]]:
    """(final photo names, staged file names) in ``folder``."""
    finals = sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
    staging = photos.staging_dir(folder)
    staged = sorted(p.name for p in staging.iterdir()) if staging.is_dir() else []
    return finals, staged


def check_consistent(site: Site, *, staged_ok: bool = False) -> dict[str, list[str]]:
    """Every observation has all its photos (intact), every photo its observation; one
    creation entry per record. Returns ``uid -> photo names``."""
    with site.open() as store:
        obs = store.read("observations")
        history = store.read_children("observations", "historique")
    names = {str(u): photos.record_photos(p) for u, p in zip(obs["uid"], obs["photos"], strict=True)}
    finals, staged = files_of(site.photos_dir)
    referenced = sorted(n for ns in names.values() for n in ns)
    assert finals == referenced, (finals, names)
    digests = {hashlib.sha256(b).hexdigest() for b in BLOBS.values()}
    for name in finals:
        assert hashlib.sha256((site.photos_dir / name).read_bytes()).hexdigest() in digests, name
    if not staged_ok:
        assert staged == []
    assert sorted(history["parent_uid"]) == sorted(names)
    for uid, ns in names.items():
        assert len(ns) in (0, len(BLOBS)), (uid, ns)
    return names


class FailingStore:
    """A store whose observation write fails before, or just after, committing."""

    def __init__(self, store: LayerStore, when: str) -> None:
        self._store, self._when = store, when

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def write(self, *args: Any, **kwargs: Any) -> Any:
        if self._when == "avant-commit":
            raise RuntimeError("panne simulée avant l'enregistrement")
        self._store.write(*args, **kwargs)
        raise RuntimeError("panne simulée après l'enregistrement")


# -- in-process interruptions -----------------------------------------------------------------
@pytest.mark.parametrize("point", ["ecriture-photo", "avant-commit", "apres-commit", "deplacement"])
def test_interrupted_request_in_process(site: Site, monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    """An exception at each point: the request fails, then recovery leaves no half-state,
    and the client's retry with the same uid ends with the record and both photos."""
    client = logged_client(site.app, "technicien")
    uid = f"crash-{point}"
    if point == "ecriture-photo":  # disk full while flushing the second photo
        calls = iter(range(100))
        real_fsync = os.fsync

        def fsync(fd: int) -> None:
            if next(calls) == 1:
                raise OSError(28, "Plus de place sur le disque (simulé)")
            real_fsync(fd)

        monkeypatch.setattr(photos.os, "fsync", fsync)
        expected: type[BaseException] = OSError
    elif point in ("avant-commit", "apres-commit"):
        from webmap import store as store_module

        real_get = store_module.get_store
        monkeypatch.setattr("webmap.api._store", lambda: FailingStore(real_get(), point))
        expected = RuntimeError
    else:
        def broken_promote(*_args: Any, **_kwargs: Any) -> list[str]:
            raise OSError(5, "Erreur d'entrée-sortie (simulée)")

        monkeypatch.setattr(photos, "promote", broken_promote)
        expected = OSError
    with pytest.raises(expected):
        client.post("/api/observations", data=form(uid), content_type="multipart/form-data")
    monkeypatch.undo()
    finals, staged = files_of(site.photos_dir)
    if point in ("ecriture-photo", "avant-commit"):  # nothing kept, nothing stored
        assert (finals, staged) == ([], [])
        assert check_consistent(site) == {}
    elif point == "apres-commit":  # committed after all: the photos were moved anyway
        assert len(finals) == 2 and staged == []
        assert len(check_consistent(site)[uid]) == 2
    else:  # committed, photos still staged: the next start-up finishes the move
        assert finals == [] and len(staged) == 2
        create_app({**app_config(site.url, site.folder), "TESTING": True})
        assert len(check_consistent(site)[uid]) == 2
    retry = client.post("/api/observations", data=form(uid), content_type="multipart/form-data")
    assert retry.status_code == (201 if point in ("ecriture-photo", "avant-commit") else 200)
    names = check_consistent(site)
    assert list(names) == [uid] and len(names[uid]) == 2


def test_retry_race_keeps_the_winner_photos(site: Site) -> None:
    """Eight concurrent retries of the same upload: one record, its two photos, nothing else."""
    with serve_in_thread(site.app) as base:
        def send(_i: int) -> int:
            with requests.Session() as http:
                login(http, base)
                files = [("photos", (n, b)) for n, b in BLOBS.items()]
                data = {k: v for k, v in form("meme-envoi").items() if k != "photos"}
                return http.post(f"{base}/api/observations", data=data, files=files,
                                 timeout=120).status_code

        results: list[int] = []
        threads = [threading.Thread(target=lambda i=i: results.append(send(i))) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=150)
    assert sorted(results) == [200] * 7 + [201]
    assert len(check_consistent(site)["meme-envoi"]) == 2


# -- client disconnecting mid-upload ------------------------------------------------------------
def multipart(uid: str) -> tuple[bytes, str]:
    """A multipart body with two photos and its content type."""
    boundary = "----limite-qpv-test"
    parts = []
    for key, value in form(uid).items():
        if key != "photos":
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n'
                         f"{value}\r\n".encode())
    for name, blob in BLOBS.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="photos"; '
                     f'filename="{name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                     + blob + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_client_disconnects_mid_upload(site: Site) -> None:
    """A body cut in the middle of the second photo: a 400, no record, no file at all."""
    app = create_app(app_config(site.url, site.folder))
    with serve_in_thread(app) as base, requests.Session() as http:
        login(http, base)
        body, ctype = multipart("coupure-envoi")
        cookie = "; ".join(f"{c.name}={c.value}" for c in http.cookies)
        host, port = base.removeprefix("http://").split(":")
        head = (f"POST /api/observations HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                f"X-CSRFToken: {http.headers['X-CSRFToken']}\r\nCookie: {cookie}\r\n"
                "Connection: close\r\n\r\n").encode()
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(head + body[: len(body) - len(JPEG) // 2])
            sock.shutdown(socket.SHUT_WR)  # the client goes away
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.split(b" ", 2)[1] in (b"400", b"500"), answer[:200]
        ok = http.post(f"{base}/api/observations", data={"uid": "apres-coupure", "lon": "2.41",
                                                         "lat": "48.86", "theme": "voirie"},
                       timeout=60)
        assert ok.status_code == 201
    assert files_of(site.photos_dir) == ([], [])
    assert list(check_consistent(site)) == ["apres-coupure"]


# -- real SIGKILL of the server --------------------------------------------------------------
def clean_with_cli(site: Site, *extra: str, subprocess_run: bool = True) -> str:
    """``qpv photos nettoyer --delai 0`` on the site (in a subprocess, or in-process with
    click's runner); return its output."""
    args = ["--entrepot", site.url, "photos", "nettoyer", "--instance", str(site.folder / "instance"),
            "--dossier", str(site.photos_dir), "--delai", "0", *extra]
    if not subprocess_run:
        from click.testing import CliRunner

        from webmap.cli import main

        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
        return result.output
    out = subprocess.run(
        [sys.executable, "-m", "webmap.cli", *args], capture_output=True, text=True, timeout=120,
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def killed_request(site: Site, request: pytest.FixtureRequest) -> Iterator[str]:
    """SIGKILL the server at ``request.param`` during a two-photo upload; yield the point."""
    point = str(request.param)
    marker = site.folder / "arret"
    with serve_in_subprocess(site.url, site.folder, stop_at=point, marker=marker) as (base, proc), \
            requests.Session() as http:
        login(http, base)
        files = [("photos", (n, b)) for n, b in BLOBS.items()]
        data = {k: v for k, v in form("tue-en-route").items() if k != "photos"}
        errors: list[BaseException] = []

        def upload() -> None:
            try:
                http.post(f"{base}/api/observations", data=data, files=files, timeout=120)
            except requests.ConnectionError as exc:  # the server died under the request
                errors.append(exc)

        sender = threading.Thread(target=upload)
        sender.start()
        wait_for(marker, proc=proc)
        proc.kill()
        proc.wait(timeout=30)
        sender.join(timeout=60)
        assert not sender.is_alive(), "the upload still hangs 60 s after the server was killed"
        assert errors, "the request should have been cut by the SIGKILL"
    yield point


@pytest.mark.parametrize("killed_request", ["pendant-ecriture", "avant-enregistrement",
                                            "apres-enregistrement"], indirect=True)
def test_sigkilled_server_then_recovery(site: Site, killed_request: str) -> None:
    """The server killed while writing a photo, before the commit, or before moving the
    photos: ``qpv photos nettoyer`` leaves the record with both photos, or neither."""
    finals, staged = files_of(site.photos_dir)
    assert finals == [] and staged  # something was left in the staging area
    out = clean_with_cli(site)
    names = check_consistent(site)
    if killed_request == "apres-enregistrement":
        assert list(names) == ["tue-en-route"] and len(names["tue-en-route"]) == 2
        assert "2 photo(s) rattachée(s)" in out
    else:
        assert names == {}
        assert "supprimée(s) (constat absent)" in out
    assert files_of(site.photos_dir)[1] == []


def test_orphan_photos_listed_then_deleted(site: Site) -> None:
    """A final photo no observation references is listed, and deleted with --supprimer."""
    client = logged_client(site.app, "technicien")
    assert client.post("/api/observations", data=form("avec-photos"),
                       content_type="multipart/form-data").status_code == 201
    stray = site.photos_dir / photos.new_name("png")
    stray.write_bytes(PNG)
    assert f"orpheline : {stray.name}" in clean_with_cli(site, subprocess_run=False)
    assert stray.exists()
    assert f"supprimée : {stray.name}" in clean_with_cli(site, "--supprimer", subprocess_run=False)
    assert not stray.exists()
    assert len(check_consistent(site)["avec-photos"]) == 2


def test_recent_staged_photo_kept_during_grace(site: Site) -> None:
    """A staged photo younger than the grace period may belong to a request in flight: kept."""
    photos.stage(site.photos_dir, "en-vol-0001", [(PNG, "png")])
    with site.open() as store:
        report = photos.recover(store, site.photos_dir, grace_seconds=3600)
    assert len(report.kept) == 1 and not report.discarded
    with site.open() as store:
        report = photos.recover(store, site.photos_dir, grace_seconds=0)
    assert len(report.discarded) == 1 and files_of(site.photos_dir) == ([], [])
    assert "1 photo(s) en attente supprimée(s)" in report.summary()
