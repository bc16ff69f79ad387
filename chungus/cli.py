"""The `chungus` console script: Django's management commands plus CHUNGUS's own."""

from __future__ import annotations

import os
import sys

from chungus.lib.env import SettingError


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chungus.settings")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["chungus", *sys.argv[1:]])
    except SettingError as exc:
        sys.exit(f"chungus: bad setting: {exc}")


if __name__ == "__main__":
    main()
