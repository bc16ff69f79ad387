"""`chungus deploy`: what it stores, and the mistakes it refuses."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chungus.fleet.models import Deployment

pytestmark = pytest.mark.django_db


def deploy(*args):
    call_command("deploy", *args)
    return Deployment.objects.get(name=args[0])


def test_a_vllm_replica_takes_tensor_times_pipeline_gpus():
    row = deploy("big", "--engine", "vllm", "--source", "org/model", "--tensor-parallel", "4",
                 "--pipeline-parallel", "2")  # fmt: skip
    assert row.gpus_per_replica == 8


def test_a_vllm_gpu_count_that_disagrees_with_its_parallel_sizes_is_refused():
    with pytest.raises(CommandError, match=r"--gpus 2 does not match .* = 4"):
        deploy("big", "--engine", "vllm", "--source", "m", "--gpus", "2", "--tensor-parallel", "4")


def test_vllm_on_cpu_keeps_no_gpus():
    assert deploy("cpu", "--engine", "vllm", "--source", "m", "--gpus", "0").gpus_per_replica == 0


def test_parallel_sizes_are_for_vllm_only():
    with pytest.raises(CommandError, match="for vLLM deployments"):
        deploy("small", "--source", "packaged", "--tensor-parallel", "2")


def test_negative_numbers_are_refused():
    with pytest.raises(CommandError, match="must not be negative"):
        deploy("small", "--source", "packaged", "--idle-timeout", "-5")


def test_deployments_stop_and_start_change_what_is_desired():
    deploy("small", "--source", "packaged", "--memory-mb", "100")
    call_command("deployments", "stop", "small")
    assert Deployment.objects.get(name="small").desired == "stopped"
    call_command("deployments", "start", "small")
    assert Deployment.objects.get(name="small").desired == "running"
    with pytest.raises(CommandError, match="no deployment named 'nope'"):
        call_command("deployments", "start", "nope")


def test_deploying_a_gguf_says_which_chat_format_it_gets(tmp_path, capsys):
    from chungus.testing.gguf import write_gguf

    call_command("deploy", "qwen", "--source", str(write_gguf(tmp_path / "q.gguf", {
        "general.architecture": "qwen2"})), "--memory-mb", "100")  # fmt: skip
    assert "Chat format: chatml" in capsys.readouterr().out
    call_command("deploy", "odd", "--source", str(write_gguf(tmp_path / "o.gguf", {
        "general.architecture": "mystery"})), "--memory-mb", "100")  # fmt: skip
    said = capsys.readouterr().out
    assert "No chat format" in said and "/v1/completions" in said
