"""Background jobs: reports, analyses (later routes and imports) run outside the request.

:class:`JobQueue` wraps huey (SQLite file or Redis, chosen by ``JOBS_URL``), the job records
the pages show (:class:`JobRecord`) and the worker threads; :mod:`webmap.jobs.kinds` is the
registry of job kinds; :mod:`webmap.jobs.views` the JSON API (Flask). This package's core
needs no Flask.
"""

from webmap.jobs._records import DONE, FAILED, INTERRUPTED, RUNNING, STATES, WAITING, JobRecord
from webmap.jobs.kinds import KINDS, JobContext, JobKind, register
from webmap.jobs.progress import Progress
from webmap.jobs.queue import JobQueue, Requester, Workers, make_huey

__all__ = ["DONE", "FAILED", "INTERRUPTED", "KINDS", "RUNNING", "STATES", "WAITING", "JobContext", "JobKind",
           "JobQueue", "JobRecord", "Progress", "Requester", "Workers", "make_huey", "register"]
