"""Files of the instance folder that hold secrets or personal data, created mode 600.

The users file, the login-throttling counters and the job queue name accounts: they are
created readable by their owner only, before SQLite first opens them.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

logger = logging.getLogger(__name__)

#: Owner read and write only.
PRIVATE_MODE = 0o600


def create_private(path: Path) -> bool:
    """Create ``path`` empty with mode 600 (and its folder) when missing.

    Returns
    -------
    bool
        True when the file was created, False when it existed (left as it is).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def tighten(path: Path) -> int | None:
    """Set an existing file readable by others to mode 600; return its former mode, or None."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return None
    os.chmod(path, PRIVATE_MODE)
    return mode
