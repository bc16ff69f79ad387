"""Engine error answers in OpenAI's envelope, with the status clients expect."""

import orjson

from chungus.engines.error_mapping import normalize_engine_error


def test_it_maps_llama_cpp_context_overflow_to_openai_code():
    body = orjson.dumps(
        {"error": {"code": 400, "message": "too long", "type": "exceed_context_size_error"}}
    )
    status, envelope = normalize_engine_error(400, body)
    assert status == 400
    assert envelope["error"]["code"] == "context_length_exceeded"
    assert envelope["error"]["type"] == "invalid_request_error"


def test_engine_faults_become_502_with_the_engine_message():
    status, envelope = normalize_engine_error(500, b'{"error": {"message": "boom"}}')
    assert status == 502
    assert "boom" in envelope["error"]["message"]
    assert set(envelope["error"]) == {"message", "type", "param", "code"}


def test_it_copes_with_a_body_that_is_not_json():
    status, envelope = normalize_engine_error(503, b"<html>bad gateway</html>")
    assert status == 502
    assert "bad gateway" in envelope["error"]["message"]


def test_client_errors_keep_their_status_and_string_codes():
    status, envelope = normalize_engine_error(422, b'{"detail": "bad field"}')
    assert status == 422
    assert envelope["error"]["message"] == "bad field"
    assert envelope["error"]["code"] is None
