"""The job kinds CHUNGUS knows, by name."""

from __future__ import annotations

from chungus.fleet.fah import kind as fah
from chungus.fleet.jobs.kinds import command
from chungus.fleet.jobs.kinds.base import JobKind, SpecError
from chungus.fleet.jobs.kinds.ensemble import kind as ensemble
from chungus.fleet.jobs.kinds.md import kind as md

KINDS: dict[str, JobKind] = {k.name: k for k in (md.KIND, ensemble.KIND, command.KIND, fah.KIND)}


def get(name: str) -> JobKind:
    """The kind called `name`; SpecError (param "kind") naming the known ones if none is."""
    try:
        return KINDS[name]
    except KeyError:
        known = ", ".join(sorted(KINDS))
        raise SpecError(f"unknown job kind {name!r}; known kinds: {known}", "kind") from None
