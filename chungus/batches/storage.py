"""Where a file's bytes live: CHUNGUS_FILES_DIR/<id> (CHUNGUS_HOME/files unless set), a path
from the id alone. Every process on one database must see the same directory."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

_ID = re.compile(r"file-[0-9a-f]{24}")


def file_path(file_id: str) -> Path:
    if not _ID.fullmatch(file_id):
        raise ValueError(f"not a file id: {file_id!r}")
    folder = Path(settings.CHUNGUS_FILES_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder / file_id
