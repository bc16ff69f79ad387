"""Where a file's bytes live: CHUNGUS_HOME/files/<id>, a path from the id alone."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

_ID = re.compile(r"file-[0-9a-f]{24}")


def file_path(file_id: str) -> Path:
    if not _ID.fullmatch(file_id):
        raise ValueError(f"not a file id: {file_id!r}")
    folder = Path(settings.CHUNGUS_HOME) / "files"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / file_id
