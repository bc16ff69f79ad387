"""A base for CHUNGUS commands: one-line argument errors and shared argument types."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandParser


class OneLineParser(CommandParser):
    """Reports a bad argument as one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message} (see --help)\n")
        super().error(message)
        raise AssertionError("unreachable")


class ChungusCommand(BaseCommand):
    def execute(self, *args: Any, **options: Any) -> Any:
        migrate_if_needed()
        return super().execute(*args, **options)

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # `chungus protollm-worker` is the module protollm_worker: show the name typed
        parser = super().create_parser(prog_name, subcommand.replace("_", "-"), **kwargs)
        parser.__class__ = OneLineParser  # same state, only `error` differs (subparsers inherit it)
        return parser


def migrate_if_needed() -> None:
    """Apply pending migrations quietly, so any command works on a fresh CHUNGUS_HOME."""
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", verbosity=0, interactive=False)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


def iso_datetime(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def name_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one name, separated by commas")
    return names


def table(rows: list[list[str]], header: list[str]) -> str:
    """Return rows as an aligned plain-text table."""
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)
