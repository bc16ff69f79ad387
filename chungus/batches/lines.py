"""A batch's input file, checked line by line as OpenAI checks it (pure: no queries).

Each line is one JSON object: `custom_id` (unique in the file), `method` "POST", `url` the
batch's endpoint, `body` the request (its `model` one the key may use). A file with any bad
line fails its batch whole, before any line runs, with errors naming the line numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

MAX_ERRORS = 100  # reported; the count of bad lines is still told
MAX_CUSTOM_ID = 512


@dataclass(frozen=True, slots=True)
class Line:
    number: int  # 1-based, as editors count
    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LineError:
    code: str
    message: str
    line: int | None = None
    param: str | None = None

    def object(self) -> dict[str, Any]:
        """OpenAI's BatchError."""
        return {"code": self.code, "message": self.message, "param": self.param,
                "line": self.line}  # fmt: skip


def check_lines(
    raw: Iterable[bytes], endpoint: str, model_ok: Callable[[str], str | None], max_lines: int
) -> tuple[list[Line], list[LineError]]:
    """The lines of a file, or what is wrong with it. `model_ok(name)` says why a model may
    not be used (unknown, not allowed for the key), or None when it may."""
    lines: list[Line] = []
    errors: list[LineError] = []
    seen: set[str] = set()
    number = 0
    for number, text in enumerate(raw, start=1):
        if not text.strip():
            continue
        if len(lines) + len(errors) >= max_lines:
            errors.append(LineError("too_many_lines", f"A batch has at most {max_lines} lines."))
            break
        line, error = check_line(number, text, endpoint, model_ok, seen)
        if error is not None:
            errors.append(error)
        elif line is not None:
            lines.append(line)
    if not lines and not errors:
        errors.append(LineError("empty_file", "The input file has no lines."))
    return lines, errors


def check_line(
    number: int,
    text: bytes,
    endpoint: str,
    model_ok: Callable[[str], str | None],
    seen: set[str],
) -> tuple[Line | None, LineError | None]:
    def bad(code: str, message: str, param: str | None = None) -> tuple[None, LineError]:
        return None, LineError(code, message, number, param)

    try:
        item = orjson.loads(text)
    except orjson.JSONDecodeError:
        return bad("invalid_json_line", f"Line {number} is not valid JSON.")
    if not isinstance(item, dict):
        return bad("invalid_json_line", f"Line {number} is not a JSON object.")
    custom_id, body = item.get("custom_id"), item.get("body")
    if not isinstance(custom_id, str) or not custom_id or len(custom_id) > MAX_CUSTOM_ID:
        return bad("missing_required_parameter",
                   f"Line {number}: custom_id must be a string of 1 to {MAX_CUSTOM_ID} "
                   "characters.", "custom_id")  # fmt: skip
    if custom_id in seen:
        return bad("duplicate_custom_id",
                   f"Line {number}: custom_id '{custom_id}' is used by an earlier line.",
                   "custom_id")  # fmt: skip
    seen.add(custom_id)
    if item.get("method") != "POST":
        return bad("invalid_method", f"Line {number}: method must be POST.", "method")
    if item.get("url") != endpoint:
        message = f"Line {number}: url must be the batch's endpoint, {endpoint}."
        return bad("mismatched_endpoint", message, "url")
    if not isinstance(body, dict):
        return bad("invalid_request", f"Line {number}: body must be a JSON object.", "body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return bad("missing_required_parameter", f"Line {number}: body.model is required.",
                   "body.model")  # fmt: skip
    why = model_ok(model)
    if why is not None:
        return bad("model_not_found", f"Line {number}: {why}", "body.model")
    return Line(number, custom_id, body), None
