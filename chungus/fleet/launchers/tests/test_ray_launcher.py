"""The Ray launcher on a real local Ray (two declared GPUs): llama-server in an actor, and
vLLM's Ray driver (faked: vLLM needs CUDA) spreading tensor-parallel workers over GPUs."""

import asyncio
import sys
import time

import httpx
import psutil
import pytest

from chungus.engines.llamacpp.server import (
    LlamaServerOptions,
    llama_server_binary,
    llama_server_command,
)
from chungus.engines.packaged import packaged_gguf
from chungus.fleet.launchers.base import LaunchSpec, LaunchState
from chungus.fleet.launchers.local import free_port
from chungus.fleet.launchers.ray_actor import in_process_entry
from chungus.fleet.launchers.ray_launcher import (
    RayLauncher,
    RayOptions,
    engine_bundles,
    pending_reason,
)
from chungus.testing.launching import chat_through_chungus, wait_for_launch


async def test_an_engine_runs_in_an_actor_serves_chungus_and_is_killed(
    ray_cluster, models_home, tmp_path
):
    port = free_port()
    command = llama_server_command(
        llama_server_binary(), packaged_gguf(models_home), port, LlamaServerOptions(alias="gemma")
    )
    launcher = RayLauncher(tmp_path / "logs", RayOptions(address=None, num_cpus=0.5))
    handle = await launcher.launch(
        LaunchSpec(name=f"gemma-{port}", command=command, port=port, gpus=(0,))
    )
    try:
        status = await wait_for_launch(launcher, handle, LaunchState.READY)
        actor_status = await handle.actor.status.remote()
        assert actor_status["gpus"] in ("0", "1"), "Ray gave the actor one GPU"
        answer = chat_through_chungus(tmp_path / "home", status.address)
        assert answer.status_code == 200
    finally:
        await launcher.terminate(handle)
        await launcher.terminate(handle)
    assert (await launcher.poll(handle)).state is LaunchState.STOPPED
    named = {a["name"] for a in ray_cluster.util.list_named_actors(all_namespaces=True)}
    assert handle.name not in named
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)


async def test_an_engine_ends_when_its_actor_process_dies(ray_cluster, models_home, tmp_path):
    port = free_port()
    command = llama_server_command(
        llama_server_binary(), packaged_gguf(models_home), port, LlamaServerOptions(alias="gemma")
    )
    launcher = RayLauncher(tmp_path / "logs", RayOptions(address=None, num_cpus=0.5))
    handle = await launcher.launch(LaunchSpec(name=f"orphan-{port}", command=command, port=port))
    try:
        await wait_for_launch(launcher, handle, LaunchState.READY)
        engine = psutil.Process((await handle.actor.status.remote())["pid"])
        engine.parent().kill()  # the actor's worker process dies, as when its owner exits
        engine.wait(15)
        assert not engine.is_running()
    finally:
        await launcher.terminate(handle)


def test_a_placement_group_has_one_gpu_bundle_per_worker_and_the_driver_cpus_on_the_first():
    assert engine_bundles(3, 0.5) == [{"GPU": 1, "CPU": 0.5}, {"GPU": 1}, {"GPU": 1}]
    assert engine_bundles(2, 0) == [{"GPU": 1}, {"GPU": 1}]


def test_the_pending_reason_says_how_many_gpus_are_free_and_if_there_can_never_be_enough():
    assert pending_reason(8, 2, 16) == "waiting for 8 GPUs in the Ray cluster: 2 available"
    assert (
        pending_reason(4, 2.0, 2) == "waiting for 4 GPUs in the Ray cluster: 2 available, 2 in all"
    )


def test_only_python_modules_and_console_scripts_can_run_inside_the_actor():
    _, argv = in_process_entry(["python", "-m", "chungus.testing.fake_vllm_ray", "serve", "m"])
    assert argv == ["chungus.testing.fake_vllm_ray", "serve", "m"]
    with pytest.raises(ValueError, match="cannot run inside the Ray actor"):
        in_process_entry(["/usr/bin/no-such-engine", "serve"])


def fake_vllm(port, tensor_parallel, model="llama"):
    """The fake vLLM's command, without the Ray backend flag: the launcher adds it."""
    return (
        sys.executable, "-m", "chungus.testing.fake_vllm_ray", "serve", model,
        "--host", "127.0.0.1", "--port", str(port), "--served-model-name", "llama",
        "--tensor-parallel-size", str(tensor_parallel),
    )  # fmt: skip


