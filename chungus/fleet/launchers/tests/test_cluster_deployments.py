"""Deployments on the Slurm and Ray launchers, reconciled by a running CHUNGUS."""

import contextlib
import os
import sqlite3
import subprocess
import time

import httpx
import psutil

from chungus.fleet.lifecycle.tests.test_deployments import reason, states, wait_state
from chungus.testing.processes import chungus_instance


def test_a_slurm_deployment_serves_a_chat_queues_while_placing_and_leaves_no_job(tmp_path, slurm):
    instance = chungus_instance(tmp_path / "home", CHUNGUS_RECONCILE_SECONDS="0.3", **slurm.env)
    instance.cli("deploy", "on-slurm", "--source", "packaged", "--launcher", "slurm", "--gpus", "1")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    try:
        wait_state(instance, "on-slurm", "ready", 90)
        assert instance.chat(key, "on-slurm").status_code == 200
        # Both GPUs wanted while one is taken: Slurm queues the job, the deployment is placing.
        instance.cli("deploy", "queued", "--launcher", "slurm", "--gpus", "2")
        wait_state(instance, "queued", "placing", 30)
        assert "PENDING" in reason(instance, "queued")
        instance.cli("deployments", "stop", "on-slurm")
        wait_state(instance, "on-slurm", "stopped", 30)
        wait_state(instance, "queued", "ready", 90)
        instance.cli("deployments", "stop", "queued")
        wait_state(instance, "queued", "stopped", 30)
    finally:
        instance.stop()
    env = {**os.environ, **slurm.env}
    queue = subprocess.run(["squeue", "-h"], env=env, capture_output=True, text=True).stdout
    assert queue.strip() == "", f"a Slurm job was left behind: {queue}"


def test_a_ray_deployment_serves_a_chat_and_stopping_it_kills_its_actor(tmp_path, ray_cluster):
    instance = chungus_instance(
        tmp_path / "home", CHUNGUS_RECONCILE_SECONDS="0.3", CHUNGUS_RAY_ADDRESS="auto",
        RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0",
    )  # fmt: skip
    instance.cli("deploy", "on-ray", "--source", "packaged", "--launcher", "ray", "--gpus", "1")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    try:
        wait_state(instance, "on-ray", "ready", 120)
        assert instance.chat(key, "on-ray").status_code == 200
        instance.cli("deployments", "stop", "on-ray")
        wait_state(instance, "on-ray", "stopped", 30)
        deadline = time.monotonic() + 20
        while "chungus-on-ray-0" in {
            a["name"] for a in ray_cluster.util.list_named_actors(all_namespaces=True)
        }:
            assert time.monotonic() < deadline, "the Ray actor outlived its deployment"
            time.sleep(0.2)
    finally:
        instance.stop()
    assert states(instance)["on-ray"] == "stopped"


def test_a_slurm_engine_wants_its_secret_which_only_chungus_sends(tmp_path, slurm):
    """An engine on another node listens on the network: without the replica's secret it
    answers 401; CHUNGUS sends it; no listing, log or process line shows it."""
    instance = chungus_instance(tmp_path / "home", CHUNGUS_RECONCILE_SECONDS="0.3", **slurm.env)
    instance.cli("deploy", "guarded", "--source", "packaged", "--launcher", "slurm", "--gpus", "1")
    key = instance.create_key("k")
    instance.start("--no-default-model")
    try:
        wait_state(instance, "guarded", "ready", 90)
        assert instance.chat(key, "guarded").status_code == 200
        with contextlib.closing(sqlite3.connect(instance.home / "chungus.sqlite3")) as db:
            url, secret = db.execute("select url, api_key from fleet_backend").fetchone()
        assert len(secret) >= 32
        body = {"model": "guarded", "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 2}  # fmt: skip
        assert httpx.post(f"{url}/chat/completions", json=body, timeout=30).status_code == 401
        assert httpx.get(f"{url.removesuffix('/v1')}/metrics").status_code == 401
        signed = httpx.post(f"{url}/chat/completions", json=body, timeout=30,
                            headers={"Authorization": f"Bearer {secret}"})  # fmt: skip
        assert signed.status_code == 200
        shown = [instance.cli(*command).stdout for command in
                 (["models", "list"], ["deployments", "list"])]  # fmt: skip
        lines = [" ".join(p.info["cmdline"] or []) for p in psutil.process_iter(["cmdline"])]
        assert any("llama-server" in line for line in lines)
        for text in [*shown, *lines]:
            assert secret not in text
    finally:
        instance.stop()
    logs = [instance.log, *instance.home.rglob("*.log")]  # the engine's own log too
    assert all(secret not in log.read_text(errors="replace") for log in logs)
