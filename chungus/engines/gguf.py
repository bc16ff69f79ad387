"""GGUF models for llama.cpp and Ollama: which file a source names, and the memory it needs."""

from __future__ import annotations

from pathlib import Path

from chungus.engines.gguf_meta import gguf_metadata, kv_cache_bytes
from chungus.engines.packaged import packaged_gguf

MB = 1024 * 1024


def model_path(source: str, home: Path) -> Path:
    """A GGUF file for llama.cpp: the packaged model, or a path."""
    if source == "packaged":
        return packaged_gguf(home)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    return path


def gguf_memory_mb(
    source: str, context_length: int, home: Path, parallel: int = 1
) -> tuple[int, str]:
    """Weights plus the KV cache of `parallel` requests of `context_length` tokens, plus 10%
    for compute buffers, with how it was estimated; 0 with the reason when it cannot be read."""
    tokens, slots = context_length * parallel, f"{parallel} x " if parallel > 1 else ""
    try:
        path = model_path(source, home)
        meta = gguf_metadata(path)
    except (FileNotFoundError, ImportError, ValueError, OSError) as exc:
        return 0, f"unknown: {exc}"
    weights = path.stat().st_size / MB
    kv = kv_cache_bytes(meta, tokens) / MB
    total = int((weights + kv) * 1.1)
    note = (
        f"GGUF weights {weights:.0f} MB + KV cache {kv:.0f} MB "
        f"({meta.get('block_count')} layers, {meta.get('attention.head_count_kv')} KV heads, "
        f"{slots}{context_length} tokens, f16) + 10% for compute buffers = {total} MB"
    )
    return total, note
