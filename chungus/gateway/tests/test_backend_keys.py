"""A backend added with a key (`models add --api-key-env`) gets it on every call CHUNGUS makes,
and the key is never shown back: not in `models list`, the API, or the server's log.

The engine is chungus.testing.recording_engine: a fake that demands the key and records the
Authorization header of each request (a real llama-server only says yes or no; the Slurm
launcher's tests check that one)."""

import subprocess
import sys
import time

import httpx

from chungus.fleet.launchers.local import free_port
from chungus.testing.processes import chungus_instance, stop_process, wait_http

SECRET = "sk-engine-secret-only-chungus-knows"


def test_a_backend_added_with_a_key_gets_it_and_nobody_sees_it(tmp_path):
    port = free_port()
    engine = subprocess.Popen(
        [sys.executable, "-m", "chungus.testing.recording_engine", "--port", str(port),
         "--key", SECRET]
    )  # fmt: skip
    instance = chungus_instance(tmp_path / "home", CHUNGUS_HEALTH_INTERVAL="0.2")
    try:
        wait_http(f"http://127.0.0.1:{port}/_seen", 30, engine)
        added = instance.cli(
            "models", "add", "guarded", "--url", f"http://127.0.0.1:{port}/v1",
            "--engine", "llamacpp", "--api-key-env", "GUARDED_KEY",
            env={"GUARDED_KEY": SECRET},
        )  # fmt: skip
        key = instance.create_key("k")
        instance.create_superuser("ops")
        admin = instance.create_key("ops-key", "--admin", "--owner", "ops")
        instance.start("--no-default-model")
        answer = instance.chat(key, "guarded")
        assert answer.status_code == 200, answer.text
        for _ in range(100):  # the health monitor probes and scrapes every 0.2 s
            seen = httpx.get(f"http://127.0.0.1:{port}/_seen").json()
            if {"/health", "/metrics"} <= {s["path"] for s in seen}:
                break
            time.sleep(0.1)
        assert {s["path"] for s in seen} >= {"/v1/chat/completions", "/health", "/metrics"}
        assert all(s["authorization"] == f"Bearer {SECRET}" for s in seen)
        listed = instance.cli("models", "list").stdout
        api = httpx.get(f"{instance.url}/api/models/", headers={"Authorization": f"Bearer {admin}"})
        status = httpx.get(
            f"{instance.url}/api/fleet/status", headers={"Authorization": f"Bearer {admin}"}
        )
        assert api.status_code == 200 and "guarded" in api.text and "guarded" in listed
        for shown in (added.stdout, added.stderr, listed, api.text, status.text):
            assert SECRET not in shown
    finally:
        instance.stop()
        stop_process(engine)
    assert SECRET not in instance.log.read_text()
