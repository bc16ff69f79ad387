"""chungus deployments list|stop|start"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import CommandError

from chungus.core.audit import audit, cli_actor
from chungus.core.commandline import ChungusCommand, OneLineParser, table
from chungus.fleet.lifecycle import declare as deploying
from chungus.fleet.models import Deployment


class Command(ChungusCommand):
    help = "List deployments with their state and its reason, or stop or start one."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=OneLineParser, metavar="{list,stop,start}"
        )
        sub.add_parser("list", help="list deployments")
        stop = sub.add_parser("stop", help="stop a deployment (its GPUs are freed)")
        stop.add_argument("name")
        start = sub.add_parser("start", help="start a stopped or failed deployment again")
        start.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] in ("stop", "start"):
            change = deploying.stop if options["action"] == "stop" else deploying.start
            try:
                change(options["name"])
            except deploying.DeployError as exc:
                raise CommandError(exc.message) from None
            audit(cli_actor(), f"deployment.{options['action']}", options["name"])
            verb = "Stopping" if options["action"] == "stop" else "Starting"
            self.stdout.write(f"{verb} {options['name']!r}.")
            return
        rows = [
            [
                d.name, d.engine, d.launcher, str(d.replicas), str(d.gpus_per_replica),
                f"{d.memory_mb} MB" if d.memory_mb else "-",
                _unload(d),
                f"{d.state}: {d.state_reason}" if d.state_reason else d.state,
            ]
            for d in Deployment.objects.all()
        ]  # fmt: skip
        if not rows:
            self.stdout.write(
                "No deployments. Deploy one with: chungus deploy NAME --source packaged"
            )
            return
        header = [
            "NAME",
            "ENGINE",
            "LAUNCHER",
            "REPLICAS",
            "GPUS",
            "MEMORY",
            "IDLE UNLOAD",
            "STATE",
        ]
        self.stdout.write(table(rows, header))


def _unload(deployment: Deployment) -> str:
    if deployment.always_warm:
        return "kept warm"
    return f"{deployment.idle_timeout_s} s" if deployment.idle_timeout_s else "never"
