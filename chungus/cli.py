"""The `chungus` console script: Django's management commands plus CHUNGUS's own."""

from __future__ import annotations

import os
import sys

from chungus.lib.env import SettingError


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["chungus", *command_words(sys.argv[1:])])
    except SettingError as exc:
        sys.exit(f"chungus: bad setting: {exc}")


def command_words(words: list[str]) -> list[str]:
    """`chungus protollm-worker` is the command module protollm_worker (pure)."""
    if words and not words[0].startswith("-"):
        return [words[0].replace("-", "_"), *words[1:]]
    return words


if __name__ == "__main__":
    main()
