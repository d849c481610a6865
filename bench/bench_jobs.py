"""Background jobs: a quartier report run as a job, end to end, against the direct call.

On the demo store (built by :func:`layers.demo.build_demo` in a temporary folder, or
``--store``), for the report of QP075019 over 2023-09:2024-08 (HTML and PDF):

- *direct*: :func:`webmap.jobs.kinds.run_report` called in this process (what ``qpv rapport``
  does: report built from the store, HTML and PDF written);
- *job*: ``POST /api/jobs`` through the Flask test client as a lecteur, one embedded worker
  thread taking it from the SQLite queue (``instance/jobs.sqlite``), the API polled every
  20 ms until « terminé » (enqueue → PDF on disk); goal < 15 s, and the ratio job / direct;
- *restart*: a job queued while no worker runs (the server stopped), then a new app and its
  worker thread (in process), and a worker process ``python -m webmap.cli travailleur``
  (Python start-up and imports included): time from the start of the worker to « terminé ».

Writes ``bench/results/jobs.json``. Usage::

    python bench/bench_jobs.py [--runs 3] [--store territoire.gpkg]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask import Flask
from flask.testing import FlaskClient

from bench._common import build_demo_store
from layers.settings import REPO_ROOT
from webmap import users
from webmap.app import create_app
from webmap.jobs import DONE, FAILED, JobContext, Progress
from webmap.jobs.kinds import run_report, validate_report
from webmap.jobs.views import job_queue
from webmap.sessions import session_fields

RESULTS = REPO_ROOT / "bench" / "results" / "jobs.json"
PARAMS = {"quartier": "QP075019", "periode": "2023-09:2024-08"}
GOAL_S = 15.0


def build_store(folder: Path) -> tuple[Path, float]:
    """Build the demo store in ``folder``; return its path and the seconds it took."""
    return build_demo_store(folder)


def make_app(store: Path, instance: Path) -> Flask:
    """The app on ``store`` with a lecteur account ``lea``."""
    app = create_app({"STORE": str(store), "instance_path": str(instance), "SECRET_KEY": "bench",
                      "PHOTOS_RECOVERY": False})
    if users.get_user(app.config["USERS_DB"], "lea") is None:
        users.add_user(app.config["USERS_DB"], "lea", "mot-de-passe-solide", role="lecteur",
                       organisation="ville")
    return app


def reader(app: Flask) -> FlaskClient:
    """A test client logged in as ``lea`` with its CSRF header."""
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(session_fields("lea", app.config["USERS_DB"]))
        sess["csrf_token"] = "jeton"
    client.environ_base["HTTP_X_CSRFTOKEN"] = "jeton"
    return client


def wait_done(read: Callable[[], dict[str, Any]], deadline: float = 300.0) -> dict[str, Any]:
    """Poll ``read()`` every 20 ms until the job is finished (or fail after ``deadline`` s)."""
    end = time.monotonic() + deadline
    while True:
        job = read()
        if job["state"] in (DONE, FAILED):
            if job["state"] == FAILED:
                raise RuntimeError(f"job failed: {job['error']}")
            return job
        if time.monotonic() > end:
            raise RuntimeError(f"job still {job['state']} after {deadline} s")
        time.sleep(0.02)


def direct(store: Path, folder: Path) -> float:
    """Seconds of the report function called directly (HTML and PDF)."""
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    run_report(validate_report(PARAMS), JobContext(store_url=str(store), folder=folder,
                                                   progress=Progress(lambda p, s: None)))
    return time.perf_counter() - t0


def as_job(app: Flask) -> tuple[float, list[int]]:
    """Seconds from ``POST /api/jobs`` to the PDF on disk; the progress values seen."""
    client = reader(app)
    seen: list[int] = []
    t0 = time.perf_counter()
    res = client.post("/api/jobs", json={"kind": "rapport", "params": PARAMS})
    assert res.status_code == 202, res.json
    job_id = res.json["id"]

    def read() -> dict[str, Any]:
        job = dict(client.get(f"/api/jobs/{job_id}").json)
        seen.append(job["progress"])
        return job

    job = wait_done(read)
    elapsed = time.perf_counter() - t0
    pdf = job_queue(app).files_dir / job_id / job["result"]["fichiers"][-1]
    assert pdf.suffix == ".pdf" and pdf.stat().st_size > 0
    return elapsed, sorted(set(seen))


def restart(store: Path, folder: Path) -> dict[str, float]:
    """Seconds from a worker's start to the end of a job queued while no worker ran."""
    out: dict[str, float] = {}
    instance = folder / "instance-restart"
    first = make_app(store, instance)
    job_id = reader(first).post("/api/jobs", json={"kind": "rapport", "params": PARAMS}).json["id"]
    t0 = time.perf_counter()
    second = make_app(store, instance)
    workers = job_queue(second).start_workers(1, poll=0.05)
    try:
        wait_done(lambda: job_queue(second).get(job_id).to_dict())  # type: ignore[union-attr]
    finally:
        workers.stop()
    out["thread_worker_s"] = round(time.perf_counter() - t0, 3)
    job_id = reader(first).post("/api/jobs", json={"kind": "rapport", "params": PARAMS}).json["id"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "QPV_STORE": str(store),
           "QPV_INSTANCE_PATH": str(instance), "QPV_SECRET_KEY": "bench"}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "webmap.cli", "travailleur"], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_done(lambda: job_queue(first).get(job_id).to_dict())  # type: ignore[union-attr]
        out["worker_process_s"] = round(time.perf_counter() - t0, 3)
    finally:
        proc.terminate()
        proc.wait(60)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark and write the results file."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="reports per variant")
    parser.add_argument("--store", type=Path, default=None, help="an existing demo store (else built)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_jobs_") as tmp:
        folder = Path(tmp)
        built = 0.0
        store = args.store
        if store is None:
            store, built = build_store(folder)
        app = make_app(store, folder / "instance")
        workers = job_queue(app).start_workers(1, poll=0.05)
        direct_s, job_s, progress = [], [], []
        try:
            for i in range(args.runs):  # interleaved, same conditions
                direct_s.append(direct(store, folder / f"direct-{i}"))
                elapsed, seen = as_job(app)
                job_s.append(elapsed)
                progress.append(seen)
        finally:
            workers.stop()
        restarted = restart(store, folder)
    results: dict[str, Any] = {
        "report": PARAMS, "runs": args.runs, "demo_store_build_s": round(built, 1),
        "direct_s": [round(t, 3) for t in direct_s], "job_end_to_end_s": [round(t, 3) for t in job_s],
        "direct_median_s": round(statistics.median(direct_s), 3),
        "job_median_s": round(statistics.median(job_s), 3),
        "ratio_job_direct": round(statistics.median(job_s) / statistics.median(direct_s), 3),
        "goal_s": GOAL_S, "goal_met": max(job_s) < GOAL_S, "progress_seen": progress,
        "restart": restarted,
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"direct report (median of {args.runs}): {results['direct_median_s']:.2f} s")
    print(f"report job end to end (median): {results['job_median_s']:.2f} s, "
          f"ratio {results['ratio_job_direct']:.2f}, worst {max(job_s):.2f} s "
          f"(goal < {GOAL_S:g} s: {'atteint' if results['goal_met'] else 'non atteint'})")
    print(f"restart: thread worker {restarted['thread_worker_s']:.2f} s, "
          f"worker process {restarted['worker_process_s']:.2f} s")
    print(f"written {args.output}")
    return results


if __name__ == "__main__":
    main()
