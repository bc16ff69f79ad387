"""The engine contract's values: a launch spec keeps its secret out of sight."""

from chungus.engines.base import LaunchSpec, replica_secret


def test_an_adopted_engine_keeps_the_secret_it_was_started_with():
    fresh = LaunchSpec("m-0", ("engine",), 9000, env={"KEY": "new", "A": "b"}, api_key="new")
    kept = fresh.with_api_key("old")
    assert kept.api_key == "old" and kept.env == {"KEY": "old", "A": "b"}
    assert LaunchSpec("m-0", ("engine",), 9000).with_api_key("old").api_key == ""


def test_its_repr_shows_neither_the_secret_nor_the_environment_holding_it():
    secret = replica_secret()
    spec = LaunchSpec("m-0", ("engine",), 9000, env={"KEY": secret}, api_key=secret)
    assert secret not in repr(spec) and secret not in str(spec)
