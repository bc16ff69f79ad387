"""Placement in the reconciler: simulated GPUs on this host, swap-out of idle models,
pending reasons, and a crashing engine failing its deployment with its last log lines."""

import time

import psutil
import pytest

from chungus.fleet.lifecycle.tests.test_deployments import reason, wait_state
from chungus.testing.processes import chungus_instance, one_simulated_gpu


@pytest.fixture(scope="module")
def one_gpu(tmp_path_factory):
    home = tmp_path_factory.mktemp("swap")
    inventory = one_simulated_gpu(home)
    instance = chungus_instance(
        home,
        CHUNGUS_INVENTORY=str(inventory),
        CHUNGUS_RECONCILE_SECONDS="0.3",
        CHUNGUS_SWAP_IDLE_SECONDS="1",
    )
    instance.start("--no-default-model")
    yield instance
    instance.stop()


def engines(instance):
    return [
        p
        for p in psutil.Process(instance.process.pid).children(recursive=True)
        if "llama-server" in p.name() and p.status() != psutil.STATUS_ZOMBIE  # not yet reaped
    ]


def test_a_deployment_is_pinned_to_the_gpu_placement_gave_it(one_gpu):
    one_gpu.cli("deploy", "first", "--source", "packaged", "--gpus", "1", "--memory-mb", "600")
    wait_state(one_gpu, "first", "ready", 60)
    assert [p.environ().get("CUDA_VISIBLE_DEVICES") for p in engines(one_gpu)] == ["0"]


def test_an_idle_model_is_swapped_out_for_one_that_does_not_fit_beside_it(one_gpu):
    time.sleep(1.5)
    one_gpu.cli("deploy", "second", "--source", "packaged", "--gpus", "1", "--memory-mb", "600")
    wait_state(one_gpu, "second", "ready", 60)
    wait_state(one_gpu, "first", "stopped", 5)
    assert "swapped out to make room for second" in reason(one_gpu, "first")
    assert len(engines(one_gpu)) == 1


def test_a_deployment_that_cannot_fit_waits_with_its_reason(one_gpu):
    one_gpu.cli("deploy", "huge", "--source", "packaged", "--gpus", "1", "--memory-mb", "2048")
    deadline = time.monotonic() + 10
    while not reason(one_gpu, "huge").startswith("needs"):  # the reconciler's reason, not the CLI's
        assert time.monotonic() < deadline, reason(one_gpu, "huge")
        time.sleep(0.1)
    wait_state(one_gpu, "huge", "pending", 1)
    assert reason(one_gpu, "huge").startswith("needs 2.0 GiB on 1 GPU(s), largest free GPU has")
    one_gpu.cli("deployments", "stop", "huge")


def test_an_engine_that_keeps_crashing_fails_its_deployment_with_its_log(one_gpu, tmp_path):
    bogus = tmp_path / "broken.gguf"
    bogus.write_bytes(b"this is not a model")
    one_gpu.cli("deploy", "broken", "--source", str(bogus), "--memory-mb", "10")
    wait_state(one_gpu, "broken", "failed", 40)
    text = reason(one_gpu, "broken")
    assert text.startswith("crashed 3 times") and "exit code" in text


def test_a_cpu_deployment_larger_than_free_memory_waits_with_its_reason(one_gpu):
    one_gpu.cli("deploy", "hoard", "--source", "packaged", "--memory-mb", "100000000")
    deadline = time.monotonic() + 10
    while not reason(one_gpu, "hoard").startswith("needs"):
        assert time.monotonic() < deadline, reason(one_gpu, "hoard")
        time.sleep(0.1)
    assert reason(one_gpu, "hoard").startswith("needs 100000000 MB of memory on this host; ")
    wait_state(one_gpu, "hoard", "pending", 1)
    one_gpu.cli("deployments", "stop", "hoard")
