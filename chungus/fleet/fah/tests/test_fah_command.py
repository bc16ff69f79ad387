"""`chungus fah enable|disable|status`: the setting in the database, what it prints, and a
passkey that is never stored, printed or audited (only its variable's name)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from chungus.core.models import AuditEntry
from chungus.fleet.fah.models import FahSetting
from chungus.fleet.jobs.models import GpuHold, Job

pytestmark = pytest.mark.django_db
PASSKEY = "00112233445566778899aabbccddeeff"
CHUNGUS = Path(sys.executable).with_name("chungus")


def fah(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("fah", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_enable_stores_the_setting_and_only_the_passkeys_variable(monkeypatch):
    monkeypatch.setenv("FAH_PASSKEY", PASSKEY)
    out, err = fah("enable", "--user", "ada", "--team", "7", "--passkey-env", "FAH_PASSKEY")
    setting = FahSetting.current()
    assert (setting.enabled, setting.user, setting.team, setting.passkey_env, setting.gpus) == (
        True, "ada", 7, "FAH_PASSKEY", None,
    )  # fmt: skip
    assert out.startswith("Folding@Home enabled for ada (team 7) on every idle GPU; passkey: ")
    assert "from $FAH_PASSKEY (set in this process's environment)" in out and not err
    [entry] = AuditEntry.objects.filter(action="fah.enable")
    assert entry.detail == {"user": "ada", "team": 7, "passkey_env": "FAH_PASSKEY", "gpus": "all"}
    stored = json.dumps(list(FahSetting.objects.values()), default=str)
    assert PASSKEY not in stored + out + json.dumps(entry.detail)


def test_enable_warns_when_the_variable_is_not_set_here(monkeypatch):
    monkeypatch.delenv("FAH_PASSKEY", raising=False)
    out, err = fah(
        "enable", "--user", "ada", "--team", "7", "--passkey-env", "FAH_PASSKEY", "--gpus", "2"
    )
    assert "at most 2 GPU(s)" in out and "NOT set in this process's environment" in out
    assert err.startswith("Note: $FAH_PASSKEY is not set here")
    assert FahSetting.current().gpus == 2


@pytest.mark.parametrize(
    "args",
    [
        ("--user", "a b", "--team", "1"),
        ("--user", "ada", "--team", "1", "--passkey-env", "DATABASE_URL"),
        ("--user", "ada", "--team", "1", "--passkey-env", "not a name"),
    ],
)
def test_enable_refuses_a_bad_setting(args):
    with pytest.raises(CommandError) as caught:
        fah("enable", *args)
    assert caught.value.returncode == 2
    assert not FahSetting.current().enabled


def test_disable_turns_it_off_and_says_how_many_clients_stop(operator):
    fah("enable", "--user", "ada", "--team", "7")
    Job.objects.create(owner=operator, kind="fah", spec={}, tier="background", gpus=1)
    out, _ = fah("disable")
    assert not FahSetting.current().enabled
    assert out == "Folding@Home disabled; chungus serve stops its 1 client(s) at its next tick.\n"
    assert AuditEntry.objects.filter(action="fah.disable").count() == 1


def test_status_shows_the_gpus_folding_and_their_time(operator, monkeypatch):
    monkeypatch.setenv("FAH_PASSKEY", PASSKEY)
    fah("enable", "--user", "ada", "--team", "7", "--passkey-env", "FAH_PASSKEY")
    client = Job.objects.create(
        owner=operator, kind="fah", spec={}, tier="background", gpus=1, state="running",
        gpu_indices=[0], reason="started on GPU 0 of h (attempt 1)",
    )  # fmt: skip
    GpuHold.objects.create(
        node="h", gpu=0, holder="job", name=str(client.pk), started=100, ended=400
    )
    GpuHold.objects.create(node="h", gpu=0, holder="job", name=str(client.pk), started=500)
    GpuHold.objects.create(node="h", gpu=1, holder="job", name="999999", started=0)  # not a client
    out, _ = fah("status")
    assert out.startswith("Folding@Home: enabled; user ada, team 7, every idle GPU\n")
    assert "Folding now:\nNODE  GPU  JOB" in out and f"h     0    {client.pk}" in out
    assert "Time folded:" in out and "started on GPU 0 of h (attempt 1)" in out
    answer = json.loads(fah("status", "--json")[0])
    [folding] = answer["folding"]
    assert (folding["node"], folding["gpu"], folding["job_id"]) == ("h", 0, client.pk)
    [gpu_time] = answer["gpu_time"]
    assert gpu_time["total_seconds"] >= 300 + folding["seconds"] - 1
    assert answer["passkey"] == "from $FAH_PASSKEY (set in this process's environment)"
    assert PASSKEY not in out + json.dumps(answer)


def test_every_subcommand_has_help():
    for words in (["fah"], ["fah", "enable"], ["fah", "disable"], ["fah", "status"]):
        shown = subprocess.run([str(CHUNGUS), *words, "--help"], capture_output=True, text=True)
        assert shown.returncode == 0 and "usage: chungus fah" in shown.stdout, shown.stderr
    enable = subprocess.run(
        [str(CHUNGUS), "fah", "enable", "--help"], capture_output=True, text=True
    )
    assert "--passkey-env VAR" in enable.stdout and "--gpus N|all" in enable.stdout
