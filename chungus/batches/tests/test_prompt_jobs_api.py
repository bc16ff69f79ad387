"""protollm's job API on a running CHUNGUS: /generate and /chat_completion answer
`{"content": …}`, a repeated job id never reaches the engine again, /jobs/{job_id} tells the
status. `recorded` is chungus.testing.recording_engine (it counts the calls it gets); `gemma`
is the real llama-server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from chungus.fleet.launchers.local import free_port
from chungus.testing.processes import (
    ChungusProcess,
    LlamaServer,
    chungus_instance,
    stop_process,
    wait_http,
)

ENGINE_KEY = "sk-recording-engine"


@pytest.fixture(scope="module")
def engine() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "chungus.testing.recording_engine", "--port", str(port),
         "--key", ENGINE_KEY]
    )  # fmt: skip
    wait_http(f"http://127.0.0.1:{port}/_seen", 30, process)
    yield f"http://127.0.0.1:{port}"
    stop_process(process)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, llama: LlamaServer, engine: str
) -> Iterator[ChungusProcess]:
    instance = chungus_instance(tmp_path_factory.mktemp("protollm"))
    instance.cli("models", "add", "gemma", "--url", f"{llama.url}/v1", "--engine", "llamacpp")
    instance.cli(
        "models", "add", "recorded", "--url", f"{engine}/v1", "--engine", "llamacpp",
        "--api-key-env", "ENGINE_KEY", env={"ENGINE_KEY": ENGINE_KEY},
    )  # fmt: skip
    instance.create_users("alice", "bob")
    instance.create_key("alice", "--owner", "alice")
    instance.create_key("bob", "--owner", "bob")
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def post(site: ChungusProcess, key: str, path: str, body: object, **params: str) -> httpx.Response:
    return httpx.post(
        f"{site.url}{path}", json=body, params=params, timeout=120,
        headers={"Authorization": f"Bearer {site.keys[key]}"},
    )  # fmt: skip


def status(site: ChungusProcess, key: str, job_id: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {site.keys[key]}"}
    return httpx.get(f"{site.url}/jobs/{job_id}", headers=auth, timeout=30)


def engine_calls(engine: str) -> int:
    seen = httpx.get(f"{engine}/_seen").json()
    return sum(1 for s in seen if s["path"] == "/v1/chat/completions")


def test_a_repeated_job_id_answers_what_is_stored_without_the_engine(site, engine):
    body = {"job_id": "job-repeat", "meta": {"model": "recorded"}, "content": "Hi"}
    before = engine_calls(engine)
    with ThreadPoolExecutor(4) as pool:  # the same job asked four times at once
        answers = list(pool.map(lambda _: post(site, "alice", "/generate", body), range(4)))
    answers.append(post(site, "alice", "/generate", body))
    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert all(a.json() == {"content": "ok"} for a in answers)
    assert engine_calls(engine) == before + 1
    assert status(site, "alice", "job-repeat").json() == {
        "job_id": "job-repeat", "job_status": "completed", "content": "ok", "error": None,
    }  # fmt: skip


def test_a_chat_completion_is_answered_by_the_real_engine(site):
    body = {"job_id": "job-chat", "priority": 1, "source": "local",
            "meta": {"model": "gemma", "temperature": 0.0, "tokens_limit": 8},
            "messages": [{"role": "user", "content": "Say hello"}]}  # fmt: skip
    answer = post(site, "alice", "/chat_completion", body)
    assert answer.status_code == 200, answer.text
    content = answer.json()["content"]
    assert isinstance(content, str) and content
    checked = httpx.post(
        f"{site.url}/check_status", params={"job_id": "job-chat"},
        headers={"Authorization": f"Bearer {site.keys['alice']}"},
    )  # fmt: skip
    assert checked.json() == {
        "job_id": "job-chat", "job_status": "completed", "content": content, "error": None,
    }  # fmt: skip
    deadline = time.monotonic() + 30  # the log is flushed in batches: wait for the row
    while not [r for r in site.request_log() if r["model"] == "gemma"]:
        assert time.monotonic() < deadline, "the job is in the request log as any request"
        time.sleep(0.1)


def test_a_caller_that_does_not_wait_finds_the_result_later(site):
    body = {"job_id": "job-later", "meta": {"model": "gemma", "tokens_limit": 4}, "content": "Hi"}
    started = post(site, "alice", "/generate", body, wait="false")
    assert started.status_code == 202, started.text
    assert started.json()["job_status"] in ("in_progress", "completed")
    deadline = time.monotonic() + 60
    while (found := status(site, "alice", "job-later").json())["job_status"] != "completed":
        assert time.monotonic() < deadline, found
        time.sleep(0.1)
    assert isinstance(found["content"], str)


def test_job_ids_belong_to_their_tenant(site, engine):
    body = {"job_id": "job-mine", "meta": {"model": "recorded"}, "content": "Hi"}
    assert post(site, "alice", "/generate", body).status_code == 200
    missing = status(site, "bob", "job-mine")
    assert missing.status_code == 404 and missing.json()["error"]["param"] == "job_id"
    before = engine_calls(engine)
    assert post(site, "bob", "/generate", body).status_code == 200  # bob's own job
    assert engine_calls(engine) == before + 1


@pytest.mark.parametrize(
    ("body", "status_code", "param"),
    [
        ({"meta": {}, "content": "Hi"}, 400, "job_id"),
        ({"job_id": "j", "meta": {"tokens_limit": "many"}, "content": "Hi"}, 400, "tokens_limit"),
        ({"job_id": "j", "meta": {"model": "nobody"}, "content": "Hi"}, 404, "model"),
        ({"job_id": "j", "meta": {}, "content": "Hi"}, 400, "model"),  # two models served
        ([1, 2], 400, None),
    ],
)
def test_bad_jobs_get_openai_errors_and_are_not_stored(site, body, status_code, param):
    answer = post(site, "alice", "/generate", body)
    assert answer.status_code == status_code, answer.text
    assert answer.json()["error"]["param"] == param
    assert status(site, "alice", "j").status_code == 404


def test_malformed_json_and_a_missing_key_are_refused(site):
    auth = {"Authorization": f"Bearer {site.keys['alice']}"}
    broken = httpx.post(f"{site.url}/generate", content=b"{not json", headers=auth)
    assert broken.status_code == 400 and "JSON" in broken.json()["error"]["message"]
    anonymous = httpx.post(f"{site.url}/chat_completion", json={"job_id": "x"})
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"]
    assert httpx.get(f"{site.url}/jobs/x").status_code == 401
