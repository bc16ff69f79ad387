"""The routing table in the database: base URLs, managed backends, health, the table read."""

import pytest

from chungus.core.routes import RequestCaps
from chungus.fleet.backends import (
    normalize_base_url,
    record_health,
    register_managed_backend,
    remove_managed_backends,
    routing_table,
)
from chungus.fleet.models import Backend, Deployment, Model


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h:1", "http://h:1/v1"),
        ("https://h/v1/", "https://h/v1"),
        ("http://h:1/api/v1", "http://h:1/api/v1"),
    ],
)
def test_base_urls_are_normalized(url, expected):
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://h", "h:8080", "http://h:port"])
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError, match="--url"):
        normalize_base_url(url)


@pytest.mark.django_db
def test_a_launched_engine_replaces_its_launchers_stale_address():
    register_managed_backend("m", "http://a:1/v1", "llamacpp", "deployment:local:0")
    register_managed_backend("m", "http://b:2/v1", "llamacpp", "deployment:local:0")
    register_managed_backend("m", "http://c:3/v1", "vllm", "deployment:slurm:1")
    urls = set(Backend.objects.values_list("url", flat=True))
    assert urls == {"http://b:2/v1", "http://c:3/v1"}
    assert remove_managed_backends("m", "deployment:local:0") == 1


@pytest.mark.django_db
def test_health_is_recorded_with_its_reason_cut_to_fit():
    backend = register_managed_backend("m", "http://a:1/v1", "llamacpp", "local")
    record_health(backend.id, "unhealthy", "x" * 500)
    backend.refresh_from_db()
    assert backend.health == "unhealthy" and backend.health_reason == "x" * 300


@pytest.mark.django_db
def test_the_routing_table_holds_models_backends_and_what_is_deployed():
    model = Model.objects.create(name="m", routing="cache-affinity")
    Backend.objects.create(model=model, url="http://a/v1/", engine="llamacpp", upstream_model="up")
    Model.objects.create(name="asleep")
    Deployment.objects.create(name="asleep", source="packaged")
    table = routing_table()
    (backend,) = table["m"].backends
    assert (backend.url, backend.engine) == ("http://a/v1", "llamacpp")
    assert backend.upstream_model == "up"
    assert backend.root == "http://a" and table["m"].routing == "cache-affinity"
    assert table["asleep"].backends == () and table["asleep"].deployed
    assert not table["m"].deployed


@pytest.mark.django_db
def test_a_launched_replicas_secret_reaches_the_data_plane_and_is_not_in_its_repr():
    register_managed_backend("m", "http://node7:9000/v1", "llamacpp", "deployment:slurm:0",
                             api_key="replica-secret")  # fmt: skip
    (backend,) = routing_table()["m"].backends
    assert backend.api_key == "replica-secret"
    assert backend.auth_headers == {"Authorization": "Bearer replica-secret"}
    assert "replica-secret" not in repr(backend) and "replica-secret" not in repr(routing_table())


@pytest.mark.django_db
def test_the_routing_table_carries_each_models_per_request_limits():
    Model.objects.create(name="d")
    Model.objects.create(name="m", max_output_tokens=100, max_n=2, max_prompts=3)
    Deployment.objects.create(name="m", source="packaged", context_length=2048)
    table = routing_table()
    assert table["d"].caps == RequestCaps(4096, 8, 64, engine_options=False)
    assert table["m"].caps == RequestCaps(100, 2, 3, engine_options=False, context=2048)
