"""PostgreSQL restarted under traffic: nothing answered is lost from the request log, and
configuration changes (a revoked key) reach the data plane again once it is back."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import openai
import psycopg
import pytest

from chungus.testing.postgres import PrivatePostgres, private_postgres
from chungus.testing.processes import chungus_instance

SAY: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def cluster():
    cluster = private_postgres()
    yield cluster
    cluster.remove()


def logged(cluster: PrivatePostgres, key_name: str) -> int:
    with psycopg.connect(cluster.url) as db:
        query = "select count(*) from gateway_requestlog where key_name = %s"
        row = db.execute(query, (key_name,)).fetchone()
    return int(row[0]) if row else 0


def test_a_postgresql_restart_loses_no_logged_request_and_revocations_still_arrive(
    tmp_path, cluster, fake_engine
):
    instance = chungus_instance(
        tmp_path / "home", DATABASE_URL=cluster.url, CHUNGUS_REFRESH_SECONDS="0.2"
    )
    instance.cli("models", "add", "fake-ok", "--url", fake_engine, "--upstream-model", "fake")
    kept, doomed = instance.create_key("kept"), instance.create_key("doomed")
    instance.start("--no-default-model")
    client = openai.OpenAI(base_url=f"{instance.url}/v1", api_key=kept, max_retries=0, timeout=30)
    answered: list[int] = []
    unanswered: list[Exception] = []
    stop = threading.Event()

    def traffic() -> None:
        while not stop.is_set():
            try:
                client.chat.completions.create(model="fake-ok", messages=SAY)
                answered.append(200)
            except openai.APIStatusError as exc:
                answered.append(exc.status_code)
            except openai.APIConnectionError as exc:
                unanswered.append(exc)

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        time.sleep(1)
        before = len(answered)
        cluster.restart(down_seconds=2)
        during = len(answered) - before
        time.sleep(2)  # every kept connection was broken by the restart: they are replaced
        settled = instance.log.stat().st_size
        instance.cli("keys", "revoke", "doomed")
        revoked = time.monotonic()
        while instance.chat(doomed, "fake-ok").status_code != 401:
            assert time.monotonic() - revoked < 5, "the revoked key still works after 5 s"
            time.sleep(0.1)
        time.sleep(3)  # more traffic: log writes and reloads on every pool thread
    finally:
        stop.set()
        sender.join()
    try:
        assert during > 0, "no request was answered while the database was down"
        assert not unanswered and set(answered) == {200}
        deadline = time.monotonic() + 15
        while logged(cluster, "kept") < len(answered) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert logged(cluster, "kept") == len(answered), "answered requests missing from the log"
        with instance.log.open("rb") as log:
            log.seek(settled)
            later = log.read().decode(errors="replace")
        for error in ("OperationalError", "InterfaceError", "connection already closed"):
            assert error not in later, f"database errors ({error}) went on after it was back"
        checks = httpx.get(f"{instance.url}/readyz", timeout=5).json()["checks"]
        assert {name: loop["state"] for name, loop in checks["loops"].items()} == dict.fromkeys(
            checks["loops"], "ok"
        ), "every background loop runs again"
    finally:
        instance.stop()
