"""The few facts about a DCD file (as OpenMM's DCDFile writes it) that resuming needs.

Layout: a fixed header (its size depends on the comment block), then frames of equal size:
an optional unit-cell record, then x, y and z records of 4-byte floats. OpenMM reads the
frame count at byte 8 when it appends, and keeps the last frame's step at byte 20.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

FRAME_COUNT_OFFSET = 8
FIRST_STEP_OFFSET = 12
INTERVAL_OFFSET = 16
LAST_STEP_OFFSET = 20
BOX_FLAG_OFFSET = 48
COMMENTS_LENGTH_OFFSET = 92
UNIT_CELL_RECORD = 4 + 6 * 8 + 4


@dataclass(frozen=True, slots=True)
class DcdLayout:
    header_bytes: int
    frame_bytes: int
    frames_in_header: int
    first_step: int
    interval: int
    has_unit_cell: bool

    def complete_frames(self, size: int) -> int:
        """Whole frames in a file of `size` bytes (a frame being written is not counted)."""
        return max(0, (size - self.header_bytes) // self.frame_bytes)


def read_layout(path: Path) -> DcdLayout | None:
    """The layout of a DCD file, or None while it is missing or its header is incomplete."""
    try:
        with path.open("rb") as f:
            head = f.read(COMMENTS_LENGTH_OFFSET + 4)
            if len(head) < COMMENTS_LENGTH_OFFSET + 4 or head[4:8] != b"CORD":
                return None
            (comments,) = struct.unpack_from("<i", head, COMMENTS_LENGTH_OFFSET)
            f.seek(COMMENTS_LENGTH_OFFSET + 4 + comments + 4 + 4)
            atoms_field = f.read(4)
    except OSError:
        return None
    if len(atoms_field) < 4:
        return None
    (atoms,) = struct.unpack("<i", atoms_field)
    frames, first_step, interval = struct.unpack_from("<3i", head, FRAME_COUNT_OFFSET)
    (box_flag,) = struct.unpack_from("<i", head, BOX_FLAG_OFFSET)
    return DcdLayout(
        header_bytes=COMMENTS_LENGTH_OFFSET + 4 + comments + 4 + 12,
        frame_bytes=(UNIT_CELL_RECORD if box_flag else 0) + 3 * (8 + 4 * atoms),
        frames_in_header=frames,
        first_step=first_step,
        interval=interval,
        has_unit_cell=bool(box_flag),
    )


def truncate(path: Path, frames: int) -> None:
    """Cut a DCD file back to its first `frames` frames and make its header say so."""
    layout = read_layout(path)
    if layout is None:
        raise ValueError(f"{path.name} has no readable DCD header")
    size = layout.header_bytes + frames * layout.frame_bytes
    if path.stat().st_size < size:
        raise ValueError(f"{path.name} holds fewer than the {frames} frames expected")
    os.truncate(path, size)
    with path.open("r+b") as f:
        f.seek(FRAME_COUNT_OFFSET)
        f.write(struct.pack("<i", frames))
        f.seek(LAST_STEP_OFFSET)
        f.write(struct.pack("<i", layout.first_step + (frames - 1) * layout.interval))
