"""Real HTTP servers for the concurrency and crash tests: in a thread or in a subprocess.

The subprocess server (:data:`SERVER_SCRIPT`) can stop for good at a named point of the
observation write (``QPV_TEST_STOP_AT``), so that a test can SIGKILL it exactly there.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import make_server

from layers.settings import REPO_ROOT
from webmap import users

PASSWORD = "mot-de-passe-solide"
TECHNICIEN = "theo"
#: 1x1 PNG and minimal JPEG / WebP accepted by the photo checks.
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
       b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa75\x81\x84"
       b"\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40 + b"\xff\xd9"
#: deadline for a server subprocess to start, or to reach its stop point (seconds): generous,
#: the machine may be busy
START_S = 120.0


def app_config(store_url: str, folder: Path) -> dict[str, Any]:
    """Configuration of a test app on ``store_url`` with its instance and photos under ``folder``."""
    return {"STORE": store_url, "instance_path": str(folder / "instance"),
            "PHOTOS_DIR": str(folder / "photos"), "SECRET_KEY": "clef-de-test-serveur"}


def add_technicien(app: Flask) -> None:
    """Create the technician account used by the HTTP clients."""
    users.add_user(app.config["USERS_DB"], TECHNICIEN, PASSWORD, role="technicien",
                   organisation="ville")


def _closing_bodies(app: Callable[..., Any]) -> Callable[..., Any]:
    """``app`` with every answer body closed by the body itself, whatever the client does.

    werkzeug's development server closes the body in a ``finally`` that first drains the
    socket: when the browser has already reset the connection (a page left while its scripts
    load), that drain raises and the body — an open static file — is left to the garbage
    collector, a ResourceWarning at a random later test. Here the body is closed as soon as
    it is exhausted, or when its generator is discarded.
    """
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        body = app(environ, start_response)

        def chunks() -> Iterator[bytes]:
            try:
                yield from body
            finally:
                close = getattr(body, "close", None)
                if close is not None:
                    close()
        return chunks()
    return wrapped


@contextlib.contextmanager
def serve_in_thread(app: Flask | Callable[..., Any]) -> Iterator[str]:
    """Serve ``app`` (a Flask app or any WSGI callable) with a threaded werkzeug server on a
    free port; yield its base URL. The socket listens before this yields: no wait needed."""
    server = make_server("127.0.0.1", 0, _closing_bodies(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="qpv-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)


def login(http: requests.Session, base: str, who: str = TECHNICIEN) -> None:
    """Log ``http`` in through the real login form and set its CSRF header."""
    token = http.get(f"{base}/api/session", timeout=60).json()["csrf_token"]
    res = http.post(f"{base}/connexion", data={"login": who, "password": PASSWORD,
                                                "csrf_token": token},
                    allow_redirects=False, timeout=60)
    if res.status_code != 302:
        raise RuntimeError(f"login failed: {res.status_code} {res.text[:200]}")
    info = http.get(f"{base}/api/session", timeout=60).json()
    if info["role"] != "technicien":
        raise RuntimeError(f"not logged in: {info}")
    http.headers["X-CSRFToken"] = info["csrf_token"]


# -- subprocess server ---------------------------------------------------------------------
SERVER_SCRIPT = r'''
import os, sys, time
from pathlib import Path

from werkzeug.serving import make_server

import webmap.photos as photos
from webmap.app import create_app

stop_at = os.environ.get("QPV_TEST_STOP_AT", "")
marker = Path(os.environ.get("QPV_TEST_MARKER", "/nonexistent"))


def halt(point):
    marker.write_text(point)
    time.sleep(600)  # killed here by the test


if stop_at == "pendant-ecriture":  # the first photo is in its .part file, not flushed yet
    os.fsync = lambda fd: halt(stop_at)  # this process only serves the test
elif stop_at == "avant-enregistrement":  # photos staged, record not written
    real_stage = photos.stage
    def stage(*args, **kwargs):
        names = real_stage(*args, **kwargs)
        halt(stop_at)
        return names
    photos.stage = stage
elif stop_at == "apres-enregistrement":  # record committed, photos not moved
    photos.promote = lambda *args, **kwargs: halt(stop_at)

app = create_app({"STORE": sys.argv[1], "instance_path": sys.argv[2], "PHOTOS_DIR": sys.argv[3],
                  "SECRET_KEY": "clef-de-test-serveur"})
server = make_server("127.0.0.1", 0, app, threaded=True)
print(f"PORT {server.server_port}", flush=True)
server.serve_forever()
'''


@contextlib.contextmanager
def serve_in_subprocess(store_url: str, folder: Path, *, stop_at: str = "",
                        marker: Path | None = None) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run :data:`SERVER_SCRIPT` on ``store_url``; yield (base URL, process).

    The process is killed (if still alive) and reaped on exit.
    """
    cfg = app_config(store_url, folder)
    env = {**os.environ, "QPV_TEST_STOP_AT": stop_at,
           "QPV_TEST_MARKER": str(marker or folder / "arret"), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER_SCRIPT, cfg["STORE"], cfg["instance_path"], cfg["PHOTOS_DIR"]],
        stdout=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT,
        stderr=None if os.environ.get("QPV_TEST_SERVER_LOG") else subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{_port_of(proc, timeout=START_S)}", proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def _port_of(proc: subprocess.Popen[str], *, timeout: float) -> int:
    """The port the server subprocess prints once it listens (``PORT n``); fail after ``timeout``."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise TimeoutError(f"the test server printed no port within {timeout:.0f} s")
    line = proc.stdout.readline()  # the whole line is written at once (print, flush)
    match = re.match(r"PORT (\d+)", line)
    if match is None:
        raise RuntimeError(f"server did not start (exit status {proc.poll()}): {line!r}")
    return int(match[1])


def wait_for(path: Path, *, timeout: float = START_S, proc: subprocess.Popen[str] | None = None) -> None:
    """Wait until ``path`` exists (the server reached its stop point); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("the server exited before its stop point")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared within {timeout:.0f} s "
                               "(the server never reached its stop point)")
        time.sleep(0.05)  # polling interval
