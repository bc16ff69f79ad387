"""The few Ollama API calls a replica's wrapper makes, blocking, with the standard library.

The wrapper runs on whichever node the launcher chose (a Slurm job, a Ray actor),
so it needs nothing beyond Python itself. Errors arrive two ways and both raise
OllamaError: an HTTP error status with `{"error": …}`, or, once a stream has
begun, a line `{"error": …}` in the stream.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1024 * 1024


class OllamaError(RuntimeError):
    """Ollama refused a request or reported an error in its stream."""


class OllamaApi:
    def __init__(self, url: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def running(self) -> bool:
        """True when `GET /` answers 200 ("Ollama is running")."""
        try:
            with urllib.request.urlopen(self.url + "/", timeout=2) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def has_model(self, name: str) -> bool:
        status, _ = self._call("POST", "/api/show", {"model": name}, allow=(404,))
        return status == 200

    def pull(self, name: str) -> Iterator[dict[str, Any]]:
        """Download a model from the library; yields Ollama's progress lines."""
        return self._stream("/api/pull", {"model": name, "stream": True})

    def has_blob(self, digest: str) -> bool:
        status, _ = self._call("HEAD", f"/api/blobs/{digest}", None, allow=(404,))
        return status == 200

    def push_blob(self, digest: str, path: Path) -> None:
        """Upload a file as a blob (streamed from disk, never held in memory)."""
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=self.timeout)
        try:
            size = path.stat().st_size
            connection.putrequest("POST", f"/api/blobs/{digest}")
            connection.putheader("Content-Length", str(size))
            connection.endheaders()
            with path.open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    connection.send(chunk)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status not in (200, 201):
            raise OllamaError(_message(body, response.status))

    def create(self, name: str, files: dict[str, str]) -> Iterator[dict[str, Any]]:
        """Create a model from uploaded blobs (`files`: file name -> digest)."""
        return self._stream("/api/create", {"model": name, "files": files, "stream": True})

    def copy(self, source: str, destination: str) -> None:
        self._call("POST", "/api/copy", {"source": source, "destination": destination})

    def delete(self, name: str) -> None:
        """Delete a model; one that does not exist is fine."""
        self._call("DELETE", "/api/delete", {"model": name}, allow=(404,))

    def load(self, name: str, timeout: float) -> None:
        """Load the model into memory for good (a generate without a prompt)."""
        body = {"model": name, "keep_alive": -1, "stream": False}
        self._call("POST", "/api/generate", body, timeout=timeout)

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        allow: tuple[int, ...] = (),
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        request = self._request(method, path, body)
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                return int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            text = exc.read()
            if exc.code in allow:
                return exc.code, text
            raise OllamaError(_message(text, exc.code)) from None

    def _stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        request = self._request("POST", path, body)
        try:
            # No read timeout: a pull may go quiet while Ollama verifies gigabytes.
            response = urllib.request.urlopen(request, timeout=None)
        except urllib.error.HTTPError as exc:
            raise OllamaError(_message(exc.read(), exc.code)) from None
        with response:
            for line in response:
                if not line.strip():
                    continue
                event = json.loads(line)
                if "error" in event:
                    raise OllamaError(str(event["error"]))
                yield event

    def _request(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> urllib.request.Request:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        return urllib.request.Request(self.url + path, data=data, method=method, headers=headers)


def _message(body: bytes, status: int) -> str:
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):  # the OpenAI-style routes nest it
        error = error.get("message")
    return str(error or body.decode(errors="replace").strip() or f"HTTP {status}")


def sha256_digest(path: Path) -> str:
    """Ollama's name for a file's blob: `sha256:<hex>`."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"
