"""Acting on a batch for someone allowed to see it (the operator at the command line, a
signed-in user on the dashboard): as its own key, so through the API's own checks, audited."""

from __future__ import annotations

from typing import Any

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import batches
from chungus.batches.models import Batch
from chungus.core.audit import Actor, audit


def as_its_key(row: Batch) -> KeyInfo:
    """The batch's own tenant, so whoever acts meets the same checks a caller meets."""
    return KeyInfo(id=row.api_key_id, name="cli", owner_id=row.owner_id)


def cancel(row: Batch, actor: Actor) -> dict[str, Any]:
    """Cancel as the API does (APIError when it may not be) and audit it as `batch.cancel`;
    the batch as the API returns it."""
    answer = batches.cancel(as_its_key(row), row.pk)
    audit(actor, "batch.cancel", row.pk, {"status": answer["status"]})
    return answer
