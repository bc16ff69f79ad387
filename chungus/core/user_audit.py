"""Users made or changed outside Django's admin are audited too: at the command line
(`chungus createsuperuser`, `changepassword`, `shell`) or by code. A row for each user made,
each new password, each change of is_active, is_staff or is_superuser, and each change of
groups; never a password or its hash.

A row is written when its change commits: a change rolled back is not audited, and one made in
the admin, whose add and change pages save and write their LogEntry in one transaction, is
known by then. That one is left to the admin's own row (chungus.core.audit.from_admin_log),
which names the admin who made it; the admin's password page, which logs after it saves, is
handled there.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.utils import timezone

from chungus.core.audit import Actor, audit, process_actor

FLAGS = ("is_active", "is_staff", "is_superuser")
WATCHED = frozenset({"password", *FLAGS})
# Kept on the instance between two signals: its watched fields as stored (pre_save to
# post_save), and what a clear() removes (pre_clear to post_clear).
BEFORE = "_chungus_audit_before"
CLEARED = "_chungus_audit_cleared"

Change = tuple[str, dict[str, Any]]


def user_changes(before: dict[str, Any], after: dict[str, Any], rehashed: bool) -> list[Change]:
    """The audited changes between a user's watched fields as stored and as saved (`rehashed`:
    the password's hash was only upgraded, as a sign-in does)."""
    changes: list[Change] = []
    flags = {name: after[name] for name in FLAGS if before[name] != after[name]}
    if flags:
        changes.append(("user.update", flags))
    if before["password"] != after["password"] and not rehashed:
        changes.append(("user.password", {"usable": is_password_usable(after["password"])}))
    return changes


def before_user_save(
    sender: Any, instance: Any, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if raw or instance._state.adding or (update_fields is not None and not WATCHED & update_fields):
        return  # a sign-in writes only last_login
    stored = sender._default_manager.filter(pk=instance.pk).values(*WATCHED).first()
    instance.__dict__[BEFORE] = stored


def after_user_save(
    sender: Any,
    instance: Any,
    created: bool,
    raw: bool = False,
    update_fields: Any = None,
    **kwargs: Any,
) -> None:
    if raw:
        return
    if created:
        flags = {name: getattr(instance, name) for name in FLAGS}
        _write_at_commit(instance, ("user.create", flags))
        return
    before = instance.__dict__.pop(BEFORE, None)
    if before is None:
        return
    # Django's own hash upgrade saves only the password, with no new password set
    # (AbstractBaseUser.check_password).
    rehashed = update_fields == {"password"} and getattr(instance, "_password", None) is None
    after = {name: getattr(instance, name) for name in WATCHED}
    for change in user_changes(before, after, rehashed):
        _write_at_commit(instance, change)


def membership_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """user.groups.add/remove/clear/set(), or group.user_set's (`reverse`)."""
    if action == "pre_clear":
        related = instance.user_set if reverse else instance.groups
        instance.__dict__[CLEARED] = set(related.values_list("pk", flat=True))
        return
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    pks = instance.__dict__.pop(CLEARED, set()) if action == "post_clear" else pk_set or set()
    if not pks:
        return
    verb = "added" if action == "post_add" else "removed"
    if reverse:
        for user in get_user_model()._default_manager.filter(pk__in=pks):
            _write_at_commit(user, ("user.groups", {verb: [instance.name]}))
    else:
        names = sorted(Group.objects.filter(pk__in=pks).values_list("name", flat=True))
        _write_at_commit(instance, ("user.groups", {verb: names}))


def _write_at_commit(user: Any, change: Change) -> None:
    action, detail = change
    write = partial(
        _write_unless_the_admin_logged_it, user.pk, f"user:{user.get_username()}", action, detail,
        process_actor(), timezone.now(),
    )  # fmt: skip
    transaction.on_commit(write, robust=True)


def _write_unless_the_admin_logged_it(
    pk: Any, target: str, action: str, detail: dict[str, Any], actor: Actor, since: Any
) -> None:
    logged = LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(get_user_model()),
        object_id=str(pk),
        action_time__gte=since,
    )
    if not logged.exists():
        audit(actor, action, target, detail)


def connect() -> None:
    """Connect the receivers (once: each has a dispatch_uid)."""
    user = get_user_model()
    pre_save.connect(before_user_save, sender=user, dispatch_uid="audit-user-before-save")
    post_save.connect(after_user_save, sender=user, dispatch_uid="audit-user-save")
    m2m_changed.connect(
        membership_changed, sender=user.groups.through, dispatch_uid="audit-user-groups"
    )
