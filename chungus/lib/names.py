"""The one pattern for every name a user chooses: deployments, models, jobs, API keys (pure).

A name is data. It never becomes a shell line or a path: launchers quote what they write
and build file names from ids. The pattern is a second wall, and it keeps names readable
in logs, tables and URLs:

- letters, digits, `.`, `_`, `-`, `:`, and `/` between parts;
- every part (between slashes) starts with a letter or a digit, so no `..`, no leading
  `/`, no `//`, no `-option`;
- 1 to 200 characters (API keys: 1 to 100, their column's size).

The slash is there because clients send Hugging Face ids (`Qwen/Qwen2.5-0.5B-Instruct`,
what vLLM serves by default) and Ollama names (`team/chat:v2`) as model names; a part
cannot be `..`, so a name with slashes still cannot climb out of a directory.

Names stored before this pattern stay usable: only new names are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

PART = r"[A-Za-z0-9][A-Za-z0-9._:-]*"
PATTERN = rf"{PART}(?:/{PART})*"
_NAME = re.compile(rf"\A{PATTERN}\Z")
MAX_LENGTH = 200
MAX_LENGTH_BY_KIND = {"key": 100}
RULE = (
    "letters, digits, '.', '_', '-', ':' and '/' between parts, each part starting with a "
    "letter or a digit"
)


class InvalidName(ValueError):
    """A user-chosen name that does not follow the pattern; the message says it in words."""

    def __init__(self, kind: str, value: str, problem: str) -> None:
        super().__init__(f"the {kind} name {value[:80]!r} {problem}")
        self.kind, self.value = kind, value


def max_length(kind: str) -> int:
    return MAX_LENGTH_BY_KIND.get(kind, MAX_LENGTH)


def check_name(kind: str, value: str) -> str:
    """Return `value` if it is a valid `kind` name ("deployment", "model", "job", "key");
    raise InvalidName saying why not."""
    if not isinstance(value, str):
        raise InvalidName(kind, repr(value), "is not text")
    limit = max_length(kind)
    if not 1 <= len(value) <= limit:
        raise InvalidName(kind, value, f"must be 1 to {limit} characters, not {len(value)}")
    if not _NAME.match(value):
        raise InvalidName(kind, value, f"may hold only {RULE}")
    return value


def validator(kind: str) -> Callable[[str], None]:
    """A Django validator (forms, admin) that raises Django's ValidationError."""

    def validate(value: str) -> None:
        from django.core.exceptions import ValidationError  # only where Django runs

        try:
            check_name(kind, value)
        except InvalidName as exc:
            raise ValidationError(str(exc)[:1].upper() + str(exc)[1:] + ".", code="name") from None

    return validate


def check_renamed(kind: str, name: str, stored: str | None) -> str:
    """An admin form's name check: a new or changed name follows the rule, while one stored
    before the rule existed may stay as it is (`stored` is None for a new row)."""
    if stored is None or name != stored:
        validator(kind)(name)
    return name


def form_field(kind: str, **options: Any) -> Any:
    """A Django form field (forms.CharField) for a new `kind` name: stripped, checked, with
    the rule as its help text."""
    from django import forms  # only where Django runs

    options.setdefault("help_text", help_text(kind))
    return forms.CharField(
        max_length=max_length(kind), strip=True, validators=[validator(kind)], **options
    )


def help_text(kind: str) -> str:
    """The rule in words, for form fields and CLI help."""
    return f"1 to {max_length(kind)} characters: {RULE}"
