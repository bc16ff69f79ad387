"""The request log buffer: what a batch write stores."""

from __future__ import annotations

import pytest

from chungus.gateway.models import RequestLog, RequestRollup
from chungus.gateway.requestlog import LogEntry, write_entries

pytestmark = pytest.mark.django_db


def test_a_nul_from_a_client_is_stored_as_a_replacement_character_not_a_failed_batch():
    # PostgreSQL's text cannot hold NUL: the batch, and every retry of it, would fail.
    entries = [
        LogEntry("chat/completions", 404, model="gemma\x00", prompt="hi\x00there"),
        LogEntry("chat/completions", 200, model="gemma"),
    ]
    write_entries(entries)
    rows = {row.model: row for row in RequestLog.objects.all()}
    assert set(rows) == {"gemma\ufffd", "gemma"}
    assert rows["gemma\ufffd"].prompt == "hi\ufffdthere"
    assert set(RequestRollup.objects.values_list("model", flat=True)) == {"gemma\ufffd", "gemma"}
    assert entries[0].model == "gemma\x00"  # what the caller holds is left alone
