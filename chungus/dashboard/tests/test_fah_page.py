"""The Folding@Home page: operators see which GPUs fold and for how long; others may not
see it; the passkey never shows (only its variable's name)."""

import time

import pytest
from django.contrib.auth.models import User

from chungus.dashboard.tests.conftest import signed_in
from chungus.fleet.fah.models import FahSetting
from chungus.fleet.jobs.models import GpuHold, Job

pytestmark = pytest.mark.django_db
URL = "/dashboard/folding-at-home/"
PASSKEY = "ffeeddccbbaa99887766554433221100"


def test_an_operator_sees_the_gpus_folding_and_for_how_long(operator, monkeypatch):
    monkeypatch.setenv("FAH_PASSKEY", PASSKEY)
    FahSetting.objects.create(pk=1, enabled=True, user="ada", team=7, passkey_env="FAH_PASSKEY")
    client = Job.objects.create(
        owner=operator, kind="fah", spec={}, tier="background", gpus=1, state="running",
        gpu_indices=[1], reason="started on GPU 1 of gpu-host (attempt 1)",
    )  # fmt: skip
    now = int(time.time())
    GpuHold.objects.create(
        node="gpu-host", gpu=1, holder="job", name=str(client.pk), started=now - 125
    )
    page = signed_in(operator).get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-gpu="gpu-host/1"' in text and f"job #{client.pk}" in text
    assert "2 min 0" in text  # for 2 min 05 s, give or take the second the page took
    assert "from $FAH_PASSKEY (set in this process&#x27;s environment)" in text
    assert PASSKEY not in text
    assert signed_in(operator).get(f"/jobs/{client.pk}/").status_code == 200  # its job page
    assert (
        'href="/dashboard/folding-at-home/"'
        in signed_in(operator).get("/dashboard/").content.decode()
    )


def test_others_may_not_see_it(db):
    member = User.objects.create_user("member", "m@example.com", "pw")
    assert signed_in(member).get(URL).status_code == 403
    assert signed_in(None).get(URL).status_code == 302
