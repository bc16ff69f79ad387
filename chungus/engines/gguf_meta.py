"""Reading the few GGUF header fields a memory estimate needs, without loading the model.

GGUF: magic "GGUF", u32 version, u64 tensor count, u64 key-value count, then the
key-value pairs (u64-length string key, u32 type, value). Reading stops as soon
as the wanted keys are found, before the large tokenizer arrays.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

_SCALARS = {
    0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i",
    6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d",
}  # fmt: skip
STRING, ARRAY = 8, 9
WANTED = ("block_count", "attention.head_count_kv", "attention.head_count", "attention.key_length",
          "attention.value_length", "embedding_length", "context_length")  # fmt: skip


def _read(handle: BinaryIO, fmt: str) -> int | float | bool:
    size = struct.calcsize(fmt)
    value: int | float | bool = struct.unpack(fmt, handle.read(size))[0]
    return value


MAX_STRING = 1 << 24  # no key or value of a real GGUF comes near 16 MiB


def _string(handle: BinaryIO) -> str:
    length = int(_read(handle, "<Q"))
    if length > MAX_STRING:
        raise ValueError(f"a GGUF string of {length} bytes: not a GGUF file this reader trusts")
    return handle.read(length).decode("utf-8", errors="replace")


def _value(handle: BinaryIO, kind: int) -> object:
    if kind in _SCALARS:
        return _read(handle, _SCALARS[kind])
    if kind == STRING:
        return _string(handle)
    if kind == ARRAY:
        item, count = int(_read(handle, "<I")), int(_read(handle, "<Q"))
        if item in _SCALARS:
            handle.seek(struct.calcsize(_SCALARS[item]) * count, 1)
        else:
            for _ in range(count):
                _value(handle, item)
        return None
    raise ValueError(f"unknown GGUF value type {kind}")


def gguf_metadata(path: Path) -> dict[str, object]:
    """The architecture and the fields of WANTED (keys without the architecture prefix)."""
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        _read(handle, "<I")
        _read(handle, "<Q")
        pairs = int(_read(handle, "<Q"))
        found: dict[str, object] = {}
        architecture = ""
        for _ in range(pairs):
            key, kind = _string(handle), int(_read(handle, "<I"))
            value = _value(handle, kind)
            if key == "general.architecture":
                architecture = str(value)
            elif architecture and key.startswith(architecture + "."):
                short = key[len(architecture) + 1 :]
                if short in WANTED:
                    found[short] = value
            if architecture and all(k in found for k in WANTED if k != "attention.value_length"):
                break
        return {"architecture": architecture, **found}


@dataclass(frozen=True, slots=True)
class ChatFields:
    """What a GGUF says about its chat format."""

    architecture: str
    has_template: bool  # `tokenizer.chat_template` is present and not empty
    tokenizer_pre: str = ""  # `tokenizer.ggml.pre`: tells Llama 3's tokenizer from Llama 2's


def gguf_chat_fields(path: Path) -> ChatFields:
    """Read the architecture, the chat template's presence and the tokenizer kind.

    The template sits after the tokenizer's vocabulary arrays, so every key is
    visited; arrays are skipped by seeking, never decoded.
    """
    try:
        return _chat_fields(path)
    except struct.error:
        raise ValueError(f"{path} is a truncated GGUF file") from None


def _chat_fields(path: Path) -> ChatFields:
    architecture, pre, template = "", "", False
    with path.open("rb") as handle:
        if handle.read(4) != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        _read(handle, "<I")
        _read(handle, "<Q")
        for _ in range(int(_read(handle, "<Q"))):
            key, kind = _string(handle), int(_read(handle, "<I"))
            if kind == ARRAY:
                _skip_array(handle)
                continue
            value = _value(handle, kind)
            if key == "general.architecture":
                architecture = str(value)
            elif key == "tokenizer.ggml.pre":
                pre = str(value)
            elif key == "tokenizer.chat_template":
                template = bool(str(value).strip())
    return ChatFields(architecture, template, pre)


def _skip_array(handle: BinaryIO) -> None:
    item, count = int(_read(handle, "<I")), int(_read(handle, "<Q"))
    if item in _SCALARS:
        handle.seek(struct.calcsize(_SCALARS[item]) * count, 1)
    elif item == STRING:
        for _ in range(count):
            handle.seek(int(_read(handle, "<Q")), 1)
    else:
        for _ in range(count):
            _value(handle, item)


def kv_cache_bytes(meta: Mapping[str, object], context: int, bytes_per_value: int = 2) -> int:
    """K and V for every layer and every KV head at this context length (f16 by default)."""
    layers = _int(meta, "block_count")
    heads = _int(meta, "attention.head_count_kv") or _int(meta, "attention.head_count")
    key_dim = _int(meta, "attention.key_length") or (
        _int(meta, "embedding_length") // max(1, _int(meta, "attention.head_count"))
    )
    value_dim = _int(meta, "attention.value_length") or key_dim
    return layers * heads * (key_dim + value_dim) * bytes_per_value * context


def _int(meta: Mapping[str, object], key: str) -> int:
    value = meta.get(key)
    return int(value) if isinstance(value, int | float) else 0
