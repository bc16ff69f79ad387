"""Splitting server-sent events and reading their data."""

from chungus.lib.sse import EventSplitter, event_data, event_json, has_content, is_usage_only


def test_it_splits_events_that_arrive_in_pieces():
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a"') == []
    assert splitter.feed(b": 1}\n\ndata: [DO") == [b'data: {"a": 1}\n\n']
    assert splitter.feed(b"NE]\n\n") == [b"data: [DONE]\n\n"]
    assert splitter.rest() == b""


def test_it_accepts_crlf_line_endings():
    assert EventSplitter().feed(b"data: x\r\n\r\n") == [b"data: x\n\n"]


def test_it_returns_an_unterminated_last_event_at_the_end():
    splitter = EventSplitter()
    splitter.feed(b"data: [DONE]")
    assert splitter.rest() == b"data: [DONE]\n\n"


def test_it_joins_multiline_data():
    assert event_data(b"event: x\ndata: a\ndata: b\n\n") == b"a\nb"


def test_it_parses_json_events_and_ignores_done():
    assert event_json(b'data: {"choices": []}\n\n') == {"choices": []}
    assert event_json(b"data: [DONE]\n\n") is None
    assert event_json(b"data: not json\n\n") is None


def test_it_recognises_the_usage_chunk_and_content():
    assert is_usage_only({"choices": [], "usage": {"prompt_tokens": 1}})
    assert not is_usage_only({"choices": [{"delta": {}}], "usage": {"prompt_tokens": 1}})
    assert has_content({"choices": [{"delta": {"content": "Hi"}}]})
    assert not has_content({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    assert has_content({"choices": [{"text": "Hi"}]})


def test_whole_events_without_usage_or_end_pass_through_unparsed():
    splitter = EventSplitter()
    assert splitter.passthrough(b'data: {"choices": [{"delta": {"content": "a"}}]}\n\n')
    assert not splitter.passthrough(b'data: {"choices": [], "usage": {}}\n\n')
    assert not splitter.passthrough(b"data: [DONE]\n\n")
    assert not splitter.passthrough(b"data: {")
    splitter.feed(b"data: {")
    assert not splitter.passthrough(b"}\n\n"), "an event split across chunks must be reassembled"
