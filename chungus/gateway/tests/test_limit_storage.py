"""Redis stopped: limits are counted per process, with one warning, and shared again once
Redis is back (a private redis-server of this test's own, stopped and started by it)."""

import logging
import subprocess
import uuid

import pytest
import redis

from chungus.accounts.keyinfo import KeyInfo
from chungus.core.routes import BackendInfo, ModelInfo
from chungus.fleet.launchers.local import free_port
from chungus.gateway.limit_storage import FallbackStorage, limit_windows
from chungus.gateway.ratelimit import RateLimiter, make_storage
from chungus.gateway.windows import LocalWindows, SharedWindows
from chungus.lib.openai_errors import RateLimited
from chungus.testing.inprocess import asgi_client, in_process_gateway
from chungus.testing.recording_engine import serving
from chungus.testing.waiting import wait_for


class PrivateRedis:
    """A redis-server on a free port that keeps nothing on disk."""

    def __init__(self, directory):
        self.directory, self.port = directory, free_port()
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.answers, "the private redis-server answers")

    def answers(self):
        try:
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        except redis.ConnectionError:
            return False

    def keys(self):
        return redis.Redis.from_url(self.url).keys("*")

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def warnings_about_redis(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING and "Redis" in r.message]


async def test_with_redis_stopped_limits_are_per_process_and_shared_again_when_it_returns(
    own_redis, caplog
):
    caplog.set_level(logging.INFO, "chungus.gateway")
    clock = Clock()
    storage = FallbackStorage(make_storage(own_redis.url), probe_seconds=5, clock=clock)
    limiter = RateLimiter(SharedWindows(storage, namespace=f"test-{uuid.uuid4()}"))
    await limiter.admit(KeyInfo(id=1, name="k", rpm=100))
    assert own_redis.keys(), "the count is shared through Redis"

    own_redis.stop()
    for _ in range(5):
        await limiter.admit(KeyInfo(id=1, name="k", rpm=100))
    async with serving("engine-secret") as url:
        engine = ModelInfo("recorded", (BackendInfo(1, url, api_key="engine-secret"),))
        gateway = in_process_gateway([engine], {"sk-redis-test": KeyInfo(id=4, name="k4", rpm=3)})
        gateway.limiter = limiter
        await gateway.upstream.start()
        try:
            async with asgi_client(gateway) as client:
                body = {"model": "recorded", "messages": [{"role": "user", "content": "hi"}]}
                headers = {"Authorization": "Bearer sk-redis-test"}
                answers = [
                    (await client.post("/v1/chat/completions", json=body, headers=headers))
                    for _ in range(4)
                ]
        finally:
            await gateway.upstream.close()
    assert [a.status_code for a in answers] == [200, 200, 200, 429], "served, and still limited"
    assert storage.down
    assert len(warnings_about_redis(caplog)) == 1, "one warning, not one per request"
    limited = KeyInfo(id=2, name="limited", rpm=3)
    for _ in range(3):
        await limiter.admit(limited)
    with pytest.raises(RateLimited):
        await limiter.admit(limited)  # this process still enforces the limit on its own

    own_redis.start()
    assert not own_redis.keys()
    await limiter.admit(KeyInfo(id=3, name="k3", rpm=100))
    assert not own_redis.keys(), "Redis is asked again only after probe_seconds"
    clock.now += 5
    await limiter.admit(KeyInfo(id=3, name="k3", rpm=100))
    assert not storage.down
    assert own_redis.keys(), "the shared counts resumed"
    assert any("reachable again" in r.message for r in caplog.records)


def test_only_a_redis_url_gets_shared_counters_with_the_fallback():
    assert isinstance(limit_windows(""), LocalWindows)
    shared = limit_windows("redis://127.0.0.1:1/0")
    assert isinstance(shared, SharedWindows)
    assert isinstance(shared.storage, FallbackStorage)
