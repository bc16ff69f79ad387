"""chungus batches list|show|cancel: every tenant's batches for the operator, through the
same checks the API applies."""

from __future__ import annotations

import io
import json

import orjson
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import batches, files
from chungus.batches.models import Batch, BatchStatus
from chungus.core.models import AuditEntry


def submit(key: KeyInfo) -> str:
    body = {"model": "gemma", "messages": [{"role": "user", "content": "hi"}]}
    line = {"custom_id": "one", "method": "POST", "url": "/v1/chat/completions", "body": body}
    uploaded = files.store(key, "in.jsonl", "batch", io.BytesIO(orjson.dumps(line) + b"\n"))
    request = {"input_file_id": uploaded["id"], "endpoint": "/v1/chat/completions"}
    return str(batches.create(key, request, lambda name: None, 100)["id"])


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("batches", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_the_operator_lists_shows_and_cancels_a_tenants_batch(tmp_path, settings):
    settings.CHUNGUS_FILES_DIR = tmp_path
    batch_id = submit(KeyInfo(id=41, name="someone's"))
    assert batch_id in run("list") and "in_progress" in run("list", "--status", "in_progress")
    assert run("list", "--status", "completed").strip() == "No batches."
    assert json.loads(run("show", batch_id))["id"] == batch_id
    assert "cancelling" in run("cancel", batch_id)
    assert Batch.objects.get(pk=batch_id).status == BatchStatus.CANCELLING
    assert AuditEntry.objects.filter(action="batch.cancel", target=batch_id).exists()


@pytest.mark.django_db
def test_an_unknown_batch_is_a_clear_error():
    with pytest.raises(CommandError, match="No such batch"):
        run("show", "batch_nope")
