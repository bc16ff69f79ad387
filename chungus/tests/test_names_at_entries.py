"""Every entry refuses a name that is not a name (chungus.lib.names): the CLI, the management
API, the jobs API's submit, the dashboard's key form and the admin; nothing is stored."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chungus.accounts.admin import ApiKeyForm
from chungus.accounts.models import ApiKey
from chungus.accounts.quota import Quota
from chungus.api.tests.conftest import assert_error, post
from chungus.dashboard.forms import OwnKeyForm
from chungus.fleet.admin import ModelForm
from chungus.fleet.jobs.models import Job
from chungus.fleet.jobs.submit import JobRefused, Submission, submit
from chungus.fleet.models import Deployment, Model

pytestmark = pytest.mark.django_db
BAD = ["../x", "a/../../b", "x\nrm -rf /", "my model", "-x"]


@pytest.mark.parametrize("name", BAD[:-1])  # argparse takes "-x" for an option already
def test_the_cli_refuses_it_for_deployments_models_and_keys(name):
    with pytest.raises(CommandError, match="may hold only"):
        call_command("deploy", name, "--source", "/nonexistent/model.gguf")
    with pytest.raises(CommandError, match="may hold only"):
        call_command("models", "add", name, "--url", "http://h:1/v1")
    with pytest.raises(CommandError, match="may hold only"):
        call_command("keys", "create", "--name", name)
    assert not (Deployment.objects.exists() or Model.objects.exists() or ApiKey.objects.exists())


@pytest.mark.parametrize("name", BAD)
def test_the_management_api_refuses_it_naming_the_field(admin, name):
    bodies = {
        "/api/deployments/": {"name": name, "source": "/nonexistent/model.gguf"},
        "/api/models/create/": {"name": name, "url": "http://h:1/v1"},
        "/api/keys/create/": {"name": name},
    }
    for path, body in bodies.items():
        error = assert_error(post(admin, path, body), 400, param="name")
        assert "may hold only letters" in error["message"], path
    model = Model.objects.create(name="kept")
    assert_error(post(admin, f"/api/models/{model.pk}/update/", {"name": name}), 400, "name")
    assert list(Model.objects.values_list("name", flat=True)) == ["kept"]
    assert not Deployment.objects.exists() and not ApiKey.objects.exists()


def test_a_job_name_is_optional_but_never_anything(operator):
    with pytest.raises(JobRefused) as caught:
        submit(operator, Submission(kind="md", name="../x"), gpu_limit=0)
    assert (caught.value.status, caught.value.param) == (400, "name")
    assert not Job.objects.exists()


def test_the_dashboard_key_form_says_the_rule():
    quota = Quota(max_keys=5, max_rpm=60, max_tpm=1000)
    form = OwnKeyForm({"name": "../x"}, quota=quota, active_keys=0)
    assert not form.is_valid() and "may hold only letters" in str(form.errors["name"])
    assert OwnKeyForm({"name": "ci-key"}, quota=quota, active_keys=0).is_valid()


def test_the_admin_refuses_a_new_name_but_keeps_one_stored_before_the_rule():
    assert "may hold only" in str(ModelForm({"name": "../x", "routing": "round-robin"}).errors)
    old = Model.objects.create(name="old model")
    kept = ModelForm({"name": "old model", "routing": "round-robin"}, instance=old)
    assert "name" not in kept.errors
    key = ApiKeyForm({"name": "x\nrm -rf /"})
    assert "may hold only" in str(key.errors["name"])


def test_a_slash_makes_a_model_name_not_a_directory_and_old_names_stay_usable(admin):
    response = post(admin, "/api/deployments/", {"name": "org/model:q4", "source": "/m.gguf"})
    assert response.status_code in (200, 201), response.content
    old = Model.objects.create(name="old model")  # named before the rule: renaming it is not
    response = post(admin, f"/api/models/{old.pk}/update/", {"name": "old model"})
    assert response.status_code == 200, response.content
