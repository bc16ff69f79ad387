"""The audit log: `audit(actor, action, target, detail)` writes one row per management action.

Callers are the service layer (chungus.api.services, jobs_services), the CLI commands, the
dashboard's own-key views, Django's admin (through its LogEntry, see `from_admin_log`) and,
for users changed anywhere else, chungus.core.user_audit.
Details are bounded and never hold secrets: keys whose name says secret are dropped.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from chungus.core.models import AuditEntry

MAX_TEXT = 200
MAX_DETAIL_FIELDS = 20
SECRET_WORDS = ("secret", "password", "key_hash", "api_key", "token")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, and through what."""

    name: str
    via: str
    ip: str = ""


def actor_of(request: Any) -> Actor:
    """The actor of a request: the user the API's auth found (request.auth), else the session's."""
    auth = getattr(request, "auth", None)
    user = auth if auth is not None else getattr(request, "user", None)
    name = user.get_username() if user is not None and user.is_authenticated else "anonymous"
    bearer = request.headers.get("Authorization", "").lower().startswith("bearer ")
    via = "api-key" if auth is not None and bearer else "session"
    return Actor(name=name, via=via, ip=str(request.META.get("REMOTE_ADDR") or "")[:45])


def cli_actor() -> Actor:
    """The operator at the command line, by their login name on this host."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Actor(name=f"cli:{who}", via="cli")


CODE = Actor(name="system", via="code")
# Long-running commands whose changes come from requests, not from the operator who started them.
SERVING_COMMANDS = frozenset({"serve"})


def process_actor(argv: Sequence[str] | None = None) -> Actor:
    """Who acts outside a request: the operator at the command line in a `chungus` command
    (createsuperuser, changepassword, shell), else code (`system`)."""
    args = sys.argv if argv is None else argv
    command = args[1] if len(args) > 1 and Path(args[0]).name in ("chungus", "cli.py") else ""
    return cli_actor() if command and command not in SERVING_COMMANDS else CODE


def _bounded(value: Any) -> Any:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_bounded(v) for v in value[:MAX_DETAIL_FIELDS]]
    return str(value)[:MAX_TEXT]


def clean_detail(detail: dict[str, Any] | None) -> dict[str, Any]:
    """Bounded, secret-free detail: at most MAX_DETAIL_FIELDS fields of bounded values."""
    kept: dict[str, Any] = {}
    for field, value in (detail or {}).items():
        if any(word in str(field).lower() for word in SECRET_WORDS):
            continue
        kept[str(field)[:50]] = _bounded(value)
        if len(kept) >= MAX_DETAIL_FIELDS:
            break
    return kept


def audit(
    actor: Actor, action: str, target: str = "", detail: dict[str, Any] | None = None
) -> AuditEntry:
    """Write one audit row."""
    return AuditEntry.objects.create(
        actor=actor.name[:150],
        via=actor.via[:20],
        ip=actor.ip[:45],
        action=action[:50],
        target=str(target)[:MAX_TEXT],
        detail=clean_detail(detail),
    )


ADMIN_ACTIONS = {1: "added", 2: "changed", 3: "deleted"}
ADMIN_CHANGED = 2
# The admin's password page saves the user, outside a transaction, and logs after: the row
# chungus.core.user_audit wrote as code a moment before is the admin's. It takes the admin's
# name instead of a second row. (The add and change pages log in the transaction that saves,
# and user_audit, which writes at commit, then leaves their change to the admin's row.)
PASSWORD_PAGE_CHANGE = '[{"changed": {"fields": ["password"]}}]'
TAKE_OVER_WITHIN = timedelta(seconds=5)


def from_admin_log(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Copy each of Django admin's LogEntry rows (users, keys, models… changed there)."""
    if not created:
        return
    kind = instance.content_type.model if instance.content_type_id else "object"
    actor = Actor(name=instance.user.get_username(), via="admin")
    target = f"{kind}:{instance.object_repr}"
    if _password_row_taken_over(actor, kind, target, instance):
        return
    audit(
        actor,
        f"{kind}.{ADMIN_ACTIONS.get(instance.action_flag, 'changed')}",
        target,
        {"change": instance.get_change_message()},
    )


def _password_row_taken_over(actor: Actor, kind: str, target: str, entry: Any) -> bool:
    page = (kind, entry.action_flag, entry.change_message)
    if page != ("user", ADMIN_CHANGED, PASSWORD_PAGE_CHANGE):
        return False
    written = AuditEntry.objects.filter(
        via=CODE.via, target=target[:MAX_TEXT], action="user.password",
        at__gte=entry.action_time - TAKE_OVER_WITHIN,
    )  # fmt: skip
    return written.update(actor=actor.name[:150], via=actor.via) > 0
