"""/api/deployments/…: list, deploy or redeploy, one, stop, start (no reconciler runs here)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from chungus.api.tests.conftest import assert_error, post
from chungus.core.models import ConfigVersion
from chungus.fleet.models import Deployment, Model
from chungus.fleet.models import DeploymentState as S

pytestmark = pytest.mark.django_db

FIELDS = {
    "name", "source", "engine", "launcher", "replicas", "gpus_per_replica", "tensor_parallel",
    "pipeline_parallel", "context_length", "memory_mb", "memory_note", "priority",
    "always_warm", "idle_timeout_s", "desired", "state", "state_reason", "updated_at",
}  # fmt: skip
MISSING_GGUF = "/nonexistent/model.gguf"


def deploy(client, **body):
    return post(client, "/api/deployments/", {"name": "small", "source": MISSING_GGUF, **body})


def test_it_lists_deployments_with_their_state_and_its_reason(base, admin):
    Deployment.objects.filter(pk=base.deployment.pk).update(
        state=S.FAILED, state_reason="model file /x.gguf does not exist"
    )
    response = admin.get("/api/deployments/")
    assert response.status_code == 200
    [row] = response.json()["deployments"]
    assert set(row) == FIELDS
    assert (row["name"], row["state"], row["state_reason"]) == (
        "gemma-deployed", "failed", "model file /x.gguf does not exist"
    )  # fmt: skip


def test_a_new_deployment_is_201_and_pending_for_the_reconciler(admin):
    body = {"replicas": 2, "context_length": 8192, "always_warm": True, "memory_mb": 900}
    response = deploy(admin, **body)
    assert response.status_code == 201, response.content
    row = response.json()["deployment"]
    assert set(row) == FIELDS
    assert (row["desired"], row["state"], row["state_reason"]) == (
        "running", "pending", "waiting for the reconciler"
    )  # fmt: skip
    assert (row["replicas"], row["context_length"], row["always_warm"]) == (2, 8192, True)
    assert (row["memory_mb"], row["memory_note"]) == (900, "given with memory_mb")
    assert Model.objects.filter(name="small").exists()


def test_the_defaults_are_the_clis(admin):
    row = post(admin, "/api/deployments/", {"name": "tiny", "memory_mb": 1}).json()["deployment"]
    assert (row["source"], row["engine"], row["launcher"]) == ("packaged", "llamacpp", "local")
    assert (row["replicas"], row["gpus_per_replica"], row["context_length"]) == (1, 0, 4096)
    assert (row["priority"], row["always_warm"], row["idle_timeout_s"]) == (0, False, 0)


def test_the_memory_is_estimated_when_not_given(admin):
    row = deploy(admin).json()["deployment"]
    assert row["memory_mb"] == 0 and "does not exist" in row["memory_note"]


def test_deploying_an_existing_name_again_redeploys_it_with_200(admin):
    deploy(admin, replicas=1)
    Deployment.objects.filter(name="small").update(
        state=S.FAILED, state_reason="crashed", desired="stopped", wake_requested_at=timezone.now()
    )
    response = deploy(admin, replicas=3)
    assert response.status_code == 200
    row = response.json()["deployment"]
    assert (row["replicas"], row["desired"], row["state"]) == (3, "running", "pending")
    assert Deployment.objects.get(name="small").wake_requested_at is None


def test_a_vllm_deployment_takes_tensor_times_pipeline_gpus(admin):
    body = {"engine": "vllm", "source": "org/model", "tensor_parallel": 2, "pipeline_parallel": 2}
    row = deploy(admin, **body).json()["deployment"]
    assert row["gpus_per_replica"] == 4 and row["memory_note"].startswith("not estimated")


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"engine": "vllm", "gpus_per_replica": 2, "tensor_parallel": 4}, "gpus_per_replica"),
        ({"tensor_parallel": 2}, "tensor_parallel"),
        ({"name": "not an ollama name!", "engine": "ollama"}, "name"),
    ],
)
def test_what_cannot_run_is_400_naming_the_field(admin, body, param):
    error = assert_error(deploy(admin, **body), 400, param=param)
    assert error["code"] == "invalid_deployment"
    assert not Deployment.objects.filter(name__in=["small", "not an ollama name!"]).exists()


def test_a_vllm_gpu_mismatch_says_what_to_change(admin):
    body = {"engine": "vllm", "gpus_per_replica": 2, "tensor_parallel": 4}
    message = assert_error(deploy(admin, **body), 400)["message"]
    assert "does not match" in message and "= 4" in message


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"replicas": "two"}, "replicas"),
        ({"replicas": 0}, "replicas"),
        ({"replicas": 40_000}, "replicas"),
        ({"gpus_per_replica": -1}, "gpus_per_replica"),
        ({"idle_timeout_s": -5}, "idle_timeout_s"),
        ({"memory_mb": -1}, "memory_mb"),
        ({"priority": 99_999}, "priority"),
        ({"context_length": 3_000_000_000}, "context_length"),
        ({"always_warm": "often"}, "always_warm"),
        ({"engine": "openai"}, "engine"),
        ({"engine": "koboldcpp"}, "engine"),
        ({"launcher": "kubernetes"}, "launcher"),
        ({"name": "  "}, "name"),
        ({"name": None}, "name"),
        ({"source": ""}, "source"),
        ({"source": "x" * 501}, "source"),
        ({"gpus": 1}, "gpus"),  # a typo is refused, not ignored
        ({"name": "small\x00"}, "name"),  # PostgreSQL cannot store NUL
        ({"source": "/models/\x00.gguf"}, "source"),
    ],
)
def test_wrong_types_and_values_are_refused_in_the_envelope(admin, body, param):
    assert_error(deploy(admin, **body), 422, param=param)
    assert not Deployment.objects.filter(name="small").exists()


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"small"', "{"])
def test_a_body_that_is_not_an_object_is_refused(admin, body):
    response = admin.post("/api/deployments/", body, content_type="application/json")
    assert response.status_code in (400, 422)
    assert_error(response, response.status_code)


def test_it_shows_one_deployment_by_name_even_with_a_slash_in_it(admin):
    deploy(admin, name="org/model:q4")
    response = admin.get("/api/deployments/org/model:q4/")
    assert response.status_code == 200 and response.json()["deployment"]["name"] == "org/model:q4"
    assert post(admin, "/api/deployments/org/model:q4/stop/").json()["deployment"]["name"] == (
        "org/model:q4"
    )


def test_stop_sets_desired_stopped_and_the_reconciler_drains_it(base, admin):
    before = ConfigVersion.current()
    response = post(admin, f"/api/deployments/{base.deployment.name}/stop/")
    assert response.status_code == 200
    assert response.json()["deployment"]["desired"] == "stopped"
    assert Deployment.objects.get(pk=base.deployment.pk).desired == "stopped"
    assert ConfigVersion.current() > before


def test_start_makes_a_stopped_deployment_pending_again(base, admin):
    Deployment.objects.filter(pk=base.deployment.pk).update(
        desired="stopped", state=S.STOPPED, state_reason="stopped by the operator"
    )
    row = post(admin, f"/api/deployments/{base.deployment.name}/start/").json()["deployment"]
    assert (row["desired"], row["state"], row["state_reason"]) == (
        "running", "pending", "waiting for the reconciler"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/deployments/ghost/"),
        ("POST", "/api/deployments/ghost/stop/"),
        ("POST", "/api/deployments/ghost/start/"),
    ],
)
def test_an_unknown_name_is_404(admin, method, path):
    response = admin.get(path) if method == "GET" else post(admin, path)
    error = assert_error(response, 404, param="name")
    assert "ghost" in error["message"]


@pytest.mark.parametrize(
    "path",
    ["/api/deployments/a%00b/", "/api/deployments/a%00b/stop/", "/api/deployments/a%00b/start/"],
)
def test_a_name_with_nul_is_404_not_a_database_error(admin, path):
    response = admin.get(path) if path.count("/") == 4 else post(admin, path)
    assert_error(response, 404, param="name")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/deployments/gemma-deployed/stop/"),
        ("POST", "/api/deployments/gemma-deployed/"),
    ],
)
def test_a_wrong_method_is_405_in_the_envelope(base, admin, method, path):
    response = admin.get(path) if method == "GET" else post(admin, path)
    assert assert_error(response, 405)["code"] == "method_not_allowed"


def test_the_schema_documents_the_deployable_engines_and_launchers(client):
    schema = client.get("/api/openapi.json").json()["components"]["schemas"]
    create = schema["DeploymentCreate"]["properties"]
    assert create["engine"]["enum"] == ["llamacpp", "vllm", "ollama"]
    assert create["launcher"]["enum"] == ["local", "slurm", "ray"]
    assert schema["DeploymentCreate"]["required"] == ["name"]
