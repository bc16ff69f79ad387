"""The fah job kind: one Folding@Home client (fah-client v8) on the GPU set it is given.

The keeper (keeper.py) creates these jobs in the background tier; operators may too. Each
start writes the client's config.xml (0600, with the passkey read now from the variable
the setting names, in the CHUNGUS process that starts it) and runs the runner (runner.py),
which starts `CHUNGUS_FAH_BINARY` in the job's directory (its client.db and work units
stay there, so a preempted client resumes its work unit from Folding@Home's own
checkpoint), gives it one resource group over the job's GPUs, and stops it on SIGTERM.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings

from chungus.fleet.fah import client_config
from chungus.fleet.jobs.kinds.base import (
    PROGRESS_FILE,
    JobCommand,
    JobKind,
    Output,
    Progress,
    SpecError,
    Upload,
    read_json,
)
from chungus.lib.child_env import NEVER

KEYS = {"user", "team", "passkey_env"}
CLIENT_LOG = "log.txt"  # fah-client's own log, in its working directory
GROUP_CPUS = 1  # a GPU work unit's core needs one CPU thread to feed its GPU


def stop_seconds(grace: float) -> float:
    """The runner's SIGTERM-to-SIGKILL for the client: inside the job's grace period, so the
    runner, not the launcher's SIGKILL of its group, ends what the client left running."""
    return max(0.5, grace - 0.5)


def check(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec completed and checked (SpecError if it is wrong); shared with the CLI."""
    unknown = set(spec) - KEYS
    if unknown:
        raise SpecError(f"unknown keys for a fah job: {', '.join(sorted(unknown))}")
    user = spec.get("user", "Anonymous")
    if not isinstance(user, str) or not client_config.USER.match(user):
        raise SpecError("user must be 1 to 100 letters, digits or _ . @ + -", "user")
    team = spec.get("team", 0)
    if (
        isinstance(team, bool)
        or not isinstance(team, int)
        or not 0 <= team <= client_config.TEAM_MAX
    ):
        raise SpecError(f"team must be a whole number from 0 to {client_config.TEAM_MAX}", "team")
    env = spec.get("passkey_env", "")
    if not isinstance(env, str) or (env and not client_config.ENV_NAME.match(env)):
        raise SpecError("passkey_env must be an environment variable's name", "passkey_env")
    if env in NEVER:
        raise SpecError(f"${env} holds a CHUNGUS secret, not a passkey", "passkey_env")
    return {"user": user, "team": team, "passkey_env": env}


class FahKind(JobKind):
    name = "fah"
    label = "Folding@Home client"
    operator_only = True

    def validate(self, spec: dict[str, Any], upload: Upload | None) -> dict[str, Any]:
        if upload is not None:
            raise SpecError("a fah job takes no file", "structure_file")
        return check(spec)

    def command(self, spec: dict[str, Any], workdir: Path) -> JobCommand:
        try:
            passkey = client_config.read_passkey(spec["passkey_env"], os.environ)
        except client_config.PasskeyMissing as exc:
            raise SpecError(str(exc), "passkey_env") from None
        text = client_config.render(spec["user"], spec["team"], passkey)
        client_config.write(workdir / client_config.CONFIG_FILE, text)
        argv = (
            sys.executable, "-m", "chungus.fleet.fah.runner",
            "--binary", settings.CHUNGUS_FAH_BINARY,
            "--config", client_config.CONFIG_FILE,
            "--cpus", str(GROUP_CPUS),
            "--stop-seconds", f"{stop_seconds(settings.CHUNGUS_FAH_GRACE_SECONDS):g}",
        )  # fmt: skip
        return JobCommand(argv)

    def progress(self, workdir: Path) -> Progress:
        said = read_json(workdir / PROGRESS_FILE)
        return Progress(0.0, str(said.get("summary", ""))[:300], said)

    def outputs(self, workdir: Path) -> list[Output]:
        found = [
            Output(CLIENT_LOG, "the Folding@Home client's log", "text/plain"),
            Output("job.log", "the runner's output", "text/plain"),
        ]
        return [o for o in found if (workdir / o.name).is_file()]


KIND = FahKind()
