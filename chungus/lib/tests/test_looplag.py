"""The loop-lag probe sees a blocking call on the event loop."""

import asyncio
import time

from chungus.lib.looplag import LoopLag, percentile


def test_percentile_is_nearest_rank():
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile([], 0.99) == 0.0


async def wait_samples(probe, count):
    while len(probe.samples) < count:
        await asyncio.sleep(0.01)


async def test_a_blocking_call_on_the_loop_shows_as_lag():
    probe = LoopLag(interval=0.01)
    task = asyncio.create_task(probe.run())
    try:
        await wait_samples(probe, 3)
        time.sleep(0.2)  # what the probe exists to catch: a blocking call on the loop
        await wait_samples(probe, 6)
        assert probe.max_ms() >= 150
        report = probe.report()
        assert report["lag_max_ms"] >= 150 and report["samples"] >= 6
    finally:
        task.cancel()


async def test_work_in_a_thread_does_not_show_as_lag():
    probe = LoopLag(interval=0.01)
    task = asyncio.create_task(probe.run())
    try:
        await asyncio.to_thread(time.sleep, 0.2)
        await wait_samples(probe, 5)
        assert probe.max_ms() < 150
    finally:
        task.cancel()
