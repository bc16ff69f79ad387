"""What the Batches page shows: the batches a user may see, each with its owner, progress
and ETA. Who sees what is the Jobs page's rule: a superuser everyone's, a user their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from chungus.accounts.models import ApiKey
from chungus.batches.batches import CANCELLABLE
from chungus.batches.models import Batch, BatchStatus
from chungus.dashboard.batch_progress import UNKNOWN, duration_words, eta_seconds, fraction

LIST_LIMIT = 200  # newest first; older batches stay reachable through the API and the CLI


def visible_batches(user: Any) -> QuerySet[Batch]:
    """Newest first: every tenant's for a superuser, else those the user owns."""
    rows = Batch.objects.select_related("owner").order_by("-created_at", "-id")
    return rows if user.is_superuser else rows.filter(owner=user)


def find(user: Any, batch_id: str) -> Batch | None:
    """The batch if `user` may see it; None alike for a missing one and someone else's."""
    return visible_batches(user).filter(pk=batch_id).first()


@dataclass(frozen=True, slots=True)
class BatchRow:
    """A batch as the page shows it, as of `now`."""

    batch: Batch
    owner_name: str
    now: datetime

    @property
    def done(self) -> int:
        return self.batch.completed + self.batch.failed

    @property
    def percent(self) -> float:
        return round(fraction(self.batch.total, self.done) * 100, 1)

    @property
    def eta(self) -> str:
        """Time left at its rate since it began to run; "—" unless it is running."""
        batch = self.batch
        if batch.status != BatchStatus.IN_PROGRESS or batch.in_progress_at is None:
            return UNKNOWN
        elapsed = (self.now - batch.in_progress_at).total_seconds()
        return duration_words(eta_seconds(batch.total, self.done, elapsed))

    @property
    def cancellable(self) -> bool:
        return self.batch.status in CANCELLABLE


def batch_rows(user: Any, now: datetime) -> tuple[list[BatchRow], int]:
    """The newest batches `user` may see, and how many they may see in all."""
    rows = visible_batches(user)
    found = list(rows[:LIST_LIMIT])
    key_ids = {b.api_key_id for b in found if b.owner_id is None}
    key_names = dict(ApiKey.objects.filter(pk__in=key_ids).values_list("pk", "name"))
    return [BatchRow(b, _owner_name(b, key_names), now) for b in found], rows.count()


def _owner_name(batch: Batch, key_names: dict[int, str]) -> str:
    """The owner's username; for an operator's key (no owner), that key's name."""
    if batch.owner is not None:
        return batch.owner.get_username()
    return key_names.get(batch.api_key_id, f"key #{batch.api_key_id}")
