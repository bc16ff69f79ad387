"""The keeper's decision: how many client jobs, which to cancel, when to wait (pure)."""

from chungus.fleet.fah.plan import BACKOFF_SECONDS, ClientJob, Plan, Want, plan

SPEC = {"user": "ada", "team": 7, "passkey_env": "FAH_PASSKEY"}
ON = Want(True, SPEC, None)


def job(job_id, state="running", spec=SPEC):
    return ClientJob(job_id, state, spec)


def test_it_wants_one_client_per_gpu_when_enabled():
    assert plan(ON, 4, [], None) == Plan(create=4)
    assert plan(ON, 4, [job(1), job(2, "queued")], None) == Plan(create=2)


def test_the_operators_limit_caps_the_clients_below_the_gpus_here():
    assert plan(Want(True, SPEC, 2), 4, [], None) == Plan(create=2)
    assert plan(Want(True, SPEC, 9), 4, [], None) == Plan(create=4)


def test_disabled_it_cancels_every_live_client():
    off = Want(False, SPEC, None)
    assert plan(off, 2, [job(1), job(2, "queued")], None) == Plan(cancel=[1, 2])
    assert plan(off, 2, [], 5.0) == Plan()


def test_a_client_started_with_an_older_setting_is_replaced():
    old = {**SPEC, "team": 1}
    assert plan(ON, 2, [job(1, spec=old), job(2)], None) == Plan(create=1, cancel=[1])


def test_the_surplus_goes_queued_ones_first_then_the_newest():
    live = [job(1), job(2), job(3, "queued"), job(4)]
    assert plan(Want(True, SPEC, 2), 4, live, None).cancel == [3, 4]


def test_after_a_client_ended_by_itself_it_waits_before_creating_more():
    waiting = plan(ON, 2, [job(1)], 10.0)
    assert (waiting.create, waiting.cancel) == (0, [])
    assert waiting.waiting.startswith("a client ended by itself 10 s ago; trying again in 50 s")
    assert plan(ON, 2, [job(1)], BACKOFF_SECONDS + 1).create == 1
