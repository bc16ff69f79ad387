"""protollm's formats, read and written (pure): the bodies of its job API (`/generate`,
`/chat_completion`), the task messages its backend publishes to RabbitMQ, and the job status
and answer records its workers write into Redis.

From protollm's public repository (aimclub/protollm-api): a request is
`{job_id, priority, meta: {temperature, tokens_limit, stop_words, model}, content}` or, for a
chat, `messages` instead of `content`; the message is a Celery-like envelope whose `kwargs`
are `{"prompt": <request>, "prompt_type": "single_generation" | "chat_completion"}`; the status
record is `{status, last_update, status_message, is_completed, error: {type, msg}}` (older
workers put `result` in it too), the answer record `{"result": text}`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson

from chungus.lib.openai_errors import InvalidRequest

GENERATE, CHAT = "single_generation", "chat_completion"
PENDING, IN_PROGRESS, COMPLETED, ERROR = "pending", "in_progress", "completed", "error"
DEFAULT_TOKENS_LIMIT = 8096  # protollm's own default for meta.tokens_limit
DEFAULT_TEMPERATURE = 0.2
MAX_JOB_ID = 200
# protollm's error types (JobStatusErrorType), by the HTTP status of the failure
ERROR_TYPES = {400: "ValidationError", 404: "ValidationError", 422: "ValidationError",
               502: "ConnectionError", 503: "ConnectionError", 504: "TimeoutError"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PromptJob:
    """One protollm job, as CHUNGUS runs it: a chat completion for `model` (None: the
    default one) with the options of its `meta`."""

    job_id: str
    kind: str  # GENERATE or CHAT
    priority: int | None
    model: str | None
    messages: list[dict[str, str]]
    temperature: float | None
    tokens_limit: int | None
    stop_words: list[str] | None

    def chat_body(self, model: str, cap: int = 0) -> dict[str, Any]:
        """The /v1/chat/completions body that answers it. `tokens_limit` is the most it may
        write (protollm's default, 8096, is above most models' caps): bounded by the model's
        output cap `cap` (0: none) instead of refused over it."""
        body: dict[str, Any] = {"model": model, "messages": self.messages}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.tokens_limit is not None:
            body["max_tokens"] = min(self.tokens_limit, cap) if cap else self.tokens_limit
        if self.stop_words:
            body["stop"] = self.stop_words
        return body


def _field(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> Any:
    value = body.get(name)
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        raise InvalidRequest(f"'{name}' must be {what}.", param=name)
    return value


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("meta", {})
    if not isinstance(meta, dict):
        raise InvalidRequest("'meta' must be an object.", param="meta")
    temperature = _field(meta, "temperature", (int, float), "a number")
    tokens = _field(meta, "tokens_limit", (int,), "a whole number")
    if tokens is not None and tokens < 1:
        raise InvalidRequest("'tokens_limit' must be at least 1.", param="tokens_limit")
    stop = _field(meta, "stop_words", (list,), "a list of strings")
    if stop is not None and not all(isinstance(word, str) for word in stop):
        raise InvalidRequest("'stop_words' must be a list of strings.", param="stop_words")
    model = _field(meta, "model", (str,), "a string")
    return {
        "temperature": DEFAULT_TEMPERATURE if "temperature" not in meta else temperature,
        "tokens_limit": DEFAULT_TOKENS_LIMIT if "tokens_limit" not in meta else tokens,
        "stop_words": stop,
        "model": model or None,
    }


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    for message in messages:
        if not (
            isinstance(message, dict)
            and isinstance(message.get("role"), str)
            and isinstance(message.get("content"), str)
        ):
            raise InvalidRequest(
                "Each message must be an object with a string 'role' and 'content'.",
                param="messages",
            )
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def parse_job(body: Any, kind: str) -> PromptJob:
    """The job of a `/generate` (GENERATE) or `/chat_completion` (CHAT) body; InvalidRequest
    naming the field when it is not one."""
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.")
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise InvalidRequest("'job_id' must be a non-empty string.", param="job_id")
    if len(job_id) > MAX_JOB_ID:
        raise InvalidRequest(f"'job_id' is longer than {MAX_JOB_ID} characters.", param="job_id")
    priority = _field(body, "priority", (int,), "a whole number")
    meta = _meta(body)
    if kind == GENERATE:
        content = body.get("content")
        if not isinstance(content, str):
            raise InvalidRequest("'content' must be a string.", param="content")
        messages = [{"role": "user", "content": content}]  # as protollm turns it into a chat
    else:
        messages = _messages(body)
    return PromptJob(job_id, kind, priority, meta["model"], messages, meta["temperature"],
                     meta["tokens_limit"], meta["stop_words"])  # fmt: skip


def parse_task(raw: bytes) -> PromptJob:
    """The job of a task message from protollm's backend; InvalidRequest when it is not one."""
    try:
        task = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The message is not JSON.") from None
    kwargs = task.get("kwargs") if isinstance(task, dict) else None
    if not isinstance(kwargs, dict):
        raise InvalidRequest("The message has no 'kwargs' object.", param="kwargs")
    kind = kwargs.get("prompt_type")
    if kind not in (GENERATE, CHAT):
        raise InvalidRequest(
            f"'prompt_type' must be '{GENERATE}' or '{CHAT}'.", param="prompt_type"
        )
    return parse_job(kwargs.get("prompt"), kind)


