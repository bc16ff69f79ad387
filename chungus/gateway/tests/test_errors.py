"""Bad input and failing backends get OpenAI's error envelope with the right status, never a 500."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from chungus.testing.waiting import wait_for

SAY = [{"role": "user", "content": "hi"}]


def chat(chungus, body=None, key="main", content=None, headers=None):
    all_headers = {"Authorization": f"Bearer {chungus.keys[key]}"} if key else {}
    all_headers.update(headers or {})
    return httpx.post(
        f"{chungus.url}/v1/chat/completions",
        json=body if content is None else None,
        content=content,
        headers=all_headers,
        timeout=30,
    )


def listed_models(chungus, key="main"):
    """The models /v1/models lists to this key (a request its limits count), or its error
    status."""
    headers = {"Authorization": f"Bearer {chungus.keys[key]}"}
    response = httpx.get(f"{chungus.url}/v1/models", headers=headers)
    if response.status_code != 200:
        return response.status_code
    return {model["id"] for model in response.json()["data"]}


def wait_until_known(chungus, key):
    """The gateway follows the configuration a moment after the CLI changes it."""
    wait_for(lambda: listed_models(chungus, key) != 401, f"the gateway knows the key {key}")


def error_of(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert "Traceback" not in error["message"]
    return error


def test_malformed_json_is_a_400(chungus):
    assert error_of(chat(chungus, content=b'{"model": '), 400)["type"] == "invalid_request_error"


def test_a_wrong_type_is_a_400_naming_the_field(chungus):
    error = error_of(chat(chungus, {"model": "gemma", "messages": SAY, "max_tokens": "many"}), 400)
    assert error["param"] == "max_tokens"


def test_a_missing_key_is_a_401(chungus):
    assert (
        error_of(chat(chungus, {"model": "gemma", "messages": SAY}, key=None), 401)["code"]
        == "missing_api_key"
    )


def test_a_wrong_key_is_a_401(chungus):
    response = chat(
        chungus,
        {"model": "gemma", "messages": SAY},
        key=None,
        headers={"Authorization": "Bearer ck-nope"},
    )
    assert error_of(response, 401)["code"] == "invalid_api_key"


def test_a_revoked_key_is_a_401_within_a_moment(chungus):
    chungus.create_key("to-revoke")
    wait_until_known(chungus, "to-revoke")
    chungus.cli("keys", "revoke", "to-revoke")
    wait_for(lambda: listed_models(chungus, "to-revoke") == 401, "the revocation followed")
    assert (
        error_of(chat(chungus, {"model": "fake-ok", "messages": SAY}, key="to-revoke"), 401)["code"]
        == "revoked_api_key"
    )


def test_an_expired_key_is_a_401(chungus):
    expires = datetime.now(UTC) + timedelta(seconds=10)
    chungus.create_key("short-lived", "--expires", expires.isoformat())
    body = {"model": "fake-ok", "messages": SAY}
    wait_for(lambda: chat(chungus, body, key="short-lived").status_code == 200, "the key works", 8)
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    assert error_of(chat(chungus, body, key="short-lived"), 401)["code"] == "expired_api_key"


def test_a_model_the_key_may_not_use_is_a_403(chungus):
    chungus.create_key("only-fake", "--models", "fake-ok")
    wait_until_known(chungus, "only-fake")
    assert chat(chungus, {"model": "fake-ok", "messages": SAY}, key="only-fake").status_code == 200
    assert (
        error_of(chat(chungus, {"model": "gemma", "messages": SAY}, key="only-fake"), 403)["param"]
        == "model"
    )


def test_an_unknown_model_is_a_404(chungus):
    assert (
        error_of(chat(chungus, {"model": "gpt-9", "messages": SAY}), 404)["code"]
        == "model_not_found"
    )


def test_a_huge_body_is_a_413(chungus):
    huge = [{"role": "user", "content": "x" * 70_000}]
    assert (
        error_of(chat(chungus, {"model": "gemma", "messages": huge}), 413)["code"]
        == "request_too_large"
    )


def test_the_rate_limit_is_a_429_with_retry_after_and_ratelimit_headers(chungus):
    chungus.create_key("slow-lane", "--rpm", "3")
    wait_until_known(chungus, "slow-lane")  # its one 200 from /v1/models is one of the three
    for _ in range(2):
        assert (
            chat(chungus, {"model": "fake-ok", "messages": SAY}, key="slow-lane").status_code == 200
        )
    response = chat(chungus, {"model": "fake-ok", "messages": SAY}, key="slow-lane")
    assert error_of(response, 429)["code"] == "rate_limit_exceeded"
    assert 1 <= int(response.headers["retry-after"]) <= 90  # a sliding minute
    assert response.headers["x-ratelimit-limit-requests"] == "3"
    assert response.headers["x-ratelimit-remaining-requests"] == "0"


def test_the_token_limit_is_a_429_once_spent(chungus):
    chungus.create_key("few-tokens", "--tpm", "4")
    wait_until_known(chungus, "few-tokens")
    assert chat(chungus, {"model": "fake-ok", "messages": SAY}, key="few-tokens").status_code == 200

    def refused():  # the spent tokens are charged just after the answer
        response = chat(chungus, {"model": "fake-ok", "messages": SAY}, key="few-tokens")
        return response if response.status_code == 429 else None

    response = wait_for(refused, "a 429 once the tokens are charged")
    assert error_of(response, 429)["message"].startswith("Rate limit reached")
    assert response.headers["x-ratelimit-limit-tokens"] == "4"


@pytest.mark.parametrize(("model", "status"), [("error500", 502), ("garbage", 502), ("hang", 504)])
def test_backend_failures_are_502_or_504(chungus, model, status):
    assert error_of(chat(chungus, {"model": model, "messages": SAY}), status)["type"] == "api_error"


def test_an_engine_rejecting_a_too_long_prompt_is_a_400_context_length_exceeded(chungus):
    long = [{"role": "user", "content": "word " * 9000}]
    error = error_of(chat(chungus, {"model": "gemma", "messages": long, "max_tokens": 1}), 400)
    assert error["code"] == "context_length_exceeded"


def test_a_backend_that_is_down_is_a_503(chungus):
    chungus.cli("models", "add", "nowhere", "--url", "http://127.0.0.1:9/v1")
    wait_for(lambda: "nowhere" in listed_models(chungus), "the new model listed")
    response = chat(chungus, {"model": "nowhere", "messages": SAY})
    assert error_of(response, 503)["type"] == "api_error"
    assert response.headers["retry-after"]


def test_a_backend_dying_mid_stream_ends_the_stream_with_an_error_event(chungus):
    response = chat(chungus, {"model": "die", "messages": SAY, "stream": True})
    assert response.status_code == 200
    events = [e for e in response.text.split("\n\n") if e.strip()]
    assert '"content":"Hel"' in events[0]
    assert events[-1].startswith('data: {"error"')


def test_a_backend_hanging_mid_stream_ends_the_stream_with_an_error_event(chungus):
    started = time.monotonic()
    response = chat(chungus, {"model": "hang", "messages": SAY, "stream": True})
    assert time.monotonic() - started < 15
    assert '"code":"backend_timeout"' in response.text.strip().split("\n\n")[-1]


def test_unknown_paths_and_methods_get_the_envelope(chungus):
    headers = {"Authorization": f"Bearer {chungus.keys['main']}"}
    assert (
        error_of(httpx.get(f"{chungus.url}/v1/nothing", headers=headers), 404)["code"]
        == "unknown_url"
    )
    error_of(httpx.get(f"{chungus.url}/v1/chat/completions", headers=headers), 405)
    assert error_of(httpx.get(f"{chungus.url}/no/such/page"), 404)


def test_failures_are_logged_with_their_error_type(chungus):
    since = chungus.last_logged()
    chat(chungus, {"model": "gpt-logged", "messages": SAY})

    def logged():
        # An earlier test's stream may be logged after `since` was read: only this request's
        # row (under the marker or, wrongly, under the client's text) is looked at.
        rows = chungus.request_log(since)
        ours = [r for r in rows if r["model"] in ("(unknown)", "gpt-logged")]
        return [(r["model"], r["status"], r["error_type"]) for r in ours]

    # A model the gateway does not serve is logged as a marker, never as the client's text.
    assert wait_for(logged, "the failure logged") == [("(unknown)", 404, "model_not_found")]
