"""protollm jobs in the database: begun once per tenant and id, taken over when the lease of
the process running one ran out, stored by the holder only (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from chungus.accounts.keyinfo import KeyInfo
from chungus.batches import prompt_jobs, protollm
from chungus.batches.prompt_jobs import Stored

ALICE = KeyInfo(id=1, name="alice-1", owner_id=None)
ALICE_TOO = KeyInfo(id=2, name="alice-2", owner_id=None)
JOB = protollm.parse_job({"job_id": "j", "meta": {}, "content": "Hi"}, protollm.GENERATE)
pytestmark = pytest.mark.django_db


@pytest.fixture
def owned(django_user_model):
    user = django_user_model.objects.create_user("alice", password="pw-alice-long-enough")
    return KeyInfo(id=3, name="a", owner_id=user.id), KeyInfo(id=4, name="b", owner_id=user.id)


def test_a_job_runs_once_and_then_answers_what_was_stored():
    assert prompt_jobs.begin(ALICE, JOB, "m", "p1", 60, 1000.0) == ("run", None)
    assert prompt_jobs.begin(ALICE, JOB, "m", "p2", 60, 1001.0) == ("wait", None)
    prompt_jobs.finish(ALICE, "j", "p1", "hello", None)
    done = Stored(protollm.COMPLETED, "hello", None)
    assert prompt_jobs.begin(ALICE, JOB, "m", "p2", 60, 1002.0) == ("done", done)
    assert prompt_jobs.lookup(ALICE, "j") == done


def test_a_job_whose_holder_died_is_taken_over_and_only_the_new_holder_stores_it():
    prompt_jobs.begin(ALICE, JOB, "m", "dead", 60, 1000.0)
    assert prompt_jobs.begin(ALICE, JOB, "m", "next", 60, 1061.0) == ("run", None)
    prompt_jobs.finish(ALICE, "j", "dead", "late", None)  # it was not dead after all
    assert prompt_jobs.lookup(ALICE, "j") == Stored(protollm.IN_PROGRESS, None, None)
    prompt_jobs.renew(ALICE, "j", "next", 60, 1100.0)
    assert prompt_jobs.begin(ALICE, JOB, "m", "third", 60, 1150.0) == ("wait", None)
    error = {"type": "ValidationError", "msg": "no", "status": 400}
    prompt_jobs.finish(ALICE, "j", "next", None, error)
    assert prompt_jobs.lookup(ALICE, "j") == Stored(protollm.ERROR, None, error)


def test_a_job_that_did_not_run_is_forgotten():
    prompt_jobs.begin(ALICE, JOB, "m", "p1", 60, 1000.0)
    prompt_jobs.release(ALICE, "j", "p1")
    assert prompt_jobs.lookup(ALICE, "j") is None
    assert prompt_jobs.begin(ALICE, JOB, "m", "p1", 60, 1001.0) == ("run", None)


def test_job_ids_are_the_tenants_an_owners_keys_share_theirs(owned):
    first, second = owned
    prompt_jobs.begin(first, JOB, "m", "p1", 60, 1000.0)
    prompt_jobs.finish(first, "j", "p1", "x", None)
    assert prompt_jobs.lookup(second, "j") == Stored(protollm.COMPLETED, "x", None)
    assert prompt_jobs.lookup(ALICE, "j") is None  # an operator's key is a tenant of its own
    assert prompt_jobs.lookup(ALICE_TOO, "j") is None
    assert prompt_jobs.begin(ALICE, JOB, "m", "p1", 60, 1000.0) == ("run", None)
