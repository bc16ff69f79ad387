"""CHUNGUS_HOME and what CHUNGUS writes there, readable by CHUNGUS's user only.

CHUNGUS_HOME holds the secret key, the SQLite database, engine logs and job files
(inputs, outputs, logs): nothing there is for other users of the machine. The home is
created 0700, the secret key 0600 from its first byte (never written, then chmod-ed),
and the process's umask is 077, so every file CHUNGUS, its engines and its jobs create
is 0600 and every directory 0700.

A home made by an older CHUNGUS (or by hand) may be 0755 with a 0644 secret key, database
and logs: at every start the home and what CHUNGUS writes there lose their group and other
access. What belongs to another user is left as it is, with a warning, and so is what a
link points to.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077
NOT_OWNER_ONLY = 0o077
# What CHUNGUS writes in its home (see settings.py): the secret key, the SQLite database
# with its write-ahead log and shared memory, and the engines' logs.
WRITTEN_FILES = ("secret_key", "chungus.sqlite3", "chungus.sqlite3-wal", "chungus.sqlite3-shm")
WRITTEN_DIRS = ("logs",)

logger = logging.getLogger(__name__)


def private_home(path: Path) -> Path:
    """Create `path` 0700 if missing, take group and other access from an existing one and
    from what CHUNGUS wrote there, and set this process's umask to 077 for all it, and its
    children, create from now on."""
    os.umask(PRIVATE_UMASK)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    make_private(path.resolve())
    for name in WRITTEN_FILES:
        make_private(path / name)
    for directory in (path / name for name in WRITTEN_DIRS):
        make_private(directory)
        if directory.is_dir() and not directory.is_symlink():
            for child in directory.iterdir():
                make_private(child)
    return path


def make_private(path: Path) -> None:
    """Take group and other access from `path` if it is there and not a link (what a link
    points to may not be CHUNGUS's); warn where that is not this user's to change."""
    try:
        found = path.lstat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(found.st_mode)
    if stat.S_ISLNK(found.st_mode) or not mode & NOT_OWNER_ONLY:
        return
    if found.st_uid != os.geteuid():
        logger.warning(
            "%s is open to others (mode %o) and belongs to another user (uid %d): left as "
            "it is; run `chmod go-rwx %s` as its owner",
            path, mode, found.st_uid, path,
        )  # fmt: skip
        return
    try:
        os.chmod(path, mode & ~NOT_OWNER_ONLY)
    except OSError as exc:
        logger.warning("%s is open to others (mode %o) and stays so: %s", path, mode, exc)


def secret_key(path: Path) -> str:
    """The secret in `path`, created first if missing: 0600 from the start, and whole before
    anyone can read it (written aside, then linked into place; a process that loses the race
    reads the winner's)."""
    if not path.exists():
        aside = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(aside, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(50))
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            aside.unlink(missing_ok=True)
    return path.read_text().strip()
