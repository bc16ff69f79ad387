"""Prompt-prefix fingerprints for cache-affinity routing (pure)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

TEXT_BLOCK = 1024  # characters per fingerprint step for plain prompts
MAX_PREFIXES = 64


def prefix_hashes(body: dict[str, Any]) -> tuple[bytes, ...]:
    """Fingerprints of the request's prompt prefixes, shortest first.

    Chat: one per message boundary (the system prompt; the conversation up to each
    turn), so the next turn of a conversation finds the backend of the last one.
    Completions: one per TEXT_BLOCK characters of the prompt.
    """
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(body.get("model", "")).encode())
    out: list[bytes] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages[:MAX_PREFIXES]:
            digest.update(orjson.dumps(message, option=orjson.OPT_SORT_KEYS))
            out.append(digest.digest())
        return tuple(out)
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        for start in range(0, min(len(prompt), TEXT_BLOCK * MAX_PREFIXES), TEXT_BLOCK):
            digest.update(prompt[start : start + TEXT_BLOCK].encode())
            if start + TEXT_BLOCK <= len(prompt):
                out.append(digest.digest())
    return tuple(out)
