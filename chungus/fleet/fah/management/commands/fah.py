"""chungus fah enable|disable|status"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from chungus.core.audit import audit, cli_actor
from chungus.core.commandline import (
    ChungusCommand,
    OneLineParser,
    non_negative_int,
    positive_int,
    table,
)
from chungus.fleet.fah import keeper, kind, status
from chungus.fleet.fah.models import SETTING_ID, FahSetting
from chungus.fleet.jobs.kinds.base import SpecError

REFUSED = 2
PASSKEY_HELP = (
    "the environment variable holding your passkey (32 hexadecimal digits). Only its name "
    "is stored: chungus serve reads it each time it starts a client, so it must be set in "
    "chungus serve's environment"
)


def gpu_limit(text: str) -> int | None:
    return None if text == "all" else positive_int(text)


class Command(ChungusCommand):
    help = (
        "Fold for Folding@Home on GPUs nothing else wants: CHUNGUS runs one fah-client "
        "(CHUNGUS_FAH_BINARY) per idle GPU as a background job, stopped within seconds "
        "when a batch job or a deployment needs its GPU and started again when it is idle."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=OneLineParser,
            metavar="{enable,disable,status}",
        )  # fmt: skip
        enable = sub.add_parser("enable", help="start folding on idle GPUs")
        enable.add_argument("--user", required=True, help="your Folding@Home user name")
        enable.add_argument("--team", required=True, type=non_negative_int, help="team number")
        enable.add_argument("--passkey-env", default="", metavar="VAR", help=PASSKEY_HELP)
        enable.add_argument(
            "--gpus", type=gpu_limit, default=None, metavar="N|all",
            help="fold on at most N GPUs at once (default all: every idle GPU)",
        )  # fmt: skip
        sub.add_parser("disable", help="stop every client and fold no more")
        show = sub.add_parser("status", help="the setting, the clients, the GPUs folding")
        show.add_argument("--json", action="store_true", help="as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _enable(self, options: dict[str, Any]) -> None:
        ask = {
            "user": options["user"],
            "team": options["team"],
            "passkey_env": options["passkey_env"],
        }
        try:
            spec = kind.check(ask)
        except SpecError as exc:
            raise CommandError(str(exc), returncode=REFUSED) from None
        setting = FahSetting.current()
        setting.enabled, setting.gpus = True, options["gpus"]
        setting.user, setting.team, setting.passkey_env = (
            spec["user"],
            spec["team"],
            spec["passkey_env"],
        )
        self._save(setting)
        detail = {**spec, "gpus": "all" if setting.gpus is None else setting.gpus}
        audit(cli_actor(), "fah.enable", "folding-at-home", detail)
        limit = "every idle GPU" if setting.gpus is None else f"at most {setting.gpus} GPU(s)"
        self.stdout.write(
            f"Folding@Home enabled for {spec['user']} (team {spec['team']}) on {limit}; "
            f"passkey: {status.passkey_words(spec['passkey_env'])}."
        )
        self.stdout.write("chungus serve starts the clients at its next scheduling tick.")
        if spec["passkey_env"] and not os.environ.get(spec["passkey_env"]):
            self.stderr.write(
                f"Note: ${spec['passkey_env']} is not set here; it must be set where chungus "
                "serve runs, or its clients do not start."
            )

    def _disable(self, options: dict[str, Any]) -> None:
        setting = FahSetting.current()
        was = setting.enabled
        setting.enabled = False
        self._save(setting)
        audit(cli_actor(), "fah.disable", "folding-at-home", {"was_enabled": was})
        live = len(keeper.live_jobs())
        self.stdout.write(
            f"Folding@Home disabled; chungus serve stops its {live} client(s) at its next tick."
            if live
            else "Folding@Home disabled; no client runs."
        )

    def _status(self, options: dict[str, Any]) -> None:
        now = status.status()
        if options["json"]:
            self.stdout.write(json.dumps(now.as_json(), indent=1))
            return
        s = now.setting
        state = "enabled" if s.enabled else "disabled"
        limit = "every idle GPU" if s.gpus is None else f"at most {s.gpus} GPU(s)"
        self.stdout.write(f"Folding@Home: {state}; user {s.user}, team {s.team}, {limit}")
        self.stdout.write(f"Passkey: {now.passkey}")
        if now.folding:
            rows = [
                [f.node, str(f.gpu), str(f.job_id), status.duration(f.seconds)] for f in now.folding
            ]
            self.stdout.write("\nFolding now:\n" + table(rows, ["NODE", "GPU", "JOB", "FOR"]))
        else:
            self.stdout.write("\nFolding now: no GPU.")
        if now.gpu_time:
            rows = [
                [
                    g.node,
                    str(g.gpu),
                    status.duration(g.last_day_seconds),
                    status.duration(g.total_seconds),
                ]
                for g in now.gpu_time
            ]
            self.stdout.write(
                "\nTime folded:\n" + table(rows, ["NODE", "GPU", "LAST 24 H", "IN ALL"])
            )
        if now.clients:
            rows = [
                [str(c["id"]), c["state"], ",".join(map(str, c["gpu_indices"])) or "-",
                 str(c["preemptions"]), c["reason"][:90]]
                for c in now.clients
            ]  # fmt: skip
            self.stdout.write(
                "\nClients:\n" + table(rows, ["JOB", "STATE", "GPU", "PREEMPTED", "REASON"])
            )

    def _save(self, setting: FahSetting) -> None:
        setting.pk = SETTING_ID
        setting.changed_by, setting.changed_at = cli_actor().name, timezone.now()
        setting.save()
