"""chungus models add|list|remove"""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.core.management.base import CommandError
from django.db import transaction

from chungus.core.audit import audit, cli_actor
from chungus.core.commandline import ChungusCommand, OneLineParser, positive_int, table
from chungus.engines import registry
from chungus.engines.base import NO_CHAT
from chungus.fleet.backends import normalize_base_url
from chungus.fleet.models import Backend, Model, Routing
from chungus.fleet.request_caps import add_cap_arguments, apply_cap_options, describe_caps
from chungus.fleet.states import IN_ROTATION
from chungus.lib.names import InvalidName, check_name, help_text

MAX_KEY_LENGTH = 500  # Backend.api_key's length


class Command(ChungusCommand):
    help = "Add, list and remove models and their backends."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="action",
            required=True,
            parser_class=OneLineParser,
            metavar="{add,set,list,remove}",
        )
        add = sub.add_parser(
            "add", help="add a backend for a model (add the same NAME again for more)"
        )
        add.add_argument("name", help=f"the model name clients send ({help_text('model')})")
        add.add_argument(
            "--url", required=True, help="the engine's base URL, e.g. http://host:8080/v1"
        )
        add.add_argument("--engine", choices=registry.names(), default="openai", help="engine kind")
        add.add_argument(
            "--upstream-model", default="", help="model id the engine expects (default: NAME)"
        )
        add.add_argument(
            "--max-concurrency", type=positive_int, default=64, help="requests at once"
        )
        add.add_argument(
            "--routing",
            choices=Routing.values,
            help="how the model's backends share requests (default least-outstanding)",
        )
        add.add_argument(
            "--completions-only",
            action="store_true",
            help="the model has no chat format (a base model): chat requests get a 400 "
            "pointing to /v1/completions instead of text in a foreign turn format",
        )
        add.add_argument(
            "--api-key-env",
            metavar="VAR",
            default="",
            help="send the key in environment variable VAR to the engine as a bearer token "
            "(read now and stored; never shown back, never taken from the command line)",
        )
        add_cap_arguments(add)
        settings = sub.add_parser("set", help="change a model's routing and per-request limits")
        settings.add_argument("name")
        settings.add_argument("--routing", choices=Routing.values)
        add_cap_arguments(settings)
        sub.add_parser("list", help="list models and their backends")
        remove = sub.add_parser("remove", help="remove a model and all its backends")
        remove.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _add(self, options: dict[str, Any]) -> None:
        name = options["name"].strip()
        try:
            check_name("model", name)
        except InvalidName as exc:
            raise CommandError(str(exc)) from None
        try:
            url = normalize_base_url(options["url"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        api_key = _key_from_env(options["api_key_env"])
        with transaction.atomic():
            model, _ = Model.objects.get_or_create(name=name)
            if options["routing"] and options["routing"] != model.routing:
                model.routing = options["routing"]
                model.save(update_fields=["routing"])
            if changed := apply_cap_options(model, options):
                model.save(update_fields=changed)
            if model.backends.filter(url=url).exists():
                raise CommandError(f"model {name!r} already has the backend {url}")
            Backend.objects.create(
                model=model,
                url=url,
                engine=options["engine"],
                upstream_model=options["upstream_model"],
                max_concurrency=options["max_concurrency"],
                chat_format=NO_CHAT if options["completions_only"] else "",
                api_key=api_key,
            )
        audit(cli_actor(), "model.add", name, {"url": url, "engine": options["engine"]})
        count = model.backends.count()
        self.stdout.write(
            f"Model {name!r} now has {count} backend{'s' if count > 1 else ''}; added {url}."
        )

    def _set(self, options: dict[str, Any]) -> None:
        model = Model.objects.filter(name=options["name"]).first()
        if model is None:
            raise CommandError(f"no model named {options['name']!r}")
        changed = apply_cap_options(model, options)
        if options["routing"] and options["routing"] != model.routing:
            model.routing = options["routing"]
            changed.append("routing")
        if changed:
            model.save(update_fields=changed)
            audit(cli_actor(), "model.update", model.name, {"changed": changed})
        self.stdout.write(f"Model {model.name!r}: routing {model.routing}, {describe_caps(model)}.")

    def _list(self, options: dict[str, Any]) -> None:
        rows = [
            [
                b.model.name,
                b.url,
                b.engine,
                b.upstream_model or "-",
                str(b.max_concurrency),
                b.model.routing,
                b.managed_by or "external",
                _health(b),
            ]
            for b in Backend.objects.select_related("model")
        ]
        empty = [
            [m.name, "(no backend)", "", "", "", m.routing, "", ""]
            for m in Model.objects.filter(backends=None)
        ]
        if not rows and not empty:
            self.stdout.write(
                "No models. Add one with: chungus models add NAME --url http://host:8080/v1"
            )
            return
        header = ["MODEL", "URL", "ENGINE", "UPSTREAM", "MAX CONC", "ROUTING", "RUN BY", "HEALTH"]
        self.stdout.write(table(rows + empty, header))

    def _remove(self, options: dict[str, Any]) -> None:
        deleted, _ = Model.objects.filter(name=options["name"]).delete()
        if not deleted:
            raise CommandError(f"no model named {options['name']!r}")
        audit(cli_actor(), "model.delete", options["name"])
        self.stdout.write(f"Removed model {options['name']!r} and its backends.")


def _key_from_env(variable: str) -> str:
    """The engine's key from the environment variable the operator named ('' for none)."""
    if not variable:
        return ""
    key = os.environ.get(variable, "").strip()
    if not key:
        raise CommandError(f"--api-key-env {variable}: that environment variable is not set")
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise CommandError(
            f"--api-key-env {variable}: the key must be printable and at most "
            f"{MAX_KEY_LENGTH} characters"
        )
    return key


def _health(backend: Backend) -> str:
    if backend.health in IN_ROTATION or not backend.health_reason:
        return backend.health
    return f"{backend.health}: {backend.health_reason}"
