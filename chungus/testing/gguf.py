"""Writing small GGUF headers (no tensors) for tests of what CHUNGUS reads from them."""

from __future__ import annotations

import struct
from pathlib import Path

MetaValue = str | int | list[str]


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _pair(key: str, value: MetaValue) -> bytes:
    if isinstance(value, str):
        return _string(key) + struct.pack("<I", 8) + _string(value)
    if isinstance(value, int):
        return _string(key) + struct.pack("<II", 4, value)
    items = b"".join(_string(item) for item in value)
    return _string(key) + struct.pack("<IIQ", 9, 8, len(value)) + items


def write_gguf(path: Path, metadata: dict[str, MetaValue]) -> Path:
    """A GGUF v3 file with these key-value pairs and no tensors."""
    header = b"GGUF" + struct.pack("<IQQ", 3, 0, len(metadata))
    path.write_bytes(header + b"".join(_pair(k, v) for k, v in metadata.items()))
    return path
