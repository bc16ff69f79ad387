"""The Ray launcher on a real local Ray (two declared GPUs), running llama-server in an actor."""

import asyncio

import httpx
import pytest

from chungus.fleet.launchers.base import LaunchSpec, LaunchState
from chungus.fleet.launchers.local import free_port
from chungus.fleet.launchers.ray_launcher import RayLauncher, RayOptions
from chungus.fleet.llamacpp import LlamaServerOptions, llama_server_binary, llama_server_command
from chungus.fleet.packaged import packaged_gguf
from chungus.testing.processes import chungus_instance


async def wait_for(launcher, handle, state, seconds=90):
    status = None
    for _ in range(int(seconds / 0.2)):
        status = await launcher.poll(handle)
        if status.state is state:
            return status
        await asyncio.sleep(0.2)
    raise AssertionError(f"never {state}: {status}")


async def test_an_engine_runs_in_a_detached_actor_serves_chungus_and_is_killed(
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
        status = await wait_for(launcher, handle, LaunchState.READY)
        actor_status = await handle.actor.status.remote()
        assert actor_status["gpus"] in ("0", "1"), "Ray gave the actor one GPU"
        instance = chungus_instance(tmp_path / "home")
        instance.cli(
            "models", "add", "gemma", "--url", f"{status.address}/v1", "--engine", "llamacpp"
        )
        key = instance.create_key("k")
        instance.start("--no-default-model")
        try:
            answer = instance.chat(key, "gemma")
        finally:
            instance.stop()
        assert answer.status_code == 200
    finally:
        await launcher.terminate(handle)
        await launcher.terminate(handle)
    assert (await launcher.poll(handle)).state is LaunchState.STOPPED
    named = {a["name"] for a in ray_cluster.util.list_named_actors(all_namespaces=True)}
    assert handle.name not in named
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
