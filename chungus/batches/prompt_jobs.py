"""protollm jobs in the database: begun once per tenant and job id, finished by the process
that holds the lease, looked up by their id (blocking: call off the event loop)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from django.db import IntegrityError, transaction
from django.utils import timezone

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches.models import ProtollmJob
from chungus.batches.protollm import COMPLETED, ERROR, IN_PROGRESS, PromptJob

Begun = Literal["run", "wait", "done"]


@dataclass(frozen=True, slots=True)
class Stored:
    status: str
    result: str | None
    error: dict[str, Any] | None


def tenant_of(key: KeyInfo) -> str:
    """The tenant a key's job ids belong to: its owner's, or an operator's key's own (pure)."""
    return f"user:{key.owner_id}" if key.owner_id is not None else f"key:{key.id}"


def _stored(row: ProtollmJob) -> Stored:
    return Stored(row.status, row.result, row.error)


def begin(
    key: KeyInfo, job: PromptJob, model: str, holder: str, lease: float, now: float
) -> tuple[Begun, Stored | None]:
    """'run' when `holder` is to run the job now (it is new, or the lease of a process that
    died ran out); 'wait' while another runs it; 'done' with what was stored."""
    tenant = tenant_of(key)
    claim = {"claimed_by": holder, "lease_until": now + lease, "status": IN_PROGRESS,
             "updated_at": timezone.now()}  # fmt: skip
    try:
        with transaction.atomic():
            row = (
                ProtollmJob.objects.select_for_update()
                .filter(tenant=tenant, job_id=job.job_id)
                .first()
            )
            if row is None:
                ProtollmJob.objects.create(
                    tenant=tenant, job_id=job.job_id, owner_id=key.owner_id,
                    api_key_id=key.id, kind=job.kind, model=model, **claim,
                )  # fmt: skip
                return "run", None
            if row.status in (COMPLETED, ERROR):
                return "done", _stored(row)
            if row.lease_until >= now:
                return "wait", None
            ProtollmJob.objects.filter(pk=row.pk).update(**claim)
            return "run", None
    except IntegrityError:  # another process created it between the read and the write
        return "wait", None


def renew(key: KeyInfo, job_id: str, holder: str, lease: float, now: float) -> None:
    ProtollmJob.objects.filter(
        tenant=tenant_of(key), job_id=job_id, claimed_by=holder, status=IN_PROGRESS
    ).update(lease_until=now + lease)


def finish(
    key: KeyInfo,
    job_id: str,
    holder: str,
    result: str | None,
    error: dict[str, Any] | None,
) -> None:
    """Store the outcome, when `holder` still holds the job (else another ran it since)."""
    ProtollmJob.objects.filter(
        tenant=tenant_of(key), job_id=job_id, claimed_by=holder, status=IN_PROGRESS
    ).update(
        status=ERROR if error else COMPLETED, result=result, error=error,
        lease_until=0.0, updated_at=timezone.now(),
    )  # fmt: skip


def release(key: KeyInfo, job_id: str, holder: str) -> None:
    """Forget a job that did not run (the key over its limit, no room): a new call runs it."""
    ProtollmJob.objects.filter(
        tenant=tenant_of(key), job_id=job_id, claimed_by=holder, status=IN_PROGRESS
    ).delete()


def lookup(key: KeyInfo, job_id: str) -> Stored | None:
    row = ProtollmJob.objects.filter(tenant=tenant_of(key), job_id=job_id).first()
    return None if row is None else _stored(row)
