"""The Batches page (OpenAI Batch API batches): owners see their own, superusers everyone's.

Someone else's batch answers 404, as a missing one does; cancelling goes through the API's
own checks as the batch's key, audited as the CLI's is (chungus.batches.on_behalf).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from chungus.batches import on_behalf
from chungus.core.audit import actor_of
from chungus.dashboard import batch_pages
from chungus.dashboard.access import signed_in_required
from chungus.lib.openai_errors import APIError


def _list_context(request: HttpRequest) -> dict[str, Any]:
    rows, total = batch_pages.batch_rows(request.user, timezone.now())
    return {"rows": rows, "total": total, "everyone": request.user.is_superuser}


@require_GET
@signed_in_required
def batches(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/batches.html", _list_context(request))


@require_GET
@signed_in_required
def batches_table(request: HttpRequest) -> HttpResponse:
    """The batch table alone, for htmx to refresh."""
    return render(request, "dashboard/_batches_table.html", _list_context(request))


@require_POST
@signed_in_required
def batch_cancel(request: HttpRequest, batch_id: str) -> HttpResponse:
    """Cancel (CSRF-checked by Django's middleware like every POST)."""
    row = batch_pages.find(request.user, batch_id)
    if row is None:
        raise Http404(f"no batch {batch_id[:80]}")
    try:
        answer = on_behalf.cancel(row, actor_of(request))
    except APIError as error:  # it ended meanwhile
        messages.error(request, f"Batch {row.pk}: {error.message}")
    else:
        messages.success(request, f"Batch {row.pk} is {answer['status']}.")
    return redirect("batches")
