"""`chungus models add|list|remove`."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from chungus.fleet.models import Backend, Model

pytestmark = pytest.mark.django_db


def models(*args):
    out = StringIO()
    call_command("models", *args, stdout=out)
    return out.getvalue()


def test_adding_the_same_name_twice_gives_the_model_two_backends():
    models(
        "add",
        "llama",
        "--url",
        "http://a:8080/v1",
        "--engine",
        "llamacpp",
        "--max-concurrency",
        "4",
    )
    models(
        "add",
        "llama",
        "--url",
        "http://b:8000",
        "--engine",
        "vllm",
        "--upstream-model",
        "meta/llama",
    )
    backends = list(
        Backend.objects.order_by("url").values_list(
            "url", "engine", "upstream_model", "max_concurrency"
        )
    )
    assert backends == [
        ("http://a:8080/v1", "llamacpp", "", 4),
        ("http://b:8000/v1", "vllm", "meta/llama", 64),
    ]
    listing = models("list")
    assert "http://a:8080/v1" in listing and "vllm" in listing


def test_the_same_backend_twice_is_refused():
    models("add", "m", "--url", "http://a/v1")
    with pytest.raises(CommandError, match="already has"):
        models("add", "m", "--url", "http://a/v1/")


def test_remove_drops_the_model_and_its_backends():
    models("add", "m", "--url", "http://a/v1")
    models("remove", "m")
    assert not Model.objects.exists() and not Backend.objects.exists()
    with pytest.raises(CommandError, match="no model named"):
        models("remove", "m")
