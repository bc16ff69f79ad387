"""Two CHUNGUS processes on one PostgreSQL database share one rate limit through Redis."""

import os
import uuid

import httpx
import psycopg

REDIS = os.environ.get("CHUNGUS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SAY = [{"role": "user", "content": "hi"}]


def test_two_processes_on_postgres_enforce_one_limit_and_log_every_request(
    tmp_path, postgres_url, llama, fake_engine
):
    from chungus.testing.processes import chungus_instance

    env = {"DATABASE_URL": postgres_url, "REDIS_URL": REDIS}
    first = chungus_instance(tmp_path / "a", **env)
    second = chungus_instance(tmp_path / "b", **env)
    first.cli("models", "add", "gemma", "--url", f"{llama.url}/v1")
    first.cli("models", "add", "fake-ok", "--url", fake_engine, "--upstream-model", "fake")
    key = first.create_key(f"shared-{uuid.uuid4().hex[:6]}", "--rpm", "3")
    first.start("--no-default-model")
    second.start("--no-default-model")
    try:
        statuses = []
        for instance in (first, second, first, second):
            response = httpx.post(
                f"{instance.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {key}"},
                json={"model": "fake-ok", "messages": SAY},
                timeout=30,
            )
            statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 429]
        answer = httpx.post(
            f"{second.url}/v1/chat/completions",
            headers={"Authorization": f"Bearer {second.create_key('other')}"},
            json={"model": "gemma", "messages": SAY, "max_tokens": 4},
            timeout=60,
        )
        assert answer.status_code == 200, "a key made through one process works on the other"
    finally:
        first.stop()
        second.stop()
    with psycopg.connect(postgres_url) as db:
        rows = db.execute(
            "select status, count(*) from gateway_requestlog group by status"
        ).fetchall()
    assert dict(rows) == {200: 4, 429: 1}
