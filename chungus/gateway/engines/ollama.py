"""Ollama's native API (`/api/chat`, `/api/generate`), translated to and from OpenAI's.

Requests: OpenAI sampling fields move into Ollama's `options`, message parts
become `content` plus base64 `images`, tool calls get their arguments as
objects. Answers: Ollama's JSON becomes `chat.completion` / `text_completion`,
and its NDJSON stream becomes OpenAI server-sent events, ending with a usage
chunk and `[DONE]` (Ollama always reports its token counts on the last line).
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from datetime import datetime
from typing import Any

import orjson

from chungus.gateway.engines.base import EngineAdapter, EngineRequest, StreamTranslator
from chungus.gateway.sse import error_event
from chungus.lib.openai_errors import BadGateway

CHAT = "chat/completions"

# OpenAI request field -> Ollama option
_OPTIONS = {
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "max_tokens": "num_predict",
    "max_completion_tokens": "num_predict",  # named second so it wins over max_tokens
}
# Ollama options a client may send as top-level extras (e.g. the OpenAI SDK's extra_body)
_NATIVE_OPTIONS = (
    "top_k",
    "min_p",
    "typical_p",
    "repeat_penalty",
    "repeat_last_n",
    "num_ctx",
    "num_keep",
    "mirostat",
    "mirostat_tau",
    "mirostat_eta",
)
_NATIVE_TOP_LEVEL = ("keep_alive", "think")
_FINISH = {"stop": "stop", "length": "length"}
_MODEL_NOT_FOUND = re.compile(r"model ['\"].*['\"] not found")
_DONE = b"data: [DONE]\n\n"


class OllamaAdapter(EngineAdapter):
    name = "ollama"
    health_path = "/api/version"  # a cheap 200 with JSON on every Ollama
    paths_from_root = True

    def request(
        self, endpoint: str, body: dict[str, Any], raw: bytes, upstream_model: str, stream: bool
    ) -> EngineRequest:
        out: dict[str, Any] = {"model": upstream_model or body.get("model"), "stream": stream}
        if endpoint == CHAT:
            out["messages"] = chat_messages(body.get("messages") or [])
            if body.get("tools") and body.get("tool_choice") != "none":
                out["tools"] = body["tools"]
            path = "/api/chat"
        else:
            out.update(generate_fields(body))
            path = "/api/generate"
        out_format = response_format(body.get("response_format"))
        if out_format is not None:
            out["format"] = out_format
        for key in _NATIVE_TOP_LEVEL:
            if key in body:
                out[key] = body[key]
        options = request_options(body)
        if options:
            out["options"] = options
        return EngineRequest(path, orjson.dumps(out))

    def response(self, endpoint: str, data: dict[str, Any], model: str) -> dict[str, Any]:
        if endpoint == CHAT:
            message = openai_message(data.get("message") or {})
            finish = finish_reason(data.get("done_reason"), bool(message.get("tool_calls")))
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            head = {"id": new_id("chatcmpl"), "object": "chat.completion"}
        else:
            finish = finish_reason(data.get("done_reason"), False)
            text = data.get("response") or ""
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
            head = {"id": new_id("cmpl"), "object": "text_completion"}
        return {
            **head,
            "created": created_of(data.get("created_at")),
            "model": model or data.get("model", ""),
            "choices": [choice],
            "usage": usage_of(data),
        }

    def stream(self, endpoint: str, model: str) -> StreamTranslator:
        return OllamaStream(endpoint, model)

    def error(self, status: int, data: bytes) -> tuple[int, bytes]:
        """Ollama's `{"error": "..."}` is read as is; an unknown model is always a 404."""
        try:
            message = orjson.loads(data).get("error")
        except (orjson.JSONDecodeError, AttributeError):
            return status, data
        if isinstance(message, str) and _MODEL_NOT_FOUND.search(message):
            return 404, data
        return status, data


class OllamaStream(StreamTranslator):
    """Ollama's NDJSON lines in; OpenAI's chunk events (chat or text completion) out."""

    def __init__(self, endpoint: str, model: str) -> None:
        self.chat = endpoint == CHAT
        self.model = model
        self.id = new_id("chatcmpl" if self.chat else "cmpl")
        self.created = int(time.time())
        self.buffer = b""
        self.started = False
        self.finished = False
        self.tool_calls = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        *lines, self.buffer = (self.buffer + chunk).split(b"\n")
        return [event for line in lines for event in self._line(line)]

    def end(self) -> list[bytes]:
        rest, self.buffer = self.buffer, b""
        return self._line(rest)

    def _line(self, line: bytes) -> list[bytes]:
        if self.finished or not line.strip():
            return []
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError:
            return []  # not a line of Ollama's; nothing a client could use
        if not isinstance(data, dict):
            return []
        if "error" in data:
            self.finished = True
            message = f"The model backend failed: {data['error']}"
            return [error_event(BadGateway(message).envelope())]
        events = [self._event(delta) for delta in self._deltas(data)]
        if data.get("done"):
            self.finished = True
            finish = finish_reason(data.get("done_reason"), self.tool_calls > 0)
            events.append(self._event({} if self.chat else "", finish))
            events.append(self._usage(usage_of(data)))
            events.append(_DONE)
        return events

    def _deltas(self, data: dict[str, Any]) -> list[dict[str, Any] | str]:
        """The content a line carries, as chat deltas or completion texts."""
        if not self.chat:
            text = data.get("response")
            return [text] if isinstance(text, str) and text else []
        deltas: list[dict[str, Any] | str] = []
        if not self.started:
            self.started = True
            deltas.append({"role": "assistant", "content": ""})
        message = data.get("message") or {}
        if message.get("thinking"):
            deltas.append({"reasoning_content": message["thinking"]})
        if message.get("content"):
            deltas.append({"content": message["content"]})
        calls = message.get("tool_calls") or []
        if calls:
            first, self.tool_calls = self.tool_calls, self.tool_calls + len(calls)
            chunks = [
                {"index": first + i, **openai_tool_call(call)} for i, call in enumerate(calls)
            ]
            deltas.append({"tool_calls": chunks})
        return deltas

    def _event(self, delta: dict[str, Any] | str, finish: str | None = None) -> bytes:
        if isinstance(delta, dict):
            choice: dict[str, Any] = {"index": 0, "delta": delta}
        else:
            choice = {"text": delta, "index": 0}
        choice.update(logprobs=None, finish_reason=finish)
        return self._sse({"choices": [choice]})

    def _usage(self, usage: dict[str, int]) -> bytes:
        return self._sse({"choices": [], "usage": usage})

    def _sse(self, fields: dict[str, Any]) -> bytes:
        obj = "chat.completion.chunk" if self.chat else "text_completion"
        head = {"id": self.id, "object": obj, "created": self.created, "model": self.model}
        return b"data: " + orjson.dumps({**head, **fields}) + b"\n\n"


