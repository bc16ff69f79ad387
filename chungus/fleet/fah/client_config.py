"""The Folding@Home client's config.xml: user, team and passkey, readable by CHUNGUS only.

fah-client v8 reads its options from the file named by `--config` (cbang's
`<config><NAME v="VALUE"/></config>`), as its systemd unit does
(`--config=/etc/fah-client/config.xml`). The passkey goes only here: never on the command
line (/proc/<pid>/cmdline is world-readable), in the client's environment, a job's spec
or a log line. The runner removes the file once the client has read it (runner.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from xml.sax.saxutils import quoteattr

CONFIG_FILE = "config.xml"
PASSKEY = re.compile(r"\A[0-9a-fA-F]{32}\Z")  # the client's own check (PasskeyConstraint)
USER = re.compile(r"\A[A-Za-z0-9_.@+-]{1,100}\Z")
ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,99}\Z")
TEAM_MAX = 2_147_483_647


class PasskeyMissing(ValueError):
    """The passkey's variable is unset or holds no passkey (the message never holds it)."""


def read_passkey(env_name: str, environ: dict[str, str] | os._Environ[str]) -> str:
    """The passkey from `environ[env_name]` ('' when no variable is named)."""
    if not env_name:
        return ""
    value = environ.get(env_name, "").strip()
    if not value:
        raise PasskeyMissing(
            f"${env_name} (the Folding@Home passkey) is not set in the environment of the "
            "CHUNGUS process that starts the clients (chungus serve)"
        )
    if not PASSKEY.match(value):
        raise PasskeyMissing(f"${env_name} does not hold a passkey (32 hexadecimal digits)")
    return value


def render(user: str, team: int, passkey: str, cpus: int = 0) -> str:
    """The file's text. `cpus` 0: the client's default group folds on no CPU (the GPU set's
    group is given its CPU through the client's control port)."""
    options = [("user", user), ("team", str(team)), ("cpus", str(cpus))]
    if passkey:
        options.append(("passkey", passkey))
    lines = [f"  <{name} v={quoteattr(value)}/>" for name, value in options]
    return "<config>\n" + "\n".join(lines) + "\n</config>\n"


def write(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, whatever mode an older file had."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
