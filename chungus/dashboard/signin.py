"""Signing in: operators land on the dashboard, everyone else on their own keys; too many
failures for one username or from one address are answered 429 for a while."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse

from chungus.accounts import loginguard

View = Callable[..., HttpResponseBase]


def throttle_logins(view: View) -> View:
    """Refuse a sign-in POST with 429 while its username or address is throttled."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "POST":
            ip = loginguard.client_ip(request)
            wait = loginguard.wait_for(ip, request.POST.get("username", ""))
            if wait:
                context = {"minutes": max(1, round(wait / 60))}
                response = render(request, "registration/throttled.html", context, status=429)
                response["Retry-After"] = str(wait)
                return response
        return view(request, *args, **kwargs)

    return wrapped


class SignInView(LoginView):
    """Django's sign-in form, sending each user where they work."""

    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("dashboard" if self.request.user.is_superuser else "own-keys")
