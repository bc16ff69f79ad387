"""The Folding@Home page: which GPUs fold for Folding@Home now, for how long, and each
GPU's time folded (operators only; the setting is changed with `chungus fah`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from chungus.dashboard.access import superuser_required
from chungus.fleet.fah import status


@superuser_required
def fah(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/fah.html", {"fah": status.status()})