def chat_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """OpenAI's messages in Ollama's shape (text content, base64 images, object arguments)."""
    names: dict[str, str] = {}  # tool_call_id -> function name, for Ollama's tool_name
    out = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content, images = split_content(message.get("content"))
        converted: dict[str, Any] = {
            "role": "system" if role == "developer" else role,
            "content": content,
        }
        if images:
            converted["images"] = images
        calls = message.get("tool_calls") or []
        if calls:
            converted["tool_calls"] = [ollama_tool_call(call) for call in calls]
            names.update({c.get("id", ""): c.get("function", {}).get("name", "") for c in calls})
        if role == "tool" and names.get(message.get("tool_call_id") or ""):
            converted["tool_name"] = names[message["tool_call_id"]]
        out.append(converted)
    return out


def split_content(content: Any) -> tuple[str, list[str]]:
    """Return a message's text and its images (base64, from `data:` URLs)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts, images = [], []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            texts.append(str(part.get("text", "")))
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            # Ollama wants bare base64; anything else goes as is, for Ollama to refuse aloud
            images.append(url.split(",", 1)[1] if url.startswith("data:") and "," in url else url)
    return "\n".join(texts), images  # "\n" between parts, as vLLM joins them


def generate_fields(body: dict[str, Any]) -> dict[str, Any]:
    """The `/api/generate` fields for an OpenAI completions request."""
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        prompt = "".join(p for p in prompt if isinstance(p, str))
    fields: dict[str, Any] = {"prompt": prompt}
    if body.get("suffix"):
        fields["suffix"] = body["suffix"]
    # OpenAI completions continue the text as given (llama-server and vLLM apply no
    # chat template), so send raw unless the client chose, or fill-in-middle needs the template.
    fields["raw"] = body.get("raw", not body.get("suffix"))
    return fields


def response_format(value: Any) -> Any:
    """Ollama's `format` for OpenAI's `response_format` (None: leave it out)."""
    if not isinstance(value, dict):
        return None
    if value.get("type") == "json_object":
        return "json"
    if value.get("type") == "json_schema":
        return (value.get("json_schema") or {}).get("schema")
    return None


def request_options(body: dict[str, Any]) -> dict[str, Any]:
    """Ollama's `options`: OpenAI fields mapped, native extras kept, the client's `options` last."""
    options = {
        ours: body[theirs] for theirs, ours in _OPTIONS.items() if body.get(theirs) is not None
    }
    stop = body.get("stop")
    if stop:
        options["stop"] = [stop] if isinstance(stop, str) else list(stop)
    options.update({key: body[key] for key in _NATIVE_OPTIONS if key in body})
    if isinstance(body.get("options"), dict):
        options.update(body["options"])
    return options


def openai_message(message: dict[str, Any]) -> dict[str, Any]:
    calls = message.get("tool_calls") or []
    # OpenAI sends null content beside tool calls; Ollama sends ""
    content = message.get("content") or (None if calls else "")
    out: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
    if message.get("thinking"):
        out["reasoning_content"] = message["thinking"]
    if calls:
        out["tool_calls"] = [openai_tool_call(call) for call in calls]
    return out


def openai_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        arguments = orjson.dumps(arguments if arguments is not None else {}).decode()
    return {
        "id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": function.get("name", ""), "arguments": arguments},
    }


def ollama_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # an unparsable string stays as it is: Ollama will say what it makes of it
        with contextlib.suppress(orjson.JSONDecodeError):
            arguments = orjson.loads(arguments) if arguments.strip() else {}
    return {"function": {"name": function.get("name", ""), "arguments": arguments or {}}}


def finish_reason(done_reason: Any, called_tools: bool) -> str:
    if called_tools:
        return "tool_calls"
    return _FINISH.get(str(done_reason), "stop")  # also "load", "unload" and older Ollamas' none


def usage_of(data: dict[str, Any]) -> dict[str, int]:
    prompt = int(data.get("prompt_eval_count") or 0)
    completion = int(data.get("eval_count") or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def created_of(created_at: Any) -> int:
    """Unix seconds of Ollama's `created_at` (RFC 3339, nanoseconds), or now."""
    if isinstance(created_at, str):
        try:
            return int(datetime.fromisoformat(created_at).timestamp())
        except ValueError:
            pass
    return int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"
