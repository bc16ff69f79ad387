"""A fake Ollama that replays recorded responses; no model runs behind it.

No Ollama server can run where the tests run, so this serves the recordings in
`recordings/ollama/` (real responses from Ollama's documentation; see the
README there) on Ollama's own paths, echoing the requested model name. GET
/_requests lists the request bodies received, newest last, so a test can check
what reached the "engine".

Two ways to run it:

- `python -m chungus.testing.fake_ollama --port N`: every model exists except
  `missing` (Ollama's 404); `broken` gets a stream that fails midway.
- `python -m chungus.testing.fake_ollama serve`: stands in for the `ollama serve`
  command (tests put a script named `ollama` that runs this on PATH). It listens
  on OLLAMA_HOST and starts with only the models it kept in OLLAMA_MODELS: a
  model has to be pulled (`/api/pull`; its "registry" has every name but
  `missing`), created from an uploaded GGUF blob (`/api/blobs`, `/api/create`)
  or copied before `/api/chat`, `/api/generate`, `/api/show` and
  `GET /v1/models/NAME` find it. FAKE_OLLAMA_PULL_SECONDS stretches a pull's
  progress lines over that many seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shlex
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from aiohttp import web

from chungus.engines.ollama.launch import manifest_path

RECORDINGS = Path(__file__).resolve().parent / "recordings" / "ollama"
MISSING = "missing"  # the one name no registry has
_KEEP = 50


class Models:
    """The models this fake holds, on disk as Ollama keeps them in OLLAMA_MODELS
    (manifests/HOST/NAMESPACE/MODEL/TAG, blobs/sha256-HEX); with no folder, every
    model but `missing`."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self.everything = folder is None
        self._blobs: set[str] = set()  # without a folder

    def has(self, name: str) -> bool:
        if self.folder is None:
            return base(name) != MISSING
        return manifest_path(self.folder, name.lower()).is_file()

    def digest(self, name: str) -> str:
        if self.folder is None:
            return ""
        return str(json.loads(manifest_path(self.folder, name.lower()).read_text())["digest"])

    def add(self, name: str, digest: str) -> None:
        if self.folder is not None:
            path = manifest_path(self.folder, name.lower())
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"digest": digest}))

    def remove(self, name: str) -> bool:
        if self.folder is None:
            return self.has(name)
        path = manifest_path(self.folder, name.lower())
        if not path.is_file():
            return False
        path.unlink()
        return True

    def names(self) -> list[str]:
        if self.folder is None:
            return []
        found = []
        for path in sorted(self.folder.glob("manifests/*/*/*/*")):
            host, namespace, model, tag = path.parts[-4:]
            prefix = "" if host == "registry.ollama.ai" else f"{host}/"
            prefix += "" if namespace == "library" and not prefix else f"{namespace}/"
            found.append(f"{prefix}{model}:{tag}")
        return found

    def has_blob(self, digest: str) -> bool:
        if self.folder is None:
            return digest in self._blobs
        return (self.folder / "blobs" / digest.replace(":", "-")).is_file()

    def add_blob(self, digest: str) -> None:
        if self.folder is None:
            self._blobs.add(digest)
            return
        (self.folder / "blobs").mkdir(parents=True, exist_ok=True)
        (self.folder / "blobs" / digest.replace(":", "-")).touch()  # the fake keeps no weights


MODELS = web.AppKey("models", Models)
REQUESTS = web.AppKey("requests", list)  # the last bodies received, newest last
PULL_SECONDS = web.AppKey("pull_seconds", float)


def full_name(name: str) -> str:
    """`llama3.2` and `llama3.2:latest` are one model, as in Ollama."""
    last = name.rsplit("/", 1)[-1]
    return (name if ":" in last else f"{name}:latest").lower()


