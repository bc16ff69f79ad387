"""chungus nodes list"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from chungus.core.commandline import ChungusCommand, OneLineParser, table
from chungus.fleet.inventory.hosts import inventory


class Command(ChungusCommand):
    help = (
        "List the nodes CHUNGUS knows and their GPUs (this host through NVML, plus declared ones)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=OneLineParser, metavar="{list}"
        )
        listing = sub.add_parser("list", help="list nodes, their CPUs, memory and GPUs")
        listing.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def handle(self, *args: Any, **options: Any) -> None:
        declared = settings.CHUNGUS_INVENTORY
        try:
            hosts = inventory(Path(declared) if declared else None)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the declared inventory {declared}: {exc}") from None
        if options["json"]:
            self.stdout.write(json.dumps({"nodes": [asdict(h) for h in hosts]}, indent=2))
            return
        rows = []
        for host in hosts:
            memory = f"{host.memory_used_mb / 1024:.1f}/{host.memory_total_mb / 1024:.1f} GiB"
            base = [host.name, host.source, str(host.cpus), memory]
            if not host.gpus:
                rows.append([*base, "-", "no GPUs", "", ""])
            for gpu in host.gpus:
                used = f"{gpu.memory_used_mb / 1024:.1f}/{gpu.memory_total_mb / 1024:.1f} GiB"
                util = "" if gpu.utilization_pct is None else f"{gpu.utilization_pct}%"
                temp = "" if gpu.temperature_c is None else f"{gpu.temperature_c} C"
                rows.append([*base, str(gpu.index), f"{gpu.name} {used}", util, temp])
                base = ["", "", "", ""]
        header = ["NODE", "SOURCE", "CPUS", "MEMORY", "GPU", "GPU MEMORY", "UTIL", "TEMP"]
        self.stdout.write(table(rows, header))
