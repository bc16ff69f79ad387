"""What a host has: this host through NVML, and declared inventories."""

import json
import subprocess

import pytest

from chungus.fleet.inventory.hosts import declared_hosts, read_gpus, read_host
from chungus.testing.processes import CHUNGUS

H100 = {"name": "H100", "memory_mb": 81559}


def test_this_cpu_only_host_reports_no_gpus_but_its_cpus_and_memory():
    host = read_host()
    assert host.gpus == () == read_gpus()
    assert host.cpus >= 1 and 0 < host.memory_used_mb < host.memory_total_mb


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
    assert "no GPUs" in listing.stdout and "gpu-01" in listing.stdout and "H100" in listing.stdout
    data = json.loads(
        subprocess.run(
            [str(CHUNGUS), "nodes", "list", "--json"], env=env, capture_output=True, text=True
        ).stdout
    )
    assert [len(n["gpus"]) for n in data["nodes"]] == [0, 2]
