"""The routing table in the database: base URLs, managed backends, health, the table read."""

import pytest

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
