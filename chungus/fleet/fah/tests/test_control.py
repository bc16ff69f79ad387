"""What the runner tells the client: the GPU set's resource group over the GPUs a CUDA
library showed it, and to fold (pure)."""

from chungus.fleet.fah import control

STATE = {
    "info": {
        "gpus": {
            "gpu:02:00:00": {"cuda": {"device": 0}},
            "gpu:01:00:00": {"cuda": {"device": 1}},
            "gpu:99:00:00": {"supported": True},
            "gpu:03:00:00": {"hip": {"device": 0}},
        }
    }
}


def test_the_group_is_named_after_the_gpu_set():
    assert control.group_name("0") == "chungus-gpu-0"
    assert control.group_name("2, 3") == "chungus-gpu-2-3"
    assert control.group_name("") == "chungus-cpu"


def test_only_gpus_a_compute_library_showed_it_are_ours():
    assert control.our_gpus(STATE) == ["gpu:01:00:00", "gpu:02:00:00", "gpu:03:00:00"]
    assert control.our_gpus({}) == [] and control.our_gpus({"info": {"gpus": []}}) == []


def test_the_config_gives_one_group_the_gpus_and_leaves_the_default_group_idle():
    message = control.configure("chungus-gpu-0", 1, ["gpu:01:00:00"], now=0)
    assert message == {
        "cmd": "config",
        "time": "1970-01-01T00:00:00Z",
        "config": {
            "groups": {
                "": {"cpus": 0, "gpus": {}},
                "chungus-gpu-0": {
                    "cpus": 1, "gpus": {"gpu:01:00:00": {"enabled": True}}, "on_idle": False,
                },
            }
        },
    }  # fmt: skip
    assert control.fold("chungus-gpu-0", now=60) == {
        "cmd": "state", "state": "fold", "group": "chungus-gpu-0", "time": "1970-01-01T00:01:00Z",
    }  # fmt: skip
