"""The reconciler's database reads and writes: a replica is registered with its engine's
turn format, and a model without one is refused chat."""

import pytest

from chungus.engines.base import NO_CHAT
from chungus.fleet.backends import routing_table
from chungus.fleet.lifecycle import deployment_rows as store
from chungus.fleet.models import Backend, Deployment
from chungus.gateway.service import chat_backends
from chungus.lib.openai_errors import InvalidRequest
from chungus.testing.gguf import write_gguf


@pytest.mark.django_db
def test_a_deployed_gguf_without_a_chat_format_is_refused_chat_with_a_400(tmp_path):
    gguf = write_gguf(tmp_path / "m.gguf", {"general.architecture": "mystery"})
    Deployment.objects.create(name="mystery", source=str(gguf))
    store.register_replica("mystery", "llamacpp", 0, "local", "http://127.0.0.1:9")
    assert Backend.objects.get(model__name="mystery").chat_format == NO_CHAT
    model = routing_table()["mystery"]
    with pytest.raises(InvalidRequest) as refused:
        chat_backends(model)
    assert refused.value.status == 400 and "/v1/completions" in refused.value.message


@pytest.mark.django_db
def test_the_packaged_deployment_is_registered_with_gemmas_format(models_home, settings):
    settings.CHUNGUS_HOME = models_home
    Deployment.objects.create(name="g", source="packaged")
    store.register_replica("g", "llamacpp", 0, "local", "http://127.0.0.1:9")
    assert Backend.objects.get(model__name="g").chat_format == "gemma"
    assert routing_table()["g"].backends[0].chat


@pytest.mark.django_db
def test_last_use_comes_from_the_minute_rollups_not_the_raw_request_log():
    from datetime import UTC, datetime

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from chungus.telemetry.models import RequestRollup

    minute = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    RequestRollup.objects.create(period=60, start=minute, model="busy", requests=3)
    RequestRollup.objects.create(period=3600, start=minute.replace(minute=0), model="busy")
    with CaptureQueriesContext(connection) as queries:
        assert store.last_used("busy") == minute.timestamp()
        assert store.last_used("never") is None
    assert not any("requestlog" in q["sql"].lower() for q in queries.captured_queries)
