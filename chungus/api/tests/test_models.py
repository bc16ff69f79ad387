"""/api/models/…: list, create (with a backend), update, delete, delete a backend."""

from __future__ import annotations

import pytest

from chungus.api.tests.conftest import assert_error, post
from chungus.core.models import ConfigVersion
from chungus.fleet.models import Backend, Model

pytestmark = pytest.mark.django_db

BACKEND_FIELDS = {
    "id", "url", "engine", "upstream_model", "max_concurrency", "managed_by",
    "health", "health_reason", "health_checked_at",
}  # fmt: skip


def test_it_lists_models_with_their_backends(base, admin):
    response = admin.get("/api/models/")
    assert response.status_code == 200
    [model] = response.json()["models"]
    assert set(model) == {
        "id", "name", "routing", "created_at", "backends",
        "max_output_tokens", "max_n", "max_prompts", "allow_engine_options",
    }  # fmt: skip
    assert (model["id"], model["name"], model["routing"]) == (
        base.model.pk, "gemma", "least-outstanding"
    )  # fmt: skip
    [backend] = model["backends"]
    assert set(backend) == BACKEND_FIELDS
    assert backend["url"] == "http://127.0.0.1:8080/v1" and backend["health"] == "unknown"


def test_it_lists_a_model_without_backends_too(base, admin):
    Model.objects.create(name="empty")
    names = {m["name"]: m["backends"] for m in admin.get("/api/models/").json()["models"]}
    assert names["empty"] == []


def test_create_makes_the_model_and_its_backend(admin):
    body = {"name": "qwen", "url": "http://gpu1:8000", "engine": "vllm", "max_concurrency": 8}
    response = post(admin, "/api/models/create/", body)
    assert response.status_code == 201
    model = response.json()["model"]
    assert model["name"] == "qwen" and model["routing"] == "least-outstanding"
    [backend] = model["backends"]
    assert backend["url"] == "http://gpu1:8000/v1"  # normalized like the CLI
    assert (backend["engine"], backend["max_concurrency"]) == ("vllm", 8)
    assert Backend.objects.get(pk=backend["id"]).model.name == "qwen"


def test_create_uses_the_defaults(admin):
    model = post(admin, "/api/models/create/", {"name": "m", "url": "http://h:1/v1"}).json()
    [backend] = model["model"]["backends"]
    assert (backend["engine"], backend["upstream_model"], backend["max_concurrency"]) == (
        "openai", "", 64
    )  # fmt: skip


def test_create_adds_a_backend_to_an_existing_model_and_may_set_its_routing(base, admin):
    body = {"name": "gemma", "url": "http://127.0.0.1:8081/", "routing": "round-robin"}
    model = post(admin, "/api/models/create/", body).json()["model"]
    assert model["id"] == base.model.pk and model["routing"] == "round-robin"
    assert [b["url"] for b in model["backends"]] == [
        "http://127.0.0.1:8080/v1", "http://127.0.0.1:8081/v1"
    ]  # fmt: skip


def test_create_refuses_a_duplicate_backend_url_with_409(admin):
    body = {"name": "gemma", "url": "http://127.0.0.1:8080"}
    error = assert_error(post(admin, "/api/models/create/", body), 409, param="url")
    assert "already has the backend" in error["message"]
    assert Backend.objects.count() == 1


@pytest.mark.parametrize("url", ["ftp://host/v1", "host:8080", "http://host:port/v1"])
def test_create_refuses_a_url_the_cli_would_refuse_with_400(admin, url):
    response = post(admin, "/api/models/create/", {"name": "x", "url": url})
    error = assert_error(response, 400, param="url")
    assert not error["message"].startswith("--")
    assert not Model.objects.filter(name="x").exists()


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"url": "http://h/v1"}, "name"),
        ({"name": "  ", "url": "http://h/v1"}, "name"),
        ({"name": "x"}, "url"),
        ({"name": "x", "url": "http://h/v1", "engine": "tgi"}, "engine"),
        ({"name": "x", "url": "http://h/v1", "routing": "random"}, "routing"),
        ({"name": "x", "url": "http://h/v1", "max_concurrency": 0}, "max_concurrency"),
        ({"name": "x", "url": "http://h/v1", "max_concurrency": "many"}, "max_concurrency"),
        ({"name": "x", "url": "http://h/v1", "colour": "red"}, "colour"),
    ],
)
def test_create_explains_what_is_wrong_with_a_body(admin, body, param):
    assert_error(post(admin, "/api/models/create/", body), 422, param=param)


