"""Copyable examples of the OpenAI-compatible endpoints, for the /api-docs/ page.

Pure: the base URL (the request's host) and a model name in, text out. The secret
is never in an example: each reads it from the CHUNGUS_API_KEY environment variable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True)
class Example:
    slug: str
    method: str
    path: str
    title: str
    description: str
    curl: str
    python: str


def openai_examples(base_url: str, model: str) -> list[Example]:
    """Examples for /v1/chat/completions, /v1/completions, /v1/models(/{id}) and fleet status."""
    base = base_url.rstrip("/")
    v1 = f"{base}/v1"
    chat = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in five words."}],
        "max_tokens": 32,
    }
    completion = {"model": model, "prompt": "The capital of France is", "max_tokens": 16}
    return [
        Example(
            "chat", "POST", "/v1/chat/completions", "Chat completions",
            "A conversation in, the assistant's next message out.",
            _curl_post(f"{v1}/chat/completions", chat),
            _python(v1, f"""\
reply = client.chat.completions.create(
    model={_q(model)},
    messages=[{{"role": "user", "content": "Say hello in five words."}}],
    max_tokens=32,
)
print(reply.choices[0].message.content)"""),
        ),
        Example(
            "chat-stream", "POST", "/v1/chat/completions", "Chat completions, streamed",
            'With "stream": true the answer arrives as server-sent events, token by token.',
            _curl_post(f"{v1}/chat/completions", {**chat, "stream": True}, stream=True),
            _python(v1, f"""\
stream = client.chat.completions.create(
    model={_q(model)},
    messages=[{{"role": "user", "content": "Say hello in five words."}}],
    max_tokens=32,
    stream=True,
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()"""),
        ),
        Example(
            "completions", "POST", "/v1/completions", "Completions",
            "Plain text continuation of a prompt.",
            _curl_post(f"{v1}/completions", completion),
            _python(v1, f"""\
reply = client.completions.create(
    model={_q(model)}, prompt="The capital of France is", max_tokens=16
)
print(reply.choices[0].text)"""),
        ),
        Example(
            "models", "GET", "/v1/models", "List models",
            "The models this key may use.",
            _curl_get(f"{v1}/models"),
            _python(v1, """\
for model in client.models.list():
    print(model.id)"""),
        ),
        Example(
            "model", "GET", "/v1/models/{id}", "Get one model",
            "One model by its id; 404 when it does not exist or the key may not use it.",
            _curl_get(f"{v1}/models/{quote(model)}"),
            _python(v1, f"""\
model = client.models.retrieve({_q(model)})
print(model.id, model.owned_by)"""),
        ),
        Example(
            "fleet-status", "GET", "/api/fleet/status", "Fleet status",
            "Models, backends, health, load and queue depth, live. Needs a key that a "
            "superuser owns. Not an OpenAI endpoint: the client's plain get() reaches it.",
            _curl_get(f"{base}/api/fleet/status"),
            _python(v1, f"""\
status = client.get({_q(base + "/api/fleet/status")}, cast_to=object)
print(status)"""),
        ),
    ]  # fmt: skip


def _q(text: str) -> str:
    """A Python string literal, in double quotes like the rest of the example."""
    return json.dumps(text)


def _auth() -> str:
    return '-H "Authorization: Bearer $CHUNGUS_API_KEY"'


def _curl_get(url: str) -> str:
    return f"curl {url} \\\n  {_auth()}"


def _curl_post(url: str, body: dict[str, object], *, stream: bool = False) -> str:
    flag = "-N " if stream else ""
    data = json.dumps(body).replace("'", "'\\''")
    return (
        f"curl {flag}{url} \\\n  {_auth()} \\\n"
        f"  -H \"Content-Type: application/json\" \\\n  -d '{data}'"
    )


def _python(v1: str, body: str) -> str:
    head = f"""\
import os

from openai import OpenAI

client = OpenAI(base_url={_q(v1)}, api_key=os.environ["CHUNGUS_API_KEY"])
"""
    return f"{head}\n{body}\n"
