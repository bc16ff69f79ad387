"""Speaking to Ollama in its native API (`/api/chat`, `/api/generate`), from and to OpenAI's.

Requests: OpenAI sampling fields move into Ollama's `options`, message parts
become `content` plus base64 `images`, tool calls get their arguments as
objects. Answers: Ollama's JSON becomes `chat.completion` / `text_completion`
(answers.py), and its NDJSON stream becomes OpenAI server-sent events (stream.py).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import orjson

from chungus.engines.adapter import EngineAdapter, EngineRequest, StreamTranslator
from chungus.engines.ollama.answers import (
    CHAT,
    created_of,
    finish_reason,
    new_id,
    openai_message,
    usage_of,
)
from chungus.engines.ollama.stream import OllamaStream

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
# Settings a request may send that change the loaded model for everyone using it: how long
# it stays loaded, and load-time options, which make Ollama reload it with theirs.
SHARED_TOP_LEVEL = frozenset({"keep_alive", "num_ctx"})
SHARED_OPTIONS = frozenset(
    {
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "use_mmap",
        "use_mlock",
        "numa",
        "low_vram",
        "f16_kv",
        "vocab_only",
        "logits_all",
        "num_gqa",
        "rope_frequency_base",
        "rope_frequency_scale",
    }
)
_MODEL_NOT_FOUND = re.compile(r"model ['\"].*['\"] not found")


class OllamaAdapter(EngineAdapter):
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

    def without_shared_settings(self, body: dict[str, Any]) -> dict[str, Any]:
        options = body.get("options")
        shared_options = isinstance(options, dict) and not SHARED_OPTIONS.isdisjoint(options)
        if SHARED_TOP_LEVEL.isdisjoint(body) and not shared_options:
            return body
        kept = {k: v for k, v in body.items() if k not in SHARED_TOP_LEVEL}
        if shared_options:
            assert isinstance(options, dict)
            kept["options"] = {k: v for k, v in options.items() if k not in SHARED_OPTIONS}
        return kept

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


def ollama_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function") or {}
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        # an unparsable string stays as it is: Ollama will say what it makes of it
        with contextlib.suppress(orjson.JSONDecodeError):
            arguments = orjson.loads(arguments) if arguments.strip() else {}
    return {"function": {"name": function.get("name", ""), "arguments": arguments or {}}}