def test_update_changes_routing_and_name(base, admin):
    body = {"routing": "cache-affinity", "name": "gemma-3"}
    response = post(admin, f"/api/models/{base.model.pk}/update/", body)
    assert response.status_code == 200
    assert response.json()["model"]["routing"] == "cache-affinity"
    base.model.refresh_from_db()
    assert (base.model.name, base.model.routing) == ("gemma-3", "cache-affinity")


def test_update_leaves_out_what_was_not_sent(base, admin):
    model = post(admin, f"/api/models/{base.model.pk}/update/", {}).json()["model"]
    assert (model["name"], model["routing"]) == ("gemma", "least-outstanding")


def test_update_refuses_a_name_another_model_has_with_409(base, admin):
    Model.objects.create(name="taken")
    response = post(admin, f"/api/models/{base.model.pk}/update/", {"name": "taken"})
    assert_error(response, 409, param="name")


def test_update_refuses_an_unknown_routing_with_422(base, admin):
    response = post(admin, f"/api/models/{base.model.pk}/update/", {"routing": "fastest"})
    assert_error(response, 422, param="routing")


def test_update_of_an_unknown_model_is_404(admin):
    assert_error(post(admin, "/api/models/9999/update/", {"routing": "round-robin"}), 404)


def test_delete_removes_the_model_and_its_backends(base, admin):
    response = post(admin, f"/api/models/{base.model.pk}/delete/")
    assert (response.status_code, response.json()) == (200, {"deleted": True})
    assert not Model.objects.exists() and not Backend.objects.exists()


def test_delete_of_an_unknown_model_is_404(admin):
    assert_error(post(admin, "/api/models/9999/delete/"), 404)


def test_a_backend_can_be_deleted_alone(base, admin):
    path = f"/api/models/{base.model.pk}/backends/{base.backend.pk}/delete/"
    assert post(admin, path).json() == {"deleted": True}
    assert Model.objects.filter(pk=base.model.pk).exists() and not Backend.objects.exists()


def test_a_backend_of_another_model_is_404(base, admin):
    other = Model.objects.create(name="other")
    path = f"/api/models/{other.pk}/backends/{base.backend.pk}/delete/"
    assert_error(post(admin, path), 404)
    assert Backend.objects.filter(pk=base.backend.pk).exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/models/{huge}/backends/{backend}/delete/",
        "/api/models/{model}/backends/{huge}/delete/",
        "/api/models/{huge}/delete/",
        "/api/models/{huge}/update/",
    ],
)
def test_an_id_past_64_bits_is_404(base, admin, path):
    huge = 10**25  # SQLite cannot even compare a column with it
    path = path.format(huge=huge, model=base.model.pk, backend=base.backend.pk)
    assert_error(post(admin, path, {} if path.endswith("update/") else None), 404)
    assert Backend.objects.filter(pk=base.backend.pk).exists()


def test_a_name_or_url_with_nul_is_422(admin):
    body = {"name": "gemma\x00", "url": "http://127.0.0.1:8080"}
    assert_error(post(admin, "/api/models/create/", body), 422, param="name")
    body = {"name": "gemma2", "url": "http://127.0.0.1:8080/\x00"}
    assert_error(post(admin, "/api/models/create/", body), 422, param="url")
    assert not Model.objects.filter(name__startswith="gemma2").exists()


def test_an_id_that_is_not_a_number_is_404(admin):
    assert_error(post(admin, "/api/models/gemma/delete/"), 404)


def test_changes_bump_the_configuration_version_so_servers_reload(base, admin):
    before = ConfigVersion.current()
    post(admin, "/api/models/create/", {"name": "new", "url": "http://h:1"})
    assert ConfigVersion.current() > before


def test_create_and_update_set_the_per_request_limits(base, admin):
    body = {"name": "m", "url": "http://h:1/v1", "max_output_tokens": 1024, "max_n": 2}
    model = post(admin, "/api/models/create/", body).json()["model"]
    assert (model["max_output_tokens"], model["max_n"], model["max_prompts"]) == (1024, 2, 64)
    assert model["allow_engine_options"] is False
    changes = {"max_prompts": 0, "allow_engine_options": True}
    model = post(admin, f"/api/models/{model['id']}/update/", changes).json()["model"]
    assert (model["max_output_tokens"], model["max_prompts"], model["allow_engine_options"]) == (
        1024,
        0,
        True,
    )


@pytest.mark.parametrize(
    ("body", "param"), [({"max_n": -1}, "max_n"), ({"max_prompts": 40_000}, "max_prompts")]
)
def test_update_refuses_a_limit_the_column_cannot_hold_with_422(base, admin, body, param):
    assert_error(post(admin, f"/api/models/{base.model.pk}/update/", body), 422, param=param)
