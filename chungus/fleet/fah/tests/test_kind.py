"""The fah kind: its spec holds no passkey, each start writes config.xml (0600) with the
passkey read then, and the command line never carries it."""

import stat
import sys

import pytest

from chungus.fleet.fah.kind import KIND, check
from chungus.fleet.jobs.kinds.base import SpecError, Upload

PASSKEY = "fedcba9876543210fedcba9876543210"
SPEC = {"user": "ada", "team": 7, "passkey_env": "FAH_PASSKEY"}


def test_it_completes_and_checks_the_spec():
    assert check({"user": "ada"}) == {"user": "ada", "team": 0, "passkey_env": ""}
    assert check(SPEC) == SPEC


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({"user": "a b"}, "user"),
        ({"user": "x" * 101}, "user"),
        ({"team": -1}, "team"),
        ({"team": True}, "team"),
        ({"passkey_env": "FAH-KEY"}, "passkey_env"),
        ({"passkey_env": "CHUNGUS_SECRET_KEY"}, "passkey_env"),
        ({"passkey": PASSKEY}, "spec"),
    ],
)
def test_it_refuses_a_bad_spec(spec, param):
    with pytest.raises(SpecError) as caught:
        check(spec)
    assert caught.value.param == param
    assert PASSKEY not in str(caught.value)


def test_it_takes_no_upload_and_is_for_operators():
    assert KIND.operator_only
    with pytest.raises(SpecError):
        KIND.validate(SPEC, Upload("x.pdb", b""))


def test_each_start_writes_the_config_with_the_passkey_read_now(tmp_path, monkeypatch, settings):
    settings.CHUNGUS_FAH_BINARY = "/opt/fah/fah-client"
    monkeypatch.setenv("FAH_PASSKEY", PASSKEY)
    command = KIND.command(SPEC, tmp_path)
    config = tmp_path / "config.xml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert f'<passkey v="{PASSKEY}"/>' in config.read_text()
    assert command.argv == (
        sys.executable, "-m", "chungus.fleet.fah.runner", "--binary", "/opt/fah/fah-client",
        "--config", "config.xml", "--cpus", "1", "--stop-seconds", "1.5",
    )  # fmt: skip
    assert PASSKEY not in " ".join(command.argv) and PASSKEY not in str(command.env)
    monkeypatch.setenv("FAH_PASSKEY", PASSKEY.upper())  # rotated: the next start takes it
    KIND.command(SPEC, tmp_path)
    assert PASSKEY.upper() in config.read_text()


def test_a_start_without_its_passkey_variable_fails_saying_which(tmp_path, monkeypatch):
    monkeypatch.delenv("FAH_PASSKEY", raising=False)
    with pytest.raises(SpecError, match=r"\$FAH_PASSKEY .* not set"):
        KIND.command(SPEC, tmp_path)
    assert not (tmp_path / "config.xml").exists()


def test_its_outputs_are_the_logs_never_the_config(tmp_path):
    for name in ("log.txt", "job.log", "config.xml", "client.db"):
        (tmp_path / name).write_text("x")
    assert [o.name for o in KIND.outputs(tmp_path)] == ["log.txt", "job.log"]
