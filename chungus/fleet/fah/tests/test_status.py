"""Where Folding@Home stands: which GPUs fold now and how long each GPU has folded, from
the GPU timeline's rows of client jobs only; durations in words."""

import pytest

from chungus.fleet.fah.status import DAY, duration, passkey_words, status
from chungus.fleet.jobs.models import GpuHold, Job

NOW = 10 * DAY


def hold(gpu, name, started, ended=None):
    GpuHold.objects.create(node="h", gpu=gpu, holder="job", name=name, started=started, ended=ended)


@pytest.mark.django_db
def test_it_counts_only_client_jobs_and_clips_the_last_day(operator):
    client = Job.objects.create(owner=operator, kind="fah", tier="background", gpus=1)
    other = Job.objects.create(owner=operator, kind="command", gpus=1)
    hold(0, str(client.pk), NOW - 2 * DAY, NOW - DAY - 100)  # before the last day
    hold(0, str(client.pk), NOW - 600, NOW - 300)
    hold(1, str(client.pk), NOW - 50)  # folding now
    hold(1, str(other.pk), NOW - 5000, NOW - 4000)  # a batch job's: not folding time
    now = status(now=NOW)
    [folding] = now.folding
    assert (folding.node, folding.gpu, folding.job_id, folding.seconds) == ("h", 1, client.pk, 50)
    times = {g.gpu: (g.last_day_seconds, g.total_seconds) for g in now.gpu_time}
    assert times == {0: (300, DAY - 100 + 300), 1: (50, 50)}
    assert [c["id"] for c in now.clients] == [client.pk]


def test_durations_read_as_words():
    assert [duration(s) for s in (40, 192, 7500)] == ["40 s", "3 min 12 s", "2 h 05 min"]


def test_the_passkey_is_described_never_shown(monkeypatch):
    monkeypatch.setenv("FAH_PASSKEY", "0" * 32)
    assert passkey_words("FAH_PASSKEY") == "from $FAH_PASSKEY (set in this process's environment)"
    assert passkey_words("") == "none (folding as user and team only)"
