"""The Ray actor that runs one engine process on whichever node Ray placed it.

Kept apart from the launcher so that Ray's workers import only this small module.
Ray sets CUDA_VISIBLE_DEVICES for the GPUs it gave the actor; the engine inherits it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path
from typing import Any


class EngineActor:
    def __init__(self, command: list[str], env: dict[str, str], log_path: str) -> None:
        self.command = command
        self.env = env
        self.log_path = Path(log_path)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> dict[str, Any]:
        """Start the engine; return where it runs."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
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