def base(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def recording(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


def _as_model(line: bytes, model: str) -> bytes:
    data = orjson.loads(line)
    if "model" in data:
        data["model"] = model
    return orjson.dumps(data)


def _not_found(model: str) -> web.Response:
    """Ollama's 404 for a model it does not have, recorded for the name `missing`."""
    body = orjson.loads(recording("error_model_not_found.json"))
    body["error"] = body["error"].replace(f"'{MISSING}'", f"'{model}'")
    return web.json_response(body, status=404)


async def _body(request: web.Request) -> dict[str, Any]:
    body: dict[str, Any] = await request.json()
    seen = request.app[REQUESTS]
    seen.append({"_path": request.path, **body})
    del seen[:-_KEEP]
    return body


async def _replay(
    request: web.Request, name: str, model: str | None = None, pause: float = 0.0
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    for line in recording(name).splitlines():
        await asyncio.sleep(pause)
        await response.write((_as_model(line, model) if model else line) + b"\n")
    await response.write_eof()
    return response


async def _infer(request: web.Request, name: str) -> web.StreamResponse:
    body = await _body(request)
    model = str(body.get("model", ""))
    if not request.app[MODELS].has(model):
        return _not_found(model)
    if name == "generate" and not body.get("prompt"):  # no prompt: load the model
        return web.Response(
            body=_as_model(recording("generate_load.json"), model), content_type="application/json"
        )
    if not body.get("stream", True):  # Ollama streams unless told not to
        recorded = "chat_tools.json" if name == "chat" and body.get("tools") else f"{name}.json"
        return web.Response(
            body=_as_model(recording(recorded), model), content_type="application/json"
        )
    recorded = f"{name}_stream_error.ndjson" if model == "broken" else f"{name}_stream.ndjson"
    if not (RECORDINGS / recorded).exists():
        recorded = f"{name}_stream.ndjson"
    return await _replay(request, recorded, model)


async def chat(request: web.Request) -> web.StreamResponse:
    return await _infer(request, "chat")


async def generate(request: web.Request) -> web.StreamResponse:
    return await _infer(request, "generate")


async def pull(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    model = str(body.get("model") or body.get("name", ""))
    found = base(model) != MISSING
    if not body.get("stream", True):
        if not found:
            return web.json_response({"error": _pull_error()}, status=500)
        request.app[MODELS].add(model, f"pulled:{full_name(model)}")
        return web.json_response({"status": "success"})
    recorded = "pull_stream.ndjson" if found else "pull_stream_error.ndjson"
    lines = len(recording(recorded).splitlines())
    response = await _replay(request, recorded, pause=request.app[PULL_SECONDS] / lines)
    if found:
        request.app[MODELS].add(model, f"pulled:{full_name(model)}")
    return response


def _pull_error() -> str:
    last = recording("pull_stream_error.ndjson").splitlines()[-1]
    return str(orjson.loads(last)["error"])


async def show(request: web.Request) -> web.Response:
    model = str((await _body(request)).get("model", ""))
    if not request.app[MODELS].has(model):
        return _not_found(model)
    return web.Response(body=recording("show.json"), content_type="application/json")


async def copy(request: web.Request) -> web.Response:
    body = await _body(request)
    models, source = request.app[MODELS], str(body.get("source", ""))
    if not models.has(source):
        return web.json_response({"error": f'model "{source}" not found'}, status=404)
    models.add(str(body["destination"]), models.digest(source))
    return web.Response()


async def delete(request: web.Request) -> web.Response:
    model = str((await _body(request)).get("model", ""))
    return web.Response() if request.app[MODELS].remove(model) else _not_found(model)


async def head_blob(request: web.Request) -> web.Response:
    found = request.app[MODELS].has_blob(request.match_info["digest"])
    return web.Response(status=200 if found else 404)


async def push_blob(request: web.Request) -> web.Response:
    expected, digest = request.match_info["digest"], hashlib.sha256()
    async for chunk in request.content.iter_chunked(1 << 20):
        digest.update(chunk)
    got = f"sha256:{digest.hexdigest()}"
    if got != expected:
        message = f"digest mismatch, expected {expected!r}, got {got!r}"
        return web.json_response({"error": message}, status=400)
    request.app[MODELS].add_blob(got)
    request.app[REQUESTS].append({"_path": request.path})
    return web.Response(status=201)


async def create(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    models, files = request.app[MODELS], dict(body.get("files") or {})
    missing = [digest for digest in files.values() if not models.has_blob(digest)]
    if not files or missing:
        return web.json_response({"error": f"no blob {missing or 'given'}"}, status=400)
    response = await _replay(request, "create_stream.ndjson")
    models.add(str(body["model"]), next(iter(files.values())))
    return response


async def openai_model(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    if not request.app[MODELS].has(model):
        error = {"message": f"model '{model}' not found", "type": "api_error", "param": None}
        return web.json_response({"error": {**error, "code": None}}, status=404)
    return web.json_response(
        {"id": model, "object": "model", "created": int(time.time()), "owned_by": "library"}
    )


async def tags(request: web.Request) -> web.Response:
    models = request.app[MODELS]
    if models.everything:
        return web.Response(body=recording("tags.json"), content_type="application/json")
    entry = orjson.loads(recording("tags.json"))["models"][0]
    listed = [{**entry, "name": name, "model": name} for name in models.names()]
    return web.json_response({"models": listed})


async def root(request: web.Request) -> web.Response:
    return web.Response(text="Ollama is running")


def _serve(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=recording(name), content_type="application/json")

    return handler


async def requests_seen(request: web.Request) -> web.Response:
    return web.json_response(request.app[REQUESTS])


def make_app(models: Models | None = None, pull_seconds: float = 0.0) -> web.Application:
    app = web.Application()
    app[MODELS] = models or Models()
    app[REQUESTS] = []
    app[PULL_SECONDS] = pull_seconds
    app.router.add_get("/", root)
    app.router.add_get("/api/version", _serve("version.json"))
    app.router.add_get("/api/tags", tags)
    app.router.add_get("/api/ps", _serve("ps.json"))
    app.router.add_post("/api/chat", chat)
    app.router.add_post("/api/generate", generate)
    app.router.add_post("/api/pull", pull)
    app.router.add_post("/api/show", show)
    app.router.add_post("/api/copy", copy)
    app.router.add_delete("/api/delete", delete)
    app.router.add_route("HEAD", "/api/blobs/{digest}", head_blob)
    app.router.add_post("/api/blobs/{digest}", push_blob)
    app.router.add_post("/api/create", create)
    app.router.add_get("/v1/models/{model:.+}", openai_model, allow_head=False)
    app.router.add_get("/_requests", requests_seen)
    return app


def write_ollama_command(folder: Path) -> Path:
    """An executable `ollama` in `folder` that runs this fake (`ollama serve` serves)."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "ollama"
    python = shlex.quote(sys.executable)
    script.write_text(f'#!/bin/sh\nexec {python} -m chungus.testing.fake_ollama "$@"\n')
    script.chmod(0o755)
    return script


def ollama_host(value: str) -> tuple[str, int]:
    """OLLAMA_HOST as Ollama reads it: [scheme://]host[:port], 127.0.0.1:11434 by default."""
    parts = urlsplit(value if "://" in value else f"http://{value}")
    return parts.hostname or "127.0.0.1", parts.port or 11434


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["serve"], help="act as `ollama serve`")
    parser.add_argument("--port", type=int, help="listen here, every model but `missing` exists")
    args = parser.parse_args()
    if args.command == "serve":
        host, port = ollama_host(os.environ.get("OLLAMA_HOST", ""))
        folder = Path(os.environ.get("OLLAMA_MODELS") or Path.home() / ".ollama" / "models")
        folder.mkdir(parents=True, exist_ok=True)
        seconds = float(os.environ.get("FAKE_OLLAMA_PULL_SECONDS") or 0)
        app = make_app(Models(folder), pull_seconds=seconds)
    elif args.port:
        host, port, app = "127.0.0.1", args.port, make_app()
    else:
        parser.error("give `serve` or --port")
    print(f"fake Ollama listening on {host}:{port}", flush=True)
    web.run_app(app, host=host, port=port, print=None)


if __name__ == "__main__":
    main()
