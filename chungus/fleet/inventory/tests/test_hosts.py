"""What a host has: this host through NVML, and declared inventories."""

import io
import json
import subprocess
import sys

import pytest
from django.core.management import call_command

from chungus.fleet.inventory.hosts import GpuInfo, declared_hosts, inventory, read_gpus, read_host
from chungus.fleet.management.commands import nodes
from chungus.testing.processes import CHUNGUS
from chungus.testing.recorded_nvml import RecordedNvml

H100 = {"name": "H100", "memory_mb": 81559}


def test_a_host_with_gpus_reports_each_through_nvml():
    nvml = RecordedNvml.named("two_h100")
    assert read_gpus(nvml) == (
        GpuInfo(0, "NVIDIA H100 80GB HBM3", 81559, 73728, utilization_pct=87, temperature_c=64,
                uuid="GPU-3f1b2c4d-8e9a-4b7c-a1d2-5e6f7a8b9c0d", processes=2),
        GpuInfo(1, "NVIDIA H100 80GB HBM3", 81559, 18743, utilization_pct=12, temperature_c=41,
                uuid="GPU-a7c9e1f3-2b4d-4f6a-8c0e-1d3f5a7b9c2e", processes=1),
    )  # fmt: skip
    assert not nvml.open, "NVML is shut down after reading"


def test_by_default_inventory_asks_nvidia_ml_pys_pynvml(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", RecordedNvml.named("two_h100").nvml)
    assert [(gpu.index, gpu.processes) for gpu in read_host().gpus] == [(0, 2), (1, 1)]


def test_a_host_without_nvml_reports_no_gpus_but_its_cpus_and_memory():
    host = read_host(nvml=RecordedNvml.named("no_driver"))
    assert host.gpus == ()
    assert host.cpus >= 1 and 0 < host.memory_used_mb < host.memory_total_mb


def test_a_gpu_that_does_not_say_its_utilization_or_processes_is_still_listed():
    recording = RecordedNvml.named("two_h100").recording
    second = recording["devices"][1]
    second["nvmlDeviceGetUtilizationRates"] = {"NVMLError": "Not Supported"}
    second["nvmlDeviceGetComputeRunningProcesses"] = {"NVMLError": "No permission"}
    gpu = read_gpus(RecordedNvml(recording))[1]
    assert (gpu.index, gpu.memory_total_mb) == (1, 81559)
    assert (gpu.utilization_pct, gpu.temperature_c, gpu.processes) == (None, None, None)


def test_nvml_failing_midway_reports_no_gpus_rather_than_half(caplog):
    recording = RecordedNvml.named("two_h100").recording
    recording["devices"][1]["nvmlDeviceGetMemoryInfo"] = {"NVMLError": "GPU is lost"}
    nvml = RecordedNvml(recording)
    assert read_gpus(nvml) == () and not nvml.open
    assert "GPU is lost" in caplog.text


def test_the_inventory_is_this_host_with_its_gpus_then_the_declared_ones(tmp_path):
    declared = tmp_path / "inventory.json"
    declared.write_text(json.dumps({"nodes": [{"name": "gpu-01", "gpus": [H100]}]}))
    here, there = inventory(declared, RecordedNvml.named("two_h100"))
    assert [gpu.index for gpu in here.gpus] == [0, 1] and here.source == "local"
    assert (there.name, len(there.gpus), there.source) == ("gpu-01", 1, "declared")


def test_a_declared_inventory_becomes_hosts_with_simulated_gpus():
    hosts = declared_hosts({"nodes": [{"name": "gpu-01", "cpus": 64, "gpus": [H100] * 8}]})
    assert hosts[0].name == "gpu-01" and hosts[0].source == "declared"
    assert [g.index for g in hosts[0].gpus] == list(range(8))
    assert hosts[0].gpus[0].memory_total_mb == 81559


@pytest.mark.parametrize(
    "bad", [{"nodes": [{"gpus": []}]}, {"nodes": [{"name": "n", "gpus": [{"name": "x"}]}]}]
)
def test_a_malformed_declared_inventory_is_refused(bad):
    with pytest.raises(ValueError):
        declared_hosts(bad)


def test_nodes_list_shows_this_host_and_the_declared_ones(tmp_path):
    declared = tmp_path / "inventory.json"
    declared.write_text(json.dumps({"nodes": [{"name": "gpu-01", "gpus": [H100, H100]}]}))
    env = {
        "CHUNGUS_HOME": str(tmp_path),
        "CHUNGUS_INVENTORY": str(declared),
        "PATH": "/usr/bin:/bin",
    }
    listing = subprocess.run(
        [str(CHUNGUS), "nodes", "list"], env=env, capture_output=True, text=True
    )
    assert "gpu-01" in listing.stdout and "H100" in listing.stdout
    data = json.loads(
        subprocess.run(
            [str(CHUNGUS), "nodes", "list", "--json"], env=env, capture_output=True, text=True
        ).stdout
    )
    here = read_host()  # its GPUs through NVML, whether this host has any or not
    assert [(n["name"], len(n["gpus"])) for n in data["nodes"]] == [
        (here.name, len(here.gpus)),
        ("gpu-01", 2),
    ]


@pytest.mark.django_db
def test_nodes_list_shows_each_gpu_of_this_host_with_its_memory_and_use(monkeypatch):
    recorded = RecordedNvml.named("two_h100")
    monkeypatch.setattr(nodes, "inventory", lambda declared: inventory(declared, recorded))
    out = io.StringIO()
    call_command("nodes", "list", stdout=out)
    header, *lines = out.getvalue().splitlines()
    gpus = [" ".join(line[header.index("GPU") :].split()) for line in lines]
    assert gpus == [
        "0 NVIDIA H100 80GB HBM3 72.0/79.6 GiB 87% 64 C",
        "1 NVIDIA H100 80GB HBM3 18.3/79.6 GiB 12% 41 C",
    ]
