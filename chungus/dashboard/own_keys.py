"""A signed-in user's own keys page: list with usage, create (secret shown once), revoke."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from chungus.accounts.models import ApiKey, UserQuota
from chungus.accounts.ownkeys import (
    QuotaExceeded,
    active_key_count,
    issue_own_key,
    issue_playground_key,
)
from chungus.core.audit import actor_of, audit
from chungus.dashboard.forms import OwnKeyForm
from chungus.telemetry.usage import Usage, key_usage


@dataclass(frozen=True, slots=True)
class OwnKey:
    key: ApiKey
    requests: int
    tokens: int


def own_keys(user: User) -> list[OwnKey]:
    """Return the user's keys, newest first, with their requests and tokens of about 24 h."""
    keys = list(ApiKey.objects.filter(owner=user).order_by("-created_at"))
    usage = key_usage(k.id for k in keys)
    rows = []
    for key in keys:
        used = usage.get(key.id, Usage())
        rows.append(OwnKey(key, used.requests, used.tokens))
    return rows


def signed_in(request: HttpRequest) -> User:
    """The request's user, on views that `login_required` guards."""
    assert isinstance(request.user, User)
    return request.user


@never_cache
@login_required
def keys(request: HttpRequest) -> HttpResponse:
    user = signed_in(request)
    quota = UserQuota.for_user(user)
    form = OwnKeyForm(request.POST or None, quota=quota, active_keys=active_key_count(user))
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = issue_own_key(user, quota, **form.cleaned_data)
        except QuotaExceeded as exc:
            form.add_error(None, str(exc))
        else:
            audit(actor_of(request), "key.create", issued[0].name, {"prefix": issued[0].prefix})
            form = OwnKeyForm(quota=quota, active_keys=active_key_count(user))
    context = {"form": form, "quota": quota, "rows": own_keys(user), "issued": issued}
    return render(request, "accounts/keys.html", context)


@login_required
@require_POST
def revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    # Someone else's key is a 404, exactly like a key that does not exist.
    key = get_object_or_404(ApiKey, pk=key_id, owner=signed_in(request))
    if key.is_active:
        key.revoke()
        audit(actor_of(request), "key.revoke", key.name, {"prefix": key.prefix})
        messages.success(request, f"Revoked {key.name}.")
    return redirect("own-keys")


@never_cache
@login_required
@require_POST
def playground_key(request: HttpRequest) -> JsonResponse:
    """Issue a key for the playground to keep in the browser (JSON, for fetch): an inference
    key that expires with the session (CHUNGUS_PLAYGROUND_KEY_SECONDS at most) and is revoked
    at sign-out."""
    ttl = min(request.session.get_expiry_age(), settings.CHUNGUS_PLAYGROUND_KEY_SECONDS)
    try:
        key, secret = issue_playground_key(
            signed_in(request), timezone.now() + timedelta(seconds=ttl)
        )
    except QuotaExceeded as exc:
        return JsonResponse({"error": str(exc)}, status=403)
    audit(actor_of(request), "key.create", key.name, {"prefix": key.prefix, "playground": True})
    reply = {"name": key.name, "prefix": key.prefix, "secret": secret, "expires_at": key.expires_at}
    return JsonResponse(reply, status=201)
