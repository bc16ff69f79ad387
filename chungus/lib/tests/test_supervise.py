"""Supervised loops restart after an exception, and /readyz learns of dead or stuck ones."""

import asyncio

from chungus.lib.supervise import Loop, Loops, LoopStatus, backoff_delay, beat, verdict


async def wait_for(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_loop_that_raises_is_restarted_and_its_beats_say_it_recovered():
    runs = []

    async def flaky():
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("database went away")
        while True:
            beat()
            await asyncio.sleep(0.01)

    loops = Loops(base=0.01, cap=0.02)
    loops.start([Loop("flaky", flaky, stale_after=5)])
    try:
        await wait_for(lambda: loops.statuses["flaky"].last_beat is not None)
        report = loops.report()["flaky"]
        assert report["state"] == "ok" and report["restarts"] == 2
        assert report["last_error"] == "RuntimeError"  # the kind only: /readyz is public
        assert loops.healthy()
    finally:
        await loops.stop()


async def test_a_loop_that_keeps_failing_is_reported_dead():
    async def broken():
        raise RuntimeError("no")

    loops = Loops(base=0.01, cap=0.01)
    loops.start([Loop("broken", broken)])
    try:
        await wait_for(lambda: loops.statuses["broken"].restarts >= 4)
        await wait_for(lambda: loops.report()["broken"]["state"] == "dead")
        assert not loops.healthy()
    finally:
        await loops.stop()


async def test_a_loop_that_stops_beating_is_reported_stuck():
    async def hangs():
        beat()
        await asyncio.Event().wait()  # e.g. a database call that never returns

    loops = Loops()
    loops.start([Loop("hangs", hangs, stale_after=0.1)])
    try:
        await wait_for(lambda: loops.report()["hangs"]["state"] == "stuck")
        assert not loops.healthy()
    finally:
        await loops.stop()


async def test_each_loop_beats_its_own_heartbeat():
    async def quiet():
        await asyncio.Event().wait()

    async def busy():
        while True:
            beat()
            await asyncio.sleep(0.01)

    loops = Loops()
    loops.start([Loop("quiet", quiet, 60), Loop("busy", busy, 60)])
    try:
        await wait_for(lambda: loops.statuses["busy"].last_beat is not None)
        assert loops.statuses["quiet"].last_beat is None
    finally:
        await loops.stop()


def test_beating_outside_a_supervised_loop_does_nothing():
    beat()


def test_verdicts():
    status = LoopStatus("x", stale_after=10, started=100.0)
    assert verdict(status, 105.0) == "ok"
    assert verdict(status, 111.0) == "stuck"
    status.beat(now=110.0)
    assert verdict(status, 111.0) == "ok"
    status.waiting, status.failures = True, 1
    assert verdict(status, 111.0) == "restarting"
    status.failures = 3
    assert verdict(status, 111.0) == "dead"
    status.waiting, status.ended = False, True
    assert verdict(status, 111.0) == "dead"


def test_backoff_doubles_up_to_its_cap():
    assert [backoff_delay(n, 1.0, 5.0) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
