"""The job queue: huey (SQLite file by default, Redis for several machines) and its workers.

``JOBS_URL`` chooses the broker: ``sqlite:///chemin/jobs.sqlite`` (the default is
``instance/jobs.sqlite``, created mode 600; no server needed) or ``redis://hôte:6379/0``. The
queue holds one huey task per job (its id) and the job records (:mod:`webmap.jobs._records`).

Workers are plain threads that take tasks from huey's storage (``dequeue`` / ``execute``):
``qpv servir`` starts them in its process unless ``--sans-travailleur``, ``qpv travailleur``
runs them alone. A job queued while no worker runs waits in the storage and is run by the next
worker that starts. A job that was *running* when its process died is not re-run (a report
half written or an analysis half stored must not be repeated blindly): when a worker starts,
such records of its own host whose process is gone are marked « échec » with
:data:`~webmap.jobs._records.INTERRUPTED`, and the user starts the job again.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import huey

from geo.errors import MissingDependencyError, QPVError
from webmap._private_files import create_private
from webmap.errors import JobError
from webmap.jobs._records import (
    DONE,
    FAILED,
    INTERRUPTED,
    RUNNING,
    WAITING,
    JobRecord,
    RecordStore,
    now_iso,
    worker_id,
)
from webmap.jobs.kinds import READABLE_PARAM, READERS_PARAM, JobContext, get_kind
from webmap.jobs.progress import Progress

logger = logging.getLogger(__name__)

#: Message of a failure that is not one of ours (the traceback goes to the log only).
INTERNAL_ERROR = "Erreur interne pendant le travail ; l'administrateur en trouvera le détail dans le journal."
TASK_NAME = "qpv_job"


@dataclass(frozen=True)
class Requester:
    """Who asks for a job.

    ``readable``: the layers this requester may see (None: every layer, as on the command
    line). A job reads no other layer: what a report shows follows the role that asked for it.
    """

    login: str | None
    organisation: str | None = None
    readable: tuple[str, ...] | None = None
    # issue 16 part D: confidential layer → roles that may see it, named in the reports
    readers: dict[str, list[str]] | None = None


def _sqlite_path(url: str) -> Path:
    """File of ``sqlite:///relatif.sqlite`` or ``sqlite:////absolu.sqlite`` (SQLAlchemy's form)."""
    if not url.startswith("sqlite:///"):
        raise JobError(f"JOBS_URL « {url} » : attendu sqlite:///chemin/jobs.sqlite.")
    path = unquote(url.removeprefix("sqlite:///"))
    if not path:
        raise JobError(f"JOBS_URL « {url} » : chemin du fichier SQLite manquant.")
    return Path(path)


def make_huey(url: str) -> Any:
    """Return the huey instance of ``url`` (``sqlite:///…`` or ``redis://…``).

    Raises
    ------
    JobError
        When the URL is neither.
    MissingDependencyError
        When redis is not installed for a Redis URL.
    """
    if url.startswith("sqlite:"):
        path = _sqlite_path(url)
        create_private(path)  # the queue holds users' parameters
        return huey.SqliteHuey("qpv", filename=str(path), results=False, timeout=30)
    if url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError("redis", extra="server", purpose="la file de travaux Redis") from exc
        return huey.RedisHuey("qpv", url=url, results=False)
    raise JobError(f"JOBS_URL « {url} » non reconnue : attendu sqlite:///chemin ou redis://hôte:port/0.")


