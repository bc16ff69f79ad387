"""CHUNGUS_HOME and what CHUNGUS writes there, readable by CHUNGUS's user only.

CHUNGUS_HOME holds the secret key, the SQLite database, engine logs and job files
(inputs, outputs, logs): nothing there is for other users of the machine. The home is
created 0700, the secret key 0600 from its first byte (never written, then chmod-ed),
and the process's umask is 077, so every file CHUNGUS, its engines and its jobs create
is 0600 and every directory 0700.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

PRIVATE_UMASK = 0o077


def private_home(path: Path) -> Path:
    """Create `path` 0700 if missing (an existing one is the operator's: left as it is), and
    set this process's umask to 077 for all it, and its children, create from now on."""
    os.umask(PRIVATE_UMASK)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


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