def vllm_spec(port, tensor_parallel, model="llama"):
    return LaunchSpec(
        name=f"tp{tensor_parallel}-{port}",
        command=fake_vllm(port, tensor_parallel, model),
        port=port,
        gpus=tuple(range(tensor_parallel)),
    )


def assert_nothing_left(ray, handle):
    named = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
    assert handle.name not in named
    group = ray.util.placement_group_table()[handle.placement_group.id.hex()]
    assert group["state"] == "REMOVED"


async def test_tensor_parallel_vllm_runs_its_workers_in_the_launchers_placement_group(
    ray_cluster, tmp_path
):
    port = free_port()
    launcher = RayLauncher(tmp_path / "logs", RayOptions(address=None, num_cpus=0.5))
    handle = await launcher.launch(vllm_spec(port, 2))
    try:
        status = await wait_for_launch(launcher, handle, LaunchState.READY, seconds=60)
        workers = httpx.get(f"{status.address}/workers", timeout=5).json()
        assert workers["placement_group"] == handle.placement_group.id.hex()
        assert not workers["own_placement_group"]
        assert sorted(g for w in workers["workers"] for g in w["gpu_ids"]) == ["0", "1"]
        models = httpx.get(f"{status.address}/v1/models", timeout=5).json()
        assert [m["id"] for m in models["data"]] == ["llama"]
        body = {"model": "llama", "messages": [{"role": "user", "content": "hi"}]}
        answer = httpx.post(f"{status.address}/v1/chat/completions", json=body, timeout=5)
        assert answer.status_code == 200
    finally:
        await launcher.terminate(handle)
        await launcher.terminate(handle)
    assert (await launcher.poll(handle)).state is LaunchState.STOPPED
    assert_nothing_left(ray_cluster, handle)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # ray.kill returns before the process is gone
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        except httpx.ConnectError:
            break
        except httpx.TransportError:  # accepted, then reset: it is dying
            pass
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the fake vLLM still answers after terminate")


async def test_vllm_wanting_more_gpus_than_ray_has_waits_with_a_reason_then_gives_up(
    ray_cluster, tmp_path
):
    options = RayOptions(address=None, num_cpus=0.5, placement_timeout_s=2)
    launcher = RayLauncher(tmp_path / "logs", options)
    handle = await launcher.launch(vllm_spec(free_port(), 4))
    try:
        status = await launcher.poll(handle)
        assert status.state is LaunchState.PLACING
        assert status.detail.startswith("waiting for 4 GPUs in the Ray cluster: ")
        status = await wait_for_launch(launcher, handle, LaunchState.EXITED, seconds=10)
        assert status.detail.startswith("gave up after 2 s waiting for 4 GPUs")
        assert status.detail.endswith("2 in all")
        assert handle.actor is None, "no driver without its GPUs"
    finally:
        await launcher.terminate(handle)
    assert_nothing_left(ray_cluster, handle)


async def test_an_engine_that_crashes_leaves_no_actor_and_no_placement_group(ray_cluster, tmp_path):
    launcher = RayLauncher(tmp_path / "logs", RayOptions(address=None, num_cpus=0.5))
    handle = await launcher.launch(vllm_spec(free_port(), 2, model="fail-after-load"))
    status = await wait_for_launch(launcher, handle, LaunchState.EXITED, seconds=60)
    assert status.detail.startswith("engine exited with 3\n")
    assert "2 workers up" in status.detail, "the engine's log tail comes with it"
    assert_nothing_left(ray_cluster, handle)


async def test_an_engine_waits_placing_while_the_cluster_has_no_free_gpu(ray_cluster, tmp_path):
    launcher = RayLauncher(tmp_path / "logs", RayOptions(address=None, num_cpus=0.1))

    def sleeper(name):
        return LaunchSpec(name=name, command=("sleep", "120"), port=free_port(), gpus=(0,))

    holders = [await launcher.launch(sleeper(f"holder-{i}")) for i in range(2)]
    queued = await launcher.launch(sleeper("queued"))  # returns at once, GPUs or not
    try:
        for holder in holders:
            await wait_for_launch(launcher, holder, LaunchState.STARTING, seconds=30)
        status = await launcher.poll(queued)
        assert status.state is LaunchState.PLACING
        assert status.detail == "waiting for 1 GPU in the Ray cluster: 0 available"
        started = time.monotonic()
        await launcher.terminate(queued)
        assert time.monotonic() - started < 5, "an actor never placed is not asked to stop"
        assert (await launcher.poll(queued)).state is LaunchState.STOPPED
    finally:
        for handle in (queued, *holders):
            await launcher.terminate(handle)
