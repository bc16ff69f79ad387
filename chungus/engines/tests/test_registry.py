"""Every registered engine implements the whole contract, and every list of engines comes from
the registry."""

import argparse
import inspect

import pytest

from chungus.engines import registry
from chungus.engines.adapter import EngineAdapter, StreamTranslator
from chungus.engines.base import DeploymentPlan, Engine, LaunchSpec, NotLaunchable
from chungus.engines.load import EngineLoad
from chungus.fleet.management.commands.deploy import Command as Deploy
from chungus.fleet.management.commands.models import Command as Models
from chungus.fleet.models import Backend, Deployment

ENGINES = registry.engines()
GARBAGE = "<html>502 Bad Gateway</html>"


def test_the_engine_packages_are_found_in_the_order_people_see_them():
    assert registry.names() == ["openai", "llamacpp", "vllm", "ollama", "koboldcpp"]
    assert [e.name for e in registry.launchable()] == ["llamacpp", "vllm", "ollama"]


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_it_has_a_name_a_label_and_nothing_left_abstract(engine):
    assert isinstance(engine, Engine) and not inspect.isabstract(type(engine))
    assert engine.name.isidentifier() and len(engine.name) <= 20  # fits Backend.engine
    assert engine.label and isinstance(engine.rank, int)


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_it_says_how_the_gateway_speaks_to_it(engine):
    adapter = engine.adapter
    assert isinstance(adapter, EngineAdapter)
    assert engine.health_path.startswith("/") and engine.health_path == adapter.health_path
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    sent = adapter.request("chat/completions", body, b"", "up", stream=True)
    assert sent.path.startswith("/") and sent.body
    assert isinstance(adapter.stream("chat/completions", "m"), StreamTranslator)
    assert adapter.error(500, b"{}")[0] >= 400
    url = engine.backend_url("http://h:1")
    assert url in ("http://h:1", "http://h:1/v1")
    assert (url == "http://h:1") is adapter.paths_from_root


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_it_reads_its_load_and_never_fails_on_a_bad_report(engine):
    for reports in ({p: None for p in engine.load_paths}, {p: GARBAGE for p in engine.load_paths}):
        assert isinstance(engine.parse_load(reports), EngineLoad)
    assert all(path.startswith("/") for path in engine.load_paths)


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_it_is_launched_or_says_it_cannot_be(engine, models_home, settings):
    settings.CHUNGUS_OLLAMA_BINARY = "ollama"  # looked up on the cluster's nodes, not here
    plan = DeploymentPlan("chat", "packaged", engine.name, 1, context_length=2048, launcher="slurm")
    assert engine.plan_problem(plan) == ""
    if not engine.launchable:
        with pytest.raises(NotLaunchable, match="register them as backends"):
            engine.launch_spec(plan, models_home, "chat-0", 9000, (0,))
        return
    spec = engine.launch_spec(plan, models_home, "chat-0", 9000, (0,))
    assert isinstance(spec, LaunchSpec)
    assert (spec.name, spec.port, spec.gpus) == ("chat-0", 9000, (0,))
    assert spec.command and spec.health_path.startswith("/")


@pytest.mark.parametrize("engine", ENGINES, ids=lambda e: e.name)
def test_it_estimates_memory_or_says_why_not(engine, models_home):
    memory, note = engine.estimate_memory_mb("packaged", 2048, models_home)
    assert isinstance(memory, int) and memory >= 0 and note
    assert memory > 0 or note.startswith(("not estimated", "unknown"))


def option_choices(parser, option):
    return list(next(a.choices for a in parser._actions if option in a.option_strings))


def subcommand(parser, name):
    found = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return found.choices[name]


@pytest.mark.django_db
def test_the_database_the_cli_and_the_dashboard_take_their_engines_from_it(admin):
    for model in (Backend, Deployment):
        assert list(model._meta.get_field("engine").choices or ()) == registry.choices()
    deploy = Deploy().create_parser("chungus", "deploy")
    models_add = subcommand(Models().create_parser("chungus", "models"), "add")
    assert option_choices(deploy, "--engine") == ["llamacpp", "vllm", "ollama"]
    assert option_choices(models_add, "--engine") == registry.names()
    page = admin.get("/dashboard/").context
    assert page["engines"] == registry.choices()
    assert [name for name, _ in page["deploy_engines"]] == ["llamacpp", "vllm", "ollama"]
