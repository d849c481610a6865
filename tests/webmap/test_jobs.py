"""Background jobs through the JSON API, with real worker threads and real worker processes.

Every wait polls the job's state with a deadline (no fixed sleeps): the worker threads take
the tasks from the SQLite queue of the app's instance folder, as ``qpv servir`` does.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from layers.settings import REPO_ROOT
from tests.webmap.conftest import client_logged_as
from webmap import users
from webmap.app import create_app
from webmap.jobs import DONE, FAILED, INTERRUPTED, RUNNING, WAITING
from webmap.jobs.views import job_queue

PASSWORD = "mot-de-passe-travaux"
LOGINS = {"lecteur": "lou", "technicien": "tom", "administrateur": "alix"}
OTHER_READER = "lise"
REPORT = {"kind": "rapport", "params": {"quartier": "QP075019", "periode": "2023-09:2024-08"}}
DEADLINE = 240.0


def _make_app(store: Path, instance: Path) -> Flask:
    app = create_app({"STORE": str(store), "instance_path": str(instance), "SECRET_KEY": "clef-travaux",
                      "TESTING": True, "PHOTOS_RECOVERY": False})
    db = app.config["USERS_DB"]
    for role, login in [*LOGINS.items(), ("lecteur", OTHER_READER)]:
        if users.get_user(db, login) is None:
            users.add_user(db, login, PASSWORD, role=role,
                           organisation="bailleur" if role == "lecteur" else "ville")
    return app


def _client(app: Flask, login: str) -> FlaskClient:
    return client_logged_as(app, login)


def _wait(read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], *,
          seen: list[dict[str, Any]] | None = None, deadline: float = DEADLINE) -> dict[str, Any]:
    """Poll ``read()`` until ``done(job)``; every state read is appended to ``seen``."""
    end = time.monotonic() + deadline
    while True:
        job = read()
        if seen is not None:
            seen.append(job)
        if done(job):
            return job
        assert time.monotonic() < end, f"job still {job.get('state')} after {deadline} s: {job}"
        time.sleep(0.02)  # poll interval, not a wait for the result


def _api_job(client: FlaskClient, job_id: str) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        res = client.get(f"/api/jobs/{job_id}")
        assert res.status_code == 200, res.json
        return dict(res.json)
    return read


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    return tmp_path / "instance"


@pytest.fixture
def jobs_app(store_path: Path, instance: Path) -> Iterator[Flask]:
    app = _make_app(store_path, instance)
    yield app
    workers = app.extensions.get("qpv_test_workers")
    if workers is not None:
        workers.stop()


def _start_workers(app: Flask) -> None:
    app.extensions["qpv_test_workers"] = job_queue(app).start_workers(1, poll=0.05)


def test_report_job_end_to_end(jobs_app: Flask, instance: Path) -> None:
    _start_workers(jobs_app)
    reader = _client(jobs_app, LOGINS["lecteur"])
    res = reader.post("/api/jobs", json=REPORT)
    assert res.status_code == 202, res.json
    job = res.json
    assert job["state"] == WAITING and job["owner"] == "lou" and job["organisation"] == "bailleur"
    assert res.headers["Location"] == f"/api/jobs/{job['id']}"
    seen: list[dict[str, Any]] = []
    final = _wait(_api_job(reader, job["id"]), lambda j: j["state"] in (DONE, FAILED), seen=seen)
    assert final["state"] == DONE, final["error"]
    assert final["progress"] == 100 and final["error"] is None
    assert final["started"] >= final["created"] and final["finished"] >= final["started"]
    progress = [j["progress"] for j in seen]
    assert progress == sorted(progress)  # never goes back
    steps = {j["step"] for j in seen if j["state"] == RUNNING}
    assert steps, "the job was never seen running"
    assert steps <= {"Démarrage", "Lecture de l'entrepôt", "Calcul des indicateurs et des points chauds",
                     "Mise en page du rapport (HTML et PDF)",
                     "Classement du rapport dans l'espace de fichiers", "Rapport prêt"}
    files = final["result"]["fichiers"]
    assert files[:2] == ["rapport-QP075019-202309-202408.html", "rapport-QP075019-202309-202408.pdf"]
    # then its tables: one CSV each and the workbook; none from the cameras (a lecteur asked)
    assert files[-1] == "rapport-QP075019-202309-202408-tableaux.xlsx"
    assert len(files) > 3 and all(f.endswith(".csv") and "restreinte" not in f for f in files[2:-1])
    assert "QP075019" in final["result"]["titre"] or "Belleville" in final["result"]["titre"]
    with reader.get(final["links"]["resultat"]) as pdf:
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    with reader.get(final["links"]["files"][0]["href"]) as html:
        assert html.status_code == 200 and final["result"]["titre"].encode() in html.data
    assert (instance / "travaux" / job["id"] / files[1]).is_file()
    assert stat.S_IMODE((instance / "jobs.sqlite").stat().st_mode) == 0o600
    listed = reader.get("/api/jobs").json
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]


def test_failed_job_shows_its_french_error(jobs_app: Flask) -> None:
    _start_workers(jobs_app)
    reader = _client(jobs_app, LOGINS["lecteur"])
    res = reader.post("/api/jobs", json={"kind": "rapport",
                                         "params": {"quartier": "QP999999", "periode": "2023-09:2024-08"}})
    assert res.status_code == 202, res.json
    final = _wait(_api_job(reader, res.json["id"]), lambda j: j["state"] in (DONE, FAILED))
    assert final["state"] == FAILED and final["step"] == "Échec"
    assert "QP999999" in final["error"] and "Traceback" not in final["error"]
    assert reader.get(f"/api/jobs/{res.json['id']}/resultat").status_code == 404


@pytest.mark.parametrize(("body", "field", "text"), [
    ({"kind": "inconnu"}, "kind", "inconnu"),
    ({"kind": "rapport", "params": {"quartier": "QP075019"}}, "params", "periode"),
    ({"kind": "rapport", "params": {"quartier": "QP075019", "periode": "2024-13:2024-02"}}, "params",
     "Période"),
    ({"kind": "rapport", "params": {"periode": "2023-09:2024-08"}}, "params", "quartier"),
    ({"kind": "rapport", "params": ["QP075019"]}, "params", "objet"),
    ([1, 2], "corps", "JSON"),
])
def test_bad_requests_are_refused_in_french(jobs_app: Flask, body: Any, field: str, text: str) -> None:
    res = _client(jobs_app, LOGINS["lecteur"]).post("/api/jobs", json=body)
    assert res.status_code == 400
    assert res.json["champ"] == field and text in res.json["erreur"]
    assert job_queue(jobs_app).jobs() == []


def test_analysis_needs_a_technician(jobs_app: Flask) -> None:
    body = {"kind": "analyse", "params": {"periode": "2023-09:2024-08", "quartier": "QP075019"}}
    res = _client(jobs_app, LOGINS["lecteur"]).post("/api/jobs", json=body)
    assert res.status_code == 403 and "technicien" in res.json["erreur"]
    _start_workers(jobs_app)
    tech = _client(jobs_app, LOGINS["technicien"])
    res = tech.post("/api/jobs", json=body)
    assert res.status_code == 202, res.json
    final = _wait(_api_job(tech, res.json["id"]), lambda j: j["state"] in (DONE, FAILED))
    assert final["state"] == DONE, final["error"]
    assert final["result"]["mailles"] > 0 and final["result"]["evenements"] > 0
    assert "resultat" not in final["links"]  # nothing to download: the result is the layer


def test_a_reader_cannot_read_another_users_job(jobs_app: Flask) -> None:
    owner = _client(jobs_app, LOGINS["lecteur"])
    job_id = owner.post("/api/jobs", json=REPORT).json["id"]
    other = _client(jobs_app, OTHER_READER)
    assert other.get(f"/api/jobs/{job_id}").status_code == 404
    assert other.get(f"/api/jobs/{job_id}/resultat").status_code == 404
    assert other.get("/api/jobs").json["jobs"] == []
    tech = _client(jobs_app, LOGINS["technicien"])
    assert tech.get(f"/api/jobs/{job_id}").status_code == 404
    admin = _client(jobs_app, LOGINS["administrateur"])
    assert admin.get(f"/api/jobs/{job_id}").json["owner"] == "lou"
    assert [j["id"] for j in admin.get("/api/jobs").json["jobs"]] == [job_id]
    assert owner.get(f"/api/jobs/{job_id}/resultat").status_code == 409  # still waiting: no consumer
    assert jobs_app.test_client().get(f"/api/jobs/{job_id}").status_code == 401


def test_a_job_queued_without_consumer_runs_after_a_restart(store_path: Path, instance: Path) -> None:
    first = _make_app(store_path, instance)
    reader = _client(first, LOGINS["lecteur"])
    body = {"kind": "rapport", "params": {**REPORT["params"], "pdf": False}}
    job_id = reader.post("/api/jobs", json=body).json["id"]
    assert reader.get(f"/api/jobs/{job_id}").json["state"] == WAITING
    assert job_queue(first).pending() == 1
    del first, reader  # the server stops; a new one starts on the same instance folder
    second = _make_app(store_path, instance)
    workers = job_queue(second).start_workers(1, poll=0.05)
    try:
        final = _wait(_api_job(_client(second, LOGINS["lecteur"]), job_id),
                      lambda j: j["state"] in (DONE, FAILED))
    finally:
        workers.stop()
    assert final["state"] == DONE, final["error"]
    assert final["result"]["fichiers"][0] == "rapport-QP075019-202309-202408.html"
    assert not any(f.endswith(".pdf") for f in final["result"]["fichiers"])  # asked without PDF


# ---------------------------------------------------------------------- real processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args: list[str], store: Path, instance: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QPV_STORE": str(store),
           "QPV_INSTANCE_PATH": str(instance), "QPV_SECRET_KEY": "clef-travaux"}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "webmap.cli", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, cwd=REPO_ROOT)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def _record(app: Flask, job_id: str) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        record = job_queue(app).get(job_id)
        assert record is not None
        return record.to_dict()
    return read


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    def up() -> dict[str, Any]:
        assert proc.poll() is None, log.read_text(encoding="utf-8", errors="replace")
        with socket.socket() as s:
            return {"up": s.connect_ex(("127.0.0.1", port)) == 0}
    _wait(up, lambda j: j["up"], deadline=120)


def test_worker_process_takes_over_after_the_server_is_killed(store_path: Path, instance: Path,
                                                              tmp_path: Path) -> None:
    app = _make_app(store_path, instance)
    log = tmp_path / "processus.log"
    port = _free_port()
    server = _spawn(["servir", "--port", str(port), "--sans-travailleur"], store_path, instance, log)
    try:
        _wait_port(port, server, log)
        body = {"kind": "rapport", "params": {**REPORT["params"], "pdf": False}}
        job_id = _client(app, LOGINS["lecteur"]).post("/api/jobs", json=body).json["id"]
    finally:
        _kill(server)
    assert job_queue(app).get(job_id).state == WAITING  # type: ignore[union-attr]
    worker = _spawn(["travailleur"], store_path, instance, log)
    try:
        final = _wait(_record(app, job_id), lambda j: j["state"] in (DONE, FAILED))
        assert final["state"] == DONE, final["error"]
        assert final["worker"].endswith(f":{worker.pid}")
        # a job running when its worker is killed is marked failed by the next worker
        running_id = _client(app, LOGINS["lecteur"]).post("/api/jobs", json=REPORT).json["id"]
        seen = _wait(_record(app, running_id), lambda j: j["state"] != WAITING)
    finally:
        _kill(worker)
    assert seen["state"] == RUNNING, "the report finished before its worker could be killed"
    assert job_queue(app).get(running_id).state == RUNNING  # type: ignore[union-attr]
    again = _spawn(["worker"], store_path, instance, log)  # the hidden English alias
    try:
        final = _wait(_record(app, running_id), lambda j: j["state"] != RUNNING)
    finally:
        _kill(again)
    assert final["state"] == FAILED and final["error"] == INTERRUPTED


def test_queue_url_is_checked() -> None:
    from webmap.errors import JobError
    from webmap.jobs import make_huey

    with pytest.raises(JobError, match="JOBS_URL « amqp://x » non reconnue"):
        make_huey("amqp://x")
    with pytest.raises(JobError, match="chemin du fichier SQLite manquant"):
        make_huey("sqlite:///")


def test_report_job_on_a_redis_queue(store_path: Path, instance: Path) -> None:
    if not os.environ.get("QPV_TEST_REDIS"):
        if os.environ.get("QPV_REQUIRE_REDIS") == "1":  # set by `make test` (.ci/test.sh)
            pytest.fail("QPV_TEST_REDIS absent : redis-server manquant (bash .ci/system-deps.sh)")
        pytest.skip("QPV_TEST_REDIS (redis://…) not set")
    app = create_app({"STORE": str(store_path), "instance_path": str(instance), "SECRET_KEY": "clef-travaux",
                      "TESTING": True, "PHOTOS_RECOVERY": False, "JOBS_URL": os.environ["QPV_TEST_REDIS"]})
    users.add_user(app.config["USERS_DB"], "lou", PASSWORD, role="lecteur", organisation="bailleur")
    queue = job_queue(app)
    queue.huey.storage.flush_all()
    workers = queue.start_workers(1, poll=0.05)
    try:
        reader = _client(app, "lou")
        job_id = reader.post("/api/jobs", json={"kind": "rapport",
                                                "params": {**REPORT["params"], "pdf": False}}).json["id"]
        final = _wait(_api_job(reader, job_id), lambda j: j["state"] in (DONE, FAILED))
    finally:
        workers.stop()
        queue.huey.storage.flush_all()
    assert final["state"] == DONE, final["error"]


def test_progress_never_goes_back_and_writes_each_new_step() -> None:
    from webmap.jobs import Progress

    written: list[tuple[int, str]] = []
    progress = Progress(lambda p, s: written.append((p, s)), min_interval=3600)
    progress(10, "Lecture")
    progress(5)  # going back is ignored
    progress(12)  # same step, within the interval: not written
    part = progress.part(20, 60)
    progress(20, "Calcul")
    part(5, 10)
    progress(250, "Fin")
    assert written == [(10, "Lecture"), (20, "Calcul"), (100, "Fin")]
    assert progress.percent == 100 and progress.step == "Fin"
    part(1, 10)  # a late sub-task report cannot lower it
    assert progress.percent == 100
