"""Speaking to llama-server: chat requests carry every turn format's control tokens as stops."""

import orjson

from chungus.engines.llamacpp.adapter import LlamaCppAdapter
from chungus.engines.llamacpp.chat_format import CONTROL_MARKERS

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "min_p": 0.1, "mirostat": 2}
RAW = orjson.dumps(CHAT)


def test_chat_to_llama_cpp_stops_at_every_formats_control_tokens():
    adapter = LlamaCppAdapter()
    body = orjson.loads(adapter.request("chat/completions", CHAT, RAW, "", stream=False).body)
    assert body["stop"] == list(CONTROL_MARKERS) and body["min_p"] == 0.1
    own = {**CHAT, "stop": "\n\n"}
    body = orjson.loads(adapter.request("chat/completions", own, orjson.dumps(own), "", False).body)
    assert body["stop"] == ["\n\n", *CONTROL_MARKERS]
    listed = {**CHAT, "stop": ["<eos>", "END"]}
    body = orjson.loads(
        adapter.request("chat/completions", listed, orjson.dumps(listed), "", False).body
    )
    assert body["stop"][:2] == ["<eos>", "END"] and body["stop"].count("<eos>") == 1
    plain = adapter.request("completions", CHAT, RAW, "", stream=False)
    assert plain.body == RAW, "completions are raw text: nothing is added"
