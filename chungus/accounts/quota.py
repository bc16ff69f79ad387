"""What a user may give their own keys: a pure decision, no Django."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quota:
    """An operator's limits on the keys one user issues for themselves."""

    max_keys: int
    max_rpm: int
    max_tpm: int


DEFAULT_QUOTA = Quota(max_keys=5, max_rpm=60, max_tpm=100_000)


def new_key_problems(quota: Quota, active_keys: int, rpm: int | None, tpm: int | None) -> list[str]:
    """Return why a user may not create a key with these limits (empty: they may)."""
    problems = []
    if active_keys >= quota.max_keys:
        problems.append(
            f"You have {active_keys} active keys, the most you may hold is {quota.max_keys}. "
            "Revoke one first."
        )
    if rpm is not None and rpm > quota.max_rpm:
        problems.append(f"At most {quota.max_rpm} requests per minute per key.")
    if tpm is not None and tpm > quota.max_tpm:
        problems.append(f"At most {quota.max_tpm} tokens per minute per key.")
    return problems


def capped_limits(quota: Quota, rpm: int | None, tpm: int | None) -> tuple[int, int]:
    """Return the limits a user's key gets: what they asked for, else their maximum."""
    return (rpm or quota.max_rpm, tpm or quota.max_tpm)
