"""The Ray actors that run one engine on whichever node Ray placed them.

Kept apart from the launcher so that Ray's workers import only this small module.

- EngineActor runs the engine as a child process. Ray sets CUDA_VISIBLE_DEVICES
  for the GPUs it gave the actor; the engine inherits it.
- JobActor runs a job (port 0) as a child process that it starts as soon as Ray has
  placed it: the actor is detached, so Ray creates it even if the CHUNGUS that asked
  has ended meanwhile, and a restarted CHUNGUS finds it by name.
- InProcessEngineActor runs a Python engine (vLLM across GPUs) inside the actor's
  own process. vLLM uses the caller's placement group only when the process that
  parses its arguments is a Ray actor (`is_in_ray_actor()` in vllm/engine/arg_utils.py);
  a child process would be a new Ray driver, which belongs to no placement group,
  and vLLM would reserve a second set of GPUs next to the ones we hold.
"""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import socket
import subprocess
import sys
import traceback
from collections.abc import Callable, MutableMapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import IO, Any

from chungus.lib.child_env import allowed, child_env, operator_names
from chungus.lib.children import die_with_parent


class EngineActor:
    """`env` is what the spec sets; `pass_env` names what it needs of this node's environment
    beyond the allow-list (chungus.lib.child_env), which is all else the engine gets."""

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: str, pass_env: Sequence[str] = ()
    ) -> None:
        self.command = command
        self.env = env
        self.pass_env = list(pass_env)
        self.log_path = Path(log_path)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        """Start the engine; return where it runs."""
        with _open_log(self.log_path) as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(os.environ, self.env, self.pass_env),
                preexec_fn=die_with_parent,
            )
        return self.status()

    def status(self) -> dict[str, Any]:
        code = self.process.poll() if self.process is not None else None
        return {
            "host": _node_ip(),
            "pid": self.process.pid if self.process is not None else None,
            "exit_code": code,
            "gpus": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "log_tail": _tail(self.log_path) if code is not None else "",
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class JobActor(EngineActor):
    """A job's process, in its directory and a session of its own (the signals reach its
    children too); `end` stops it with SIGTERM and, after a grace, SIGKILL."""

    def __init__(
        self,
        command: list[str],
        env: dict[str, str],
        log_path: str,
        cwd: str,
        pass_env: Sequence[str] = (),
    ) -> None:
        super().__init__(command, env, log_path, pass_env)
        self.cwd = cwd
        self.start()

    def start(self) -> dict[str, Any]:
        if self.process is not None:
            return self.status()
        with _open_log(self.log_path) as log:
            self.process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(os.environ, self.env, self.pass_env),
                cwd=self.cwd or None,
                start_new_session=True,
                preexec_fn=die_with_parent,  # the actor killed: the job gets SIGTERM, saves
            )
        return self.status()

    def end(self, grace: float) -> dict[str, Any]:
        """SIGTERM the job, SIGKILL it after `grace` seconds; return its status once ended."""
        process = self.process
        if process is not None and process.poll() is None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
        return self.status()


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
        os.killpg(pid, signum)


class InProcessEngineActor:
    """Call `where()` first, then `serve()`: it holds the actor until the engine ends.

    The actor has one thread (Ray runs its tasks on the process's main thread), so the
    engine can install its signal handlers; while it serves, the actor answers nothing
    else, and it is stopped by `ray.kill` and by removing its placement group.
    """

    def __init__(
        self, command: list[str], env: dict[str, str], log_path: str, pass_env: Sequence[str] = ()
    ) -> None:
        self.command = command
        self.env = env
        self.pass_env = list(pass_env)
        self.log_path = Path(log_path)

    def where(self) -> dict[str, Any]:
        return {"host": _node_ip(), "pid": os.getpid()}

    def serve(self) -> int:
        """Run the engine until it ends; return its exit code."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log, 1)  # this process is the engine's now: its output goes to the log
        os.dup2(log, 2)
        keep_only_engine_env(os.environ, self.env, self.pass_env)
        try:
            main, argv = in_process_entry(self.command)
            sys.argv = argv
            main()
        except SystemExit as exc:
            if exc.code is None or isinstance(exc.code, int):
                return exc.code or 0
            print(exc.code, file=sys.stderr)
            return 1
        except BaseException:
            traceback.print_exc()
            return 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
        return 0

    def tail(self) -> str:
        return _tail(self.log_path)


def keep_only_engine_env(
    environ: MutableMapping[str, str], own: dict[str, str], pass_env: Sequence[str]
) -> None:
    """Make this process's environment the engine's: the allow-list (chungus.lib.child_env),
    Ray's own RAY_* (vLLM joins the cluster from here), then the spec's variables."""
    names = {*pass_env, *operator_names(environ)}
    for name in list(environ):
        if not (allowed(name, names) or name.startswith("RAY_")):
            del environ[name]
    environ.update(own)


def _open_log(path: Path) -> IO[bytes]:
    """Open a log for appending; created readable by its user only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")


def in_process_entry(command: list[str]) -> tuple[Callable[[], object], list[str]]:
    """What to call, and the sys.argv to give it, to run a command in this process:
    `python -m MODULE ...` or a Python console script such as `vllm serve ...`."""
    if len(command) >= 3 and command[1] == "-m":
        module = command[2]
        return lambda: runpy.run_module(module, run_name="__main__", alter_sys=True), [
            module,
            *command[3:],
        ]
    program = Path(command[0]).name if command else ""
    for script in entry_points(group="console_scripts", name=program):
        return script.load(), [program, *command[1:]]
    raise ValueError(
        f"{program or 'an empty command'} is neither `python -m MODULE` nor a Python console "
        "script installed on this Ray node: it cannot run inside the Ray actor"
    )


def _node_ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())
    except Exception:  # outside Ray (unit tests)
        return socket.gethostbyname(socket.gethostname())


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
