"""chungus batches list|show|cancel: the operator's view of every tenant's batches."""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import CommandError

from chungus.batches import batches, on_behalf
from chungus.batches.models import Batch
from chungus.batches.on_behalf import as_its_key
from chungus.core.audit import cli_actor
from chungus.core.commandline import ChungusCommand, OneLineParser, positive_int, table
from chungus.lib.openai_errors import APIError


class Command(ChungusCommand):
    help = "List, show and cancel batches (OpenAI Batch API) of every tenant."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=OneLineParser, metavar="{list,show,cancel}"
        )
        listing = sub.add_parser("list", help="the newest batches, with their progress")
        listing.add_argument("--limit", type=positive_int, default=20, help="how many (default 20)")
        listing.add_argument("--status", help="only batches in this status (e.g. in_progress)")
        show = sub.add_parser("show", help="one batch as the API returns it (JSON)")
        show.add_argument("batch_id")
        cancel = sub.add_parser("cancel", help="stop a batch; lines running now still finish")
        cancel.add_argument("batch_id")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list(options["limit"], options.get("status"))
            return
        row = Batch.objects.filter(pk=options["batch_id"]).first()
        if row is None:
            raise CommandError(f"No such batch: {options['batch_id'][:80]!r}.")
        try:
            if action == "show":
                self.stdout.write(json.dumps(batches.retrieve(as_its_key(row), row.pk), indent=2))
                return
            answer = on_behalf.cancel(row, cli_actor())
        except APIError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Batch {row.pk} is {answer['status']}.")

    def _list(self, limit: int, status: str | None) -> None:
        rows = Batch.objects.order_by("-created_at", "-id")
        if status:
            rows = rows.filter(status=status)
        found = list(rows[:limit])
        if not found:
            self.stdout.write("No batches.")
            return
        header = ["id", "status", "model", "done", "failed", "total", "created (UTC)", "owner"]
        lines = [
            [b.pk, b.status, b.model, str(b.completed), str(b.failed), str(b.total),
             b.created_at.strftime("%Y-%m-%d %H:%M"), str(b.owner or "operator")]
            for b in found
        ]  # fmt: skip
        self.stdout.write(table(lines, header))
