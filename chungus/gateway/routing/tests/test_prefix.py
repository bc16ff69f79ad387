"""Prompt-prefix fingerprints for cache-affinity routing."""

from chungus.gateway.routing.prefix import TEXT_BLOCK, prefix_hashes

SYSTEM = {"role": "system", "content": "You are helpful." * 50}


def chat(*contents):
    return {"model": "m", "messages": [SYSTEM, *({"role": "user", "content": c} for c in contents)]}


def test_a_conversations_next_turn_shares_the_last_turns_fingerprints():
    first = prefix_hashes(chat("hi"))
    second = prefix_hashes(chat("hi", "more"))
    assert second[: len(first)] == first and len(second) == len(first) + 1


def test_conversations_share_only_their_common_system_prompt():
    one, other = prefix_hashes(chat("a")), prefix_hashes(chat("b"))
    assert one[0] == other[0] and one[1] != other[1]


def test_the_model_is_part_of_the_fingerprint():
    assert prefix_hashes({**chat("a"), "model": "x"})[0] != prefix_hashes(chat("a"))[0]


def test_plain_prompts_are_fingerprinted_per_block():
    text = "x" * (TEXT_BLOCK * 2 + 5)
    hashes = prefix_hashes({"model": "m", "prompt": text})
    assert len(hashes) == 2
    assert prefix_hashes({"model": "m", "prompt": text + "more"})[:2] == hashes
