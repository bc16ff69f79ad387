"""chungus jobs submit|list|show|logs|cancel|outputs|structures"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import IntegrityError

from chungus.core.audit import audit, cli_actor
from chungus.core.commandline import ChungusCommand, OneLineParser, positive_int, table
from chungus.fleet.jobs import cli_show, details, submit
from chungus.fleet.jobs.cli_submit import add_submit, submission
from chungus.fleet.jobs.files import LOG_FILE, job_dir
from chungus.fleet.jobs.kinds.md import structures
from chungus.fleet.jobs.models import Job
from chungus.fleet.states import JOB_FINAL, JobState

OPERATOR = "operator"
USER_HELP = (
    "act as this user (default: $CHUNGUS_JOBS_USER, else the superuser 'operator', "
    "created with an unusable password if missing)"
)
REFUSED = 2  # the exit status of a refusal: a bad option, a job that is not yours


class Command(ChungusCommand):
    help = (
        "Submit batch jobs (molecular dynamics, commands) to the shared GPU pool, follow, "
        "cancel and download them. Works on the database directly, as the user that each "
        "subcommand's --user names, else $CHUNGUS_JOBS_USER, else the superuser 'operator' "
        "(created, with an unusable password, if missing)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        common = OneLineParser(add_help=False)
        common.add_argument("--user", help=USER_HELP)
        sub = parser.add_subparsers(
            dest="action", required=True, parser_class=OneLineParser,
            metavar="{submit,list,show,logs,cancel,outputs,structures}",
        )  # fmt: skip
        add_submit(sub, common)
        listing = sub.add_parser("list", parents=[common], help="list jobs, newest first")
        listing.add_argument("--state", choices=JobState.values, help="only jobs in this state")
        listing.add_argument("--all", action="store_true", help="every user's (superusers)")
        listing.add_argument("--limit", type=positive_int, default=50, help="default 50")
        show = sub.add_parser("show", parents=[common], help="one job in full")
        show.add_argument("id", type=int)
        show.add_argument(
            "--follow", action="store_true",
            help="redraw its progress until it ends; exit 1 unless it succeeded",
        )  # fmt: skip
        show.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
        logs = sub.add_parser("logs", parents=[common], help="its log (the process's output)")
        logs.add_argument("id", type=int)
        logs.add_argument("--lines", type=positive_int, default=200, help="last N (default 200)")
        logs.add_argument("--follow", action="store_true", help="keep printing until it ends")
        logs.add_argument("--interval", type=float, default=1.0, help=argparse.SUPPRESS)
        cancel = sub.add_parser("cancel", parents=[common], help="cancel a job")
        cancel.add_argument("id", type=int)
        outputs = sub.add_parser("outputs", parents=[common], help="list or download its files")
        outputs.add_argument("id", type=int)
        outputs.add_argument("--download", type=Path, metavar="DIR", help="copy them into DIR")
        sub.add_parser("structures", parents=[common], help="the packaged md structures")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            user = None if action == "structures" else acting_user(options["user"])
            getattr(self, f"_{action}")(user, options)
        except submit.JobRefused as exc:
            raise CommandError(str(exc), returncode=REFUSED) from None

    def _submit(self, user: Any, options: dict[str, Any]) -> None:
        job = submit.submit(user, submission(options))
        audit(cli_actor(), "job.submit", f"job {job.pk}", {"kind": job.kind, "name": job.name})
        self.stdout.write(f"Queued job {job.pk} ({job.kind}); it waits for the scheduler.")
        if job.kind == "ensemble":
            ids = job.spec["replica_ids"]
            self.stdout.write(f"Its {len(ids)} replicas: jobs {', '.join(map(str, ids))}.")
        self.stdout.write(f"Follow it with: chungus jobs show {job.pk} --follow")

    def _list(self, user: Any, options: dict[str, Any]) -> None:
        jobs = submit.visible_jobs(user)
        if not options["all"]:
            jobs = jobs.filter(owner=user)
        if options["state"]:
            jobs = jobs.filter(state=options["state"])
        rows = [cli_show.list_row(job) for job in jobs[: options["limit"]]]
        if not rows:
            self.stdout.write("No jobs. Submit one with: chungus jobs submit md --structure villin")
            return
        self.stdout.write(table(rows, cli_show.LIST_HEADER))

    def _show(self, user: Any, options: dict[str, Any]) -> None:
        job = submit.find(user, options["id"])
        self.stdout.write(cli_show.describe(job))
        if options["follow"]:
            self._follow(job, options["interval"])

    def _follow(self, job: Job, interval: float) -> None:
        live, shown = self.stdout.isatty(), ""
        while True:
            job.refresh_from_db()
            line = cli_show.bar(job)
            if live:
                self.stdout.write(f"\r\x1b[2K{line}", ending="")
                self.stdout.flush()
            elif line != shown:
                self.stdout.write(line)
            shown = line
            if job.state in JOB_FINAL:
                break
            time.sleep(interval)
        if live:
            self.stdout.write("")
        if job.state != JobState.SUCCEEDED:
            raise CommandError(f"job {job.pk} {cli_show.state_line(job)}", returncode=1)

    def _logs(self, user: Any, options: dict[str, Any]) -> None:
        job = submit.find(user, options["id"])
        tail = details.log_tail(job, options["lines"])
        self.stdout.write(tail.text, ending="")
        if not tail.size_bytes and not options["follow"]:
            self.stderr.write(f"Job {job.pk} has no log yet ({job.state}).")
        if options["follow"]:
            self._follow_log(job, tail.size_bytes, options["interval"])

    def _follow_log(self, job: Job, offset: int, interval: float) -> None:
        path = job_dir(job.pk) / LOG_FILE
        while True:
            job.refresh_from_db()  # before reading, so the last lines are not missed
            ended = job.state in JOB_FINAL
            try:
                with path.open("rb") as handle:
                    if handle.seek(0, os.SEEK_END) < offset:
                        offset = 0  # a new attempt started the log again
                    handle.seek(offset)
                    data = handle.read()
            except OSError:
                data = b""
            offset += len(data)
            if data:
                self.stdout.write(data.decode(errors="replace"), ending="")
                self.stdout.flush()
            if ended:
                return
            time.sleep(interval)

    def _cancel(self, user: Any, options: dict[str, Any]) -> None:
        before = submit.find(user, options["id"]).state
        job = submit.cancel(user, options["id"])
        audit(cli_actor(), "job.cancel", f"job {job.pk}", {"state": job.state})
        if before in JOB_FINAL:
            self.stdout.write(f"Job {job.pk} had {before} already: nothing to cancel.")
        elif job.state == JobState.CANCELLED:
            self.stdout.write(f"Cancelled job {job.pk}.")
        else:
            self.stdout.write(
                f"Cancelling job {job.pk}: it is asked to stop and has {job.grace_seconds} s "
                "to save its work."
            )

    def _outputs(self, user: Any, options: dict[str, Any]) -> None:
        job = submit.find(user, options["id"])
        found = details.outputs(job)
        if not found:
            self.stdout.write(f"Job {job.pk} has no outputs yet ({job.state}).")
            return
        target = options["download"]
        if target is None:
            rows = [[o.name, cli_show.size(o.size_bytes), o.description] for o in found]
            self.stdout.write(table(rows, ["NAME", "SIZE", "DESCRIPTION"]))
            return
        base, copied = target.expanduser().resolve(), 0
        for output in found:
            destination = (base / output.name).resolve()
            if base not in destination.parents:  # names are the kind's; this is belt and braces
                continue
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(output.path, destination)
            except OSError as exc:
                raise submit.JobRefused(f"cannot write {destination}: {exc}", 400) from None
            self.stdout.write(str(destination))
            copied += 1
        self.stdout.write(f"Downloaded {copied} file(s) of job {job.pk} to {base}.")

    def _structures(self, user: Any, options: dict[str, Any]) -> None:
        rows = [[s["name"], str(s["atoms"]), s["description"]] for s in structures.catalogue()]
        self.stdout.write(table(rows, ["NAME", "ATOMS", "DESCRIPTION"]))


def acting_user(name: str | None) -> Any:
    """The user the CLI acts as: --user, else $CHUNGUS_JOBS_USER, else 'operator' (a
    superuser with an unusable password, created if missing)."""
    name = name or os.environ.get("CHUNGUS_JOBS_USER") or None
    users = get_user_model().objects
    field = users.model.USERNAME_FIELD
    user = users.filter(**{field: name or OPERATOR}).first()
    if user is None and name is None:
        try:
            user = users.create_superuser(**{field: OPERATOR}, email="", password=None)
        except IntegrityError:  # another command created it a moment ago
            user = users.get(**{field: OPERATOR})
    if user is None:
        raise submit.JobRefused(f"no user named {name!r}", 400, "user")
    if not user.is_active:
        raise submit.JobRefused(f"the user {name!r} is deactivated", 403, "user")
    return user
