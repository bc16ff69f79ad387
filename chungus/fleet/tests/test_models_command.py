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


def test_a_backend_key_is_read_from_the_named_environment_variable_and_never_listed(monkeypatch):
    secret = "sk-engine-key-from-the-environment"
    monkeypatch.setenv("ENGINE_KEY", secret)
    said = models("add", "guarded", "--url", "http://h:8080/v1", "--api-key-env", "ENGINE_KEY")
    assert Backend.objects.get(model__name="guarded").api_key == secret
    assert secret not in said and secret not in models("list")


def test_a_named_key_variable_that_is_not_set_is_refused_and_nothing_is_added(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(CommandError, match="NO_SUCH_KEY_VAR"):
        models("add", "guarded", "--url", "http://h:8080/v1", "--api-key-env", "NO_SUCH_KEY_VAR")
    assert not Model.objects.filter(name="guarded").exists()


def test_a_key_that_would_break_the_header_is_refused(monkeypatch):
    monkeypatch.setenv("ENGINE_KEY", "two\r\nlines")
    with pytest.raises(CommandError, match="printable"):
        models("add", "guarded", "--url", "http://h:8080/v1", "--api-key-env", "ENGINE_KEY")


def test_add_and_set_change_a_models_per_request_limits():
    models("add", "m", "--url", "http://a/v1", "--max-output-tokens", "2048", "--max-n", "2")
    model = Model.objects.get(name="m")
    assert (model.max_output_tokens, model.max_n, model.max_prompts) == (2048, 2, 64)
    assert not model.allow_engine_options
    out = models("set", "m", "--max-prompts", "0", "--allow-engine-options")
    model.refresh_from_db()
    assert (model.max_output_tokens, model.max_prompts, model.allow_engine_options) == (
        2048,
        0,
        True,
    )
    assert "max output tokens 2048" in out and "engine options passed on" in out


def test_set_names_an_unknown_model():
    with pytest.raises(CommandError, match="no model named"):
        models("set", "nope", "--max-n", "1")


def test_a_limit_out_of_range_is_refused():
    with pytest.raises(CommandError, match="between 0 and 32767"):
        models("add", "m", "--url", "http://a/v1", "--max-n", "40000")
