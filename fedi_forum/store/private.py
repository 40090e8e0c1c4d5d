"""Private files: the data and keys directories are 0700 and what we create in them 0600
(the database holds the instance's follower lists and moderation; the keys are the
discussions' identities). Directories and files made by someone else with wider modes
are left as they are, with a warning at start, so an operator sees it."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents' last component) as 0700; warn when an
    existing one is readable by others."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another process made it just now
            path.mkdir(mode=0o700)
            os.chmod(path, 0o700)  # the umask could have taken bits we need
    warn_if_open(path)
    return path


def secret_dir(path: Path) -> Path:
    """A directory of private keys: created 0700, and made 0700 when it is wider (git
    checks out ``keys/`` 0755; a key there must not be readable through it)."""
    if not path.exists():
        return private_dir(path)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, 0o700)
        log.info("%s made 0700: it holds private keys", path)
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty as 0600 if it does not exist (before SQLite opens it: SQLite
    gives its -wal and -shm files the database file's mode)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        warn_if_open(path)
    return path


def warn_if_open(path: Path) -> bool:
    """Log a warning when group or others may read ``path``; True when they may."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "%s is mode %04o: other users of this machine can read it; chmod %s %s",
            path,
            mode,
            "700" if path.is_dir() else "600",
            path,
        )
        return True
    return False
