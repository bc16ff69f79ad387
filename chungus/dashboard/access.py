"""Who may see the signed-in pages and the operator pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

View = Callable[..., HttpResponse]


def superuser_required(view: View) -> View:
    """Anonymous visitors go to the sign-in page; signed-in non-operators get a 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_superuser:
            return view(request, *args, **kwargs)
        if request.headers.get("HX-Request"):
            # A live table whose session ended: reload the whole page, which then says why,
            # rather than swapping a sign-in form into the table.
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return render(request, "chungus/forbidden.html", status=403)

    return wrapped


def signed_in_required(view: View) -> View:
    """Anonymous visitors go to the sign-in page; a live table whose session ended reloads."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.headers.get("HX-Request"):
            return HttpResponse(status=204, headers={"HX-Refresh": "true"})
        return redirect_to_login(request.get_full_path())

    return wrapped