class JobQueue:
    """Jobs of one queue: create, read, run.

    Parameters
    ----------
    url : str
        ``JOBS_URL``.
    store_url : str
        The store the jobs read and write.
    files_dir : Path
        Where each job writes its files (``<files_dir>/<id>/``).
    files_area : Path, optional
        The store's files area, where finished reports are filed with their parameters.
    """

    def __init__(self, url: str, *, store_url: str, files_dir: str | Path,
                 files_area: str | Path | None = None) -> None:
        self.url = url
        self.store_url = store_url
        self.files_dir = Path(files_dir)
        self.files_area = Path(files_area) if files_area else None
        self.huey = make_huey(url)
        self.records = RecordStore(self.huey.storage)
        self._task = self.huey.task(name=TASK_NAME)(self._execute)

    # ------------------------------------------------------------------ API side
    def submit(self, kind_name: str, params: dict[str, Any], *, requester: Requester) -> JobRecord:
        """Validate ``params`` for ``kind_name``, store the record and queue the task.

        Raises
        ------
        JobError
            Unknown kind or bad parameters (French message naming the parameter).
        """
        kind = get_kind(kind_name)
        if not isinstance(params, dict):
            raise JobError("Paramètres du travail : objet JSON attendu (« params »).")
        clean = kind.validate(params)
        if requester.readable is not None:
            clean[READABLE_PARAM] = sorted(requester.readable)
        if requester.readers is not None:
            clean[READERS_PARAM] = {k: list(v) for k, v in requester.readers.items()}
        record = JobRecord(id=uuid.uuid4().hex, kind=kind.name, params=clean, owner=requester.login,
                           organisation=requester.organisation)
        self.records.save(record)
        self.huey.enqueue(self._task.s(record.id, id=record.id))
        logger.info("job %s (%s) queued for %s", record.id, kind.name, requester.login)
        return record

    def get(self, job_id: str) -> JobRecord | None:
        """Return the record ``job_id`` (None when unknown)."""
        return self.records.get(job_id)

    def jobs(self, *, owner: str | None = None) -> list[JobRecord]:
        """Return the records, newest first; only ``owner``'s when given."""
        return [r for r in self.records.all() if owner is None or r.owner == owner]

    def folder(self, record: JobRecord) -> Path:
        """Return the folder of the files of ``record``."""
        return self.files_dir / record.id

    def pending(self) -> int:
        """Return the number of tasks waiting in the queue."""
        return int(self.huey.pending_count())

    # ------------------------------------------------------------------ worker side
    def _execute(self, job_id: str) -> None:
        """Huey task: run the job ``job_id`` and keep its record up to date."""
        record = self.records.get(job_id)
        if record is None or record.state != WAITING:
            logger.warning("job %s skipped: no waiting record", job_id)
            return
        record = record.evolve(state=RUNNING, started=now_iso(), worker=worker_id(), step="Démarrage")
        self.records.save(record)
        state = {"record": record}

        def write(percent: int, step: str) -> None:
            state["record"] = state["record"].evolve(progress=percent, step=step)
            self.records.save(state["record"])

        folder = self.folder(record)
        folder.mkdir(parents=True, exist_ok=True)
        context = JobContext(store_url=self.store_url, folder=folder, progress=Progress(write),
                             owner=record.owner, organisation=record.organisation, requested=record.created,
                             job_id=record.id, files_area=self.files_area)
        try:
            result = get_kind(record.kind).run(dict(record.params), context)
        except (QPVError, OSError) as exc:
            logger.warning("job %s (%s) failed: %s", job_id, record.kind, exc)
            self._finish(state["record"], FAILED, error=_french(exc))
        except Exception:
            logger.exception("job %s (%s) failed", job_id, record.kind)
            self._finish(state["record"], FAILED, error=INTERNAL_ERROR)
        else:
            self._finish(state["record"].evolve(progress=100), DONE, result=result)

    def _finish(self, record: JobRecord, state: str, *, error: str | None = None,
                result: dict[str, Any] | None = None) -> None:
        step = "Terminé" if state == DONE else "Échec"
        self.records.save(record.evolve(state=state, finished=now_iso(), error=error, result=result,
                                        step=step))
        logger.info("job %s (%s): %s", record.id, record.kind, state)

    def recover_interrupted(self) -> list[str]:
        """Mark « échec » the running jobs of this host whose process is gone; return their ids."""
        host = worker_id().rsplit(":", 1)[0]
        failed = []
        for record in self.records.all():
            if record.state != RUNNING or not record.worker:
                continue
            rec_host, _, pid = record.worker.rpartition(":")
            if rec_host != host or (pid.isdigit() and _alive(int(pid))):
                continue
            self.records.save(record.evolve(state=FAILED, finished=now_iso(), error=INTERRUPTED,
                                            step="Échec"))
            failed.append(record.id)
        if failed:
            logger.warning("jobs interrupted by a stop of their process: %s", ", ".join(failed))
        return failed

    def run_one(self) -> bool:
        """Take one task from the queue and run it; False when the queue is empty."""
        task = self.huey.dequeue()
        if task is None:
            return False
        self.huey.execute(task)
        return True

    def start_workers(self, n: int = 1, *, poll: float = 0.2) -> Workers:
        """Start ``n`` worker threads (after marking interrupted jobs); stop them with ``.stop()``."""
        self.recover_interrupted()
        workers = Workers(self, n, poll=poll)
        workers.start()
        return workers

    def delete_files(self, record: JobRecord) -> None:
        """Remove the files of ``record``."""
        shutil.rmtree(self.folder(record), ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _french(exc: BaseException) -> str:
    """Return the message of one of our errors (French by the house rules); a generic one otherwise."""
    text = str(exc).strip()
    if isinstance(exc, QPVError) and text:
        return text
    if isinstance(exc, OSError):
        return "Fichier ou entrepôt inaccessible pendant le travail."
    return INTERNAL_ERROR


class Workers:
    """Worker threads of a :class:`JobQueue` (daemon threads polling huey's storage)."""

    def __init__(self, queue: JobQueue, n: int, *, poll: float = 0.2,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.queue = queue
        self.poll = poll
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"qpv-travailleur-{i + 1}", daemon=True)
                         for i in range(max(1, n))]
        self._on_error = on_error

    def start(self) -> None:
        """Start the threads."""
        for thread in self._threads:
            thread.start()
        logger.info("%d job worker thread(s) started on %s", len(self._threads), self.queue.url)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.queue.run_one()
            except Exception as exc:  # the storage failed: log and keep polling
                logger.exception("job worker: queue error")
                if self._on_error:
                    self._on_error(exc)
                ran = False
            if not ran:
                self._stop.wait(self.poll)

    def stop(self, *, timeout: float = 30.0) -> None:
        """Ask the threads to stop after their current job and wait for them."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)

    def wait(self) -> None:
        """Block until stopped (``qpv travailleur``)."""
        while not self._stop.is_set():
            self._stop.wait(1.0)