def task_job_id(raw: bytes) -> str | None:
    """The job id of a message, as far as one can be read (to report a bad message)."""
    try:
        task = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(task, dict):
        return None
    kwargs = task.get("kwargs")
    prompt = kwargs.get("prompt") if isinstance(kwargs, dict) else None
    job_id = prompt.get("job_id") if isinstance(prompt, dict) else None
    if not isinstance(job_id, str):
        job_id = task.get("id")
    return job_id if isinstance(job_id, str) and 0 < len(job_id) <= MAX_JOB_ID else None


def choose_model(job: PromptJob, default: str | None, known: set[str]) -> str:
    """The model that answers the job: its own, else `default`, else the only one served."""
    if job.model:
        return job.model
    if default:
        return default
    if len(known) == 1:
        return next(iter(known))
    raise InvalidRequest(
        "'meta.model' is needed: CHUNGUS serves more than one model.", param="model"
    )


def content_of(answer: Any) -> str:
    """The text of a chat completion's first choice ('' when it said nothing)."""
    try:
        text = answer["choices"][0]["message"].get("content")
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""
    return text if isinstance(text, str) else ""


def error_of(status: int, answer: Any) -> dict[str, str]:
    """protollm's `{type, msg}` for a failed answer (OpenAI's envelope in `answer`)."""
    message = ""
    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
        message = str(answer["error"].get("message") or "")
    return {"type": ERROR_TYPES.get(status, "Exception"), "msg": message or f"HTTP {status}"}


def stamp(now: float) -> str:
    """protollm's `last_update`: local time to the second, ISO without a zone."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(now))


def status_record(
    status: str,
    message: str,
    now: float,
    *,
    result: str | None = None,
    error: dict[str, str] | None = None,
) -> bytes:
    """A job status record as protollm's workers write it."""
    done = status in (COMPLETED, ERROR)
    record = {"status": status, "last_update": stamp(now), "status_message": message,
              "is_completed": done, "result": result, "error": error}  # fmt: skip
    return orjson.dumps(record)


def answer_record(result: str) -> bytes:
    return orjson.dumps({"result": result})


def async_response(job_id: str, status: str, content: str | None, error: Any) -> dict[str, Any]:
    """protollm's answer to a status check (AsyncResponseModel): the error as one string."""
    text = None
    if error:
        text = f"{error.get('type', 'Exception')}: {error.get('msg', '')}"
    return {"job_id": job_id, "job_status": status, "content": content, "error": text}


def amqp_url(env: dict[str, str]) -> str:
    """RabbitMQ's URL: RABBITMQ_URL, else from protollm's own RABBIT_MQ_* variables."""
    if env.get("RABBITMQ_URL"):
        return env["RABBITMQ_URL"]
    user, password = env.get("RABBIT_MQ_LOGIN", "guest"), env.get("RABBIT_MQ_PASSWORD", "guest")
    host, port = env.get("RABBIT_MQ_HOST", "127.0.0.1"), env.get("RABBIT_MQ_PORT", "5672")
    return f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"


def redis_url(env: dict[str, str]) -> str:
    """protollm's Redis: PROTOLLM_REDIS_URL, else REDIS_HOST/REDIS_PORT, else REDIS_URL."""
    if env.get("PROTOLLM_REDIS_URL"):
        return env["PROTOLLM_REDIS_URL"]
    if env.get("REDIS_HOST"):
        return f"redis://{env['REDIS_HOST']}:{env.get('REDIS_PORT', '6379')}/0"
    return env.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
