"""chungus keys create|list|revoke"""

from __future__ import annotations

import argparse
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils import timezone

from chungus.accounts.models import ApiKey, Priority, Scope
from chungus.core.audit import audit, cli_actor
from chungus.core.commandline import (
    ChungusCommand,
    OneLineParser,
    iso_datetime,
    name_list,
    positive_int,
    table,
)
from chungus.lib.names import InvalidName, check_name, help_text


class Command(ChungusCommand):
    help = "Create, list and revoke API keys."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=OneLineParser, metavar="{create,list,revoke}"
        )
        create = sub.add_parser(
            "create", help="create a key; prints the secret once, on the last line"
        )
        create.add_argument(
            "--name", required=True, help=f"unique name of the key ({help_text('key')})"
        )
        create.add_argument("--rpm", type=positive_int, help="requests per minute")
        create.add_argument("--rph", type=positive_int, help="requests per hour")
        create.add_argument("--tpm", type=positive_int, help="tokens per minute")
        create.add_argument(
            "--models", type=name_list, default=[], help="allowed models, a,b (default: all)"
        )
        create.add_argument(
            "--expires", type=iso_datetime, help="expiry, ISO 8601 (e.g. 2027-01-31T00:00Z)"
        )
        create.add_argument("--owner", help="username of the user who owns the key")
        create.add_argument(
            "--priority",
            choices=Priority.values,
            default=Priority.INTERACTIVE,
            help="queue tier when a model is busy (default interactive)",
        )
        create.add_argument(
            "--admin",
            action="store_true",
            help="an admin key (management API, fleet status): --owner must be a superuser",
        )
        sub.add_parser("list", help="list keys (secrets are never shown)")
        revoke = sub.add_parser("revoke", help="revoke a key by name")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict[str, Any]) -> None:
        name = options["name"].strip()
        try:
            check_name("key", name)
        except InvalidName as exc:
            raise CommandError(str(exc)) from None
        if ApiKey.objects.filter(name=name).exists():
            raise CommandError(f"a key named {name!r} exists already")
        expires = options["expires"]
        if expires is not None and expires <= timezone.now():
            raise CommandError(f"--expires {expires.isoformat()} is in the past")
        owner = None
        if options["owner"]:
            owner = get_user_model().objects.filter(username=options["owner"]).first()
            if owner is None:
                raise CommandError(f"no user named {options['owner']!r}")
        if options["admin"] and not (owner is not None and owner.is_superuser):
            raise CommandError("--admin needs --owner naming a superuser")
        key, secret = ApiKey.issue(
            name, rpm=options["rpm"], rph=options["rph"], tpm=options["tpm"],
            allowed_models=options["models"], expires_at=expires, owner=owner,
            priority=options["priority"],
            scope=Scope.ADMIN if options["admin"] else Scope.INFERENCE,
        )  # fmt: skip
        audit(cli_actor(), "key.create", key.name, {"prefix": key.prefix, "scope": key.scope})
        self.stdout.write(
            f"Created key {key.name!r} ({key.prefix}…). Copy it now: it is never shown again."
        )
        self.stdout.write(secret)

    def _list(self, options: dict[str, Any]) -> None:
        now = timezone.now()
        rows = [
            [
                k.name,
                k.prefix + "…",
                _state(k, now),
                k.scope,
                _limit(k.rpm), _limit(k.rph), _limit(k.tpm),
                ",".join(k.allowed_models) or "all",
                k.expires_at.isoformat(timespec="minutes") if k.expires_at else "never",
            ]
            for k in ApiKey.objects.all()
        ]  # fmt: skip
        if not rows:
            self.stdout.write("No API keys. Create one with: chungus keys create --name NAME")
            return
        header = ["NAME", "PREFIX", "STATE", "SCOPE", "RPM", "RPH", "TPM", "MODELS", "EXPIRES"]
        self.stdout.write(table(rows, header))

    def _revoke(self, options: dict[str, Any]) -> None:
        key = ApiKey.objects.filter(name=options["name"]).first()
        if key is None:
            raise CommandError(f"no key named {options['name']!r}")
        if not key.is_active:
            self.stdout.write(f"Key {key.name!r} was revoked already.")
            return
        key.revoke()
        audit(cli_actor(), "key.revoke", key.name, {"prefix": key.prefix})
        self.stdout.write(f"Revoked key {key.name!r}.")


def _state(key: ApiKey, now: Any) -> str:
    if not key.is_active:
        return "revoked"
    if key.expires_at and key.expires_at <= now:
        return "expired"
    return "active"


def _limit(value: int | None) -> str:
    return str(value) if value else "-"
