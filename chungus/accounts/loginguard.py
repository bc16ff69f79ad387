"""Sign-in throttling over the database, so every CHUNGUS process sees the same failures."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from chungus.accounts.models import LoginFailure
from chungus.accounts.throttle import LoginLimits, retry_after


def limits() -> LoginLimits:
    return LoginLimits(
        per_user=settings.CHUNGUS_LOGIN_FAILURES_PER_USER,
        per_ip=settings.CHUNGUS_LOGIN_FAILURES_PER_IP,
        window_s=settings.CHUNGUS_LOGIN_WINDOW_SECONDS,
    )


def client_ip(request: HttpRequest | None) -> str:
    """The caller's address as the server saw it (uvicorn applies trusted proxy headers)."""
    if request is None:
        return ""
    return str(request.META.get("REMOTE_ADDR") or "")[:45]


def normal_username(username: object) -> str:
    return str(username or "").strip().lower()[:150]


def wait_for(ip: str, username: str) -> int:
    """Seconds before this address may try this username again (0: now)."""
    rules = limits()
    since = timezone.now() - timedelta(seconds=rules.window_s)
    recent = LoginFailure.objects.filter(at__gt=since)
    by_user = recent.filter(username=normal_username(username)).values_list("at", flat=True)
    by_ip = recent.filter(ip=ip).values_list("at", flat=True)
    return retry_after(
        [t.timestamp() for t in by_user],
        [t.timestamp() for t in by_ip],
        rules,
        timezone.now().timestamp(),
    )


def record_failure(ip: str, username: str) -> None:
    """Remember a failed sign-in; forget those older than the window."""
    now = timezone.now()
    LoginFailure.objects.filter(at__lte=now - timedelta(seconds=limits().window_s)).delete()
    LoginFailure.objects.create(ip=ip, username=normal_username(username), at=now)


def forget_failures(username: str) -> None:
    """A successful sign-in clears the username's failures (not the address's)."""
    LoginFailure.objects.filter(username=normal_username(username)).delete()
