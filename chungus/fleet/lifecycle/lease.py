"""A lease in the database: one holder at a time for a control loop, taken over when it lapses."""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chungus.fleet.models import Lease
from chungus.lib.dbthreads import refresh_connections


def holder_id() -> str:
    """This process, as a lease holder."""
    return f"{socket.gethostname()}:{os.getpid()}"


def try_acquire(name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew the lease; False while another holder's lease is still valid."""
    refresh_connections()  # called from pool threads: a database restart must not stick
    now = timezone.now()
    expires = now + timedelta(seconds=ttl_seconds)
    # One conditional UPDATE: atomic on SQLite and PostgreSQL alike.
    mine = Q(holder=holder) | Q(expires_at__lt=now)
    if Lease.objects.filter(mine, name=name).update(holder=holder, expires_at=expires):
        return True
    try:
        with transaction.atomic():
            Lease.objects.create(name=name, holder=holder, expires_at=expires)
    except IntegrityError:
        return False  # someone else holds it
    return True


def release(name: str, holder: str) -> None:
    """Give the lease up at once (on clean shutdown), so another process need not wait."""
    Lease.objects.filter(name=name, holder=holder).update(expires_at=timezone.now())
