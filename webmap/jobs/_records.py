"""Job records: what the pages show of a background job, kept in the queue's storage.

The records are JSON documents in the key-value table of huey's storage (the ``kv`` table of
``jobs.sqlite`` for the embedded queue, a Redis hash for several machines), under the key
``qpv-job:<id>``: they live next to the queue, so a record and its task survive a restart
together and every worker of a Redis queue sees the same records. Only the worker running a
job changes its record after creation (one writer per record).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

#: States of a job, as shown to users.
WAITING = "en attente"
RUNNING = "en cours"
DONE = "terminé"
FAILED = "échec"
STATES = (WAITING, RUNNING, DONE, FAILED)

#: Error of a job that was running when its worker process died.
INTERRUPTED = "Travail interrompu par un arrêt du serveur : relancez-le."
KEY_PREFIX = "qpv-job:"


def now_iso() -> str:
    """Return the current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def worker_id() -> str:
    """Return ``host:pid`` of this process (who runs a job)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class JobRecord:
    """A background job as the pages show it.

    Attributes
    ----------
    id : str
        Identifier (hex), also the huey task id.
    kind : str
        Registered kind (``rapport``, ``analyse``…).
    params : dict
        Parameters as validated at creation.
    owner, organisation : str or None
        Who asked for it (login and organisation).
    created, started, finished : str or None
        UTC times (ISO 8601).
    state : str
        One of :data:`STATES` (French).
    progress : int
        Percentage done (0–100).
    step : str
        What is being done (French).
    result : dict or None
        What the job produced (``files``: names in the job's folder; other JSON values).
    error : str or None
        The French error message of a failed job.
    worker : str or None
        ``host:pid`` of the process that ran it.
    """

    id: str
    kind: str
    params: dict[str, Any]
    owner: str | None = None
    organisation: str | None = None
    created: str = field(default_factory=now_iso)
    started: str | None = None
    finished: str | None = None
    state: str = WAITING
    progress: int = 0
    step: str = "En attente d'un travailleur"
    result: dict[str, Any] | None = None
    error: str | None = None
    worker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        """Read the JSON form (unknown keys ignored)."""
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    def evolve(self, **changes: Any) -> JobRecord:
        """Copy with ``changes``."""
        return replace(self, **changes)


class RecordStore:
    """Read and write job records in a huey storage (``put_data`` / ``peek_data``)."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    def save(self, record: JobRecord) -> None:
        """Write ``record`` (replacing the previous version)."""
        self.storage.put_data(KEY_PREFIX + record.id,
                              json.dumps(record.to_dict(), ensure_ascii=False).encode("utf-8"))

    def get(self, job_id: str) -> JobRecord | None:
        """Return the record ``job_id``, None when unknown."""
        if not job_id or not job_id.isalnum():
            return None
        raw = self.storage.peek_data(KEY_PREFIX + job_id)
        if not isinstance(raw, bytes | bytearray | memoryview | str):
            return None  # huey's EmptyData
        return JobRecord.from_dict(json.loads(bytes(raw) if not isinstance(raw, str) else raw))

    def all(self) -> list[JobRecord]:
        """Every record, newest first."""
        records = []
        for key, raw in self.storage.result_items().items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            if name.startswith(KEY_PREFIX):
                records.append(JobRecord.from_dict(json.loads(bytes(raw))))
        return sorted(records, key=lambda r: (r.created, r.id), reverse=True)
