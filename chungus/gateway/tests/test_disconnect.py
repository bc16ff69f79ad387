"""A client that goes away stops the engine generating (real llama-server)."""

import contextlib
import time

import httpx

LONG = {"model": "gemma", "messages": [{"role": "user", "content": "Count to a thousand"}],
        "max_tokens": 1500, "ignore_eos": True}  # fmt: skip


def busy_slots(llama):
    slots = httpx.get(f"{llama.url}/slots", timeout=5).json()
    return sum(1 for slot in slots if slot.get("is_processing"))


def wait_idle(llama, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if busy_slots(llama) == 0:
            return True
        time.sleep(0.05)
    return False


def test_closing_a_stream_cancels_the_generation(chungus, llama):
    assert wait_idle(llama, 30)
    headers = {"Authorization": f"Bearer {chungus.keys['main']}"}
    with httpx.stream("POST", f"{chungus.url}/v1/chat/completions", json={**LONG, "stream": True},
                      headers=headers, timeout=30) as response:  # fmt: skip
        lines = [line for _, line in zip(range(8), response.iter_lines(), strict=False)]
        assert response.status_code == 200
        assert sum('"content":"' in line for line in lines) >= 2, "the engine was generating"
    # 1,500 tokens take over a minute here: a slot still busy after 5 s was not cancelled.
    assert wait_idle(llama, 5), "llama-server kept generating after the client left"


def test_abandoning_a_non_streamed_request_closes_the_upstream_request(chungus, fake_engine):
    # llama-server finishes a non-streamed answer even after its caller left (seen
    # with this build), so the engine side is observed on the fake engine here.
    stats_url = fake_engine.removesuffix("/v1") + "/stats"
    before = httpx.get(stats_url).json()["abandoned"]
    headers = {"Authorization": f"Bearer {chungus.keys['main']}"}
    body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}]}
    with contextlib.suppress(httpx.ReadTimeout):
        httpx.post(f"{chungus.url}/v1/chat/completions", json=body, headers=headers, timeout=1)
    deadline = time.monotonic() + 2
    while httpx.get(stats_url).json()["abandoned"] == before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert httpx.get(stats_url).json()["abandoned"] == before + 1
