"""A STAND-IN for fah-client v8 (the Folding@Home client), for tests: the real client
cannot be installed on this machine. It is not Folding@Home and folds nothing.

What it copies of the real client, as far as CHUNGUS uses it:
- options `--config=FILE` (cbang's `<config><NAME v="VALUE"/></config>`) and
  `--http-addresses=HOST:PORT`; it works in its working directory and logs to log.txt
  there (the passkey, like the real client's obscured option, is never logged);
- a WebSocket at /api/websocket that sends its state on connect (info.gpus: one GPU per
  CUDA_VISIBLE_DEVICES entry, with a "cuda" entry, plus one GPU on the PCI bus that no
  CUDA library showed it) and takes "config" and "state" commands;
- a "core" child process, as the client starts a FahCore per work unit; this one runs in
  a session of its own and ignores SIGTERM, and the stand-in leaves it running when it
  exits: the worst case, a core that outlives its client and would keep the GPU busy
  (it ends by itself after CORE_SECONDS, so a failed test leaks nothing for long);
- SIGTERM or SIGINT: a clean exit with code 0, at once (the real client waits for its
  cores to stop).

For the tests to see what happened, it also writes fah-standin.json (its pid, argv,
CUDA_VISIBLE_DEVICES, the user and team it read, a SHA-256 of the passkey) and appends the
commands it received to fah-standin-commands.jsonl.

`install(directory)` writes an executable `fah-client` script running it, for
CHUNGUS_FAH_BINARY.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

STATE_FILE = "fah-standin.json"
COMMANDS_FILE = "fah-standin-commands.jsonl"
LOG_FILE = "log.txt"
OTHER_GPU = "gpu:99:00:00"  # on the PCI bus, not ours: the runner must not enable it
CORE_SECONDS = 120
CORE = f"""
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep({CORE_SECONDS})
"""


def install(directory: Path) -> Path:
    """An executable `fah-client` in `directory` that runs this stand-in."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "fah-client"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} -m chungus.testing.fah_standin "$@"\n')
    script.chmod(0o755)
    return script


def options(argv: list[str]) -> dict[str, str]:
    """`--name=value` and `--name value` options (cbang accepts both)."""
    found: dict[str, str] = {}
    words = iter(argv)
    for word in words:
        if word.startswith("--"):
            name, _, value = word[2:].partition("=")
            found[name] = value if "=" in word else next(words, "")
    return found


def read_config(path: Path) -> dict[str, str]:
    root = ElementTree.parse(path).getroot()
    return {child.tag: child.get("v", child.get("value", "")) for child in root}


def log(line: str) -> None:
    with open(LOG_FILE, "a") as handle:
        handle.write(f"{time.strftime('%H:%M:%S')}:I1:{line}\n")


def gpus_state(visible: str) -> dict[str, Any]:
    indices = [int(part) for part in visible.split(",") if part.strip()]
    gpus: dict[str, Any] = {}
    for device, index in enumerate(indices):
        cuda = {"platform": 0, "device": device}
        gpus[f"gpu:{index + 1:02d}:00:00"] = {"description": f"GPU {index}", "cuda": cuda}
    gpus[OTHER_GPU] = {"description": "a GPU no CUDA library showed", "supported": True}
    return gpus


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    state = {"info": {"version": "stand-in", "gpus": request.app["gpus"]}, "groups": {}}
    await ws.send_json(state)
    async for message in ws:
        if message.type is not WSMsgType.TEXT:
            break
        with open(COMMANDS_FILE, "a") as handle:
            handle.write(message.data.strip() + "\n")
        command = json.loads(message.data)
        log(f"command {command.get('cmd')} {command.get('state', '')} {command.get('group', '')}")
    return ws


async def serve(argv: list[str]) -> int:
    said = options(argv)
    config = read_config(Path(said.get("config", "config.xml")))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    passkey = config.get("passkey", "")
    core = subprocess.Popen([sys.executable, "-c", CORE], start_new_session=True)
    record = {
        "pid": os.getpid(), "core_pid": core.pid, "argv": argv, "cwd": os.getcwd(),
        "cuda_visible_devices": visible,
        "user": config.get("user"), "team": config.get("team"), "cpus": config.get("cpus"),
        "passkey_sha256": hashlib.sha256(passkey.encode()).hexdigest() if passkey else "",
        "started": time.time(),
    }  # fmt: skip
    Path(STATE_FILE).write_text(json.dumps(record))
    log(f"stand-in fah-client started: user {record['user']}, team {record['team']}")
    app = web.Application()
    app["gpus"] = gpus_state(visible)
    app.router.add_get("/api/websocket", websocket)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    host, _, port = said.get("http-addresses", "127.0.0.1:7396").rpartition(":")
    await web.TCPSite(runner, host, int(port)).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        log("folding (stand-in: nothing is computed)")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    for sig in (signal.SIGTERM, signal.SIGINT):  # a second one while it shuts down: ignored
        loop.remove_signal_handler(sig)
        signal.signal(sig, signal.SIG_IGN)
    log("Clean exit")
    await runner.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(serve(sys.argv[1:])))
