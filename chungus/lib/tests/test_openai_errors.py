import orjson
import pytest

from chungus.lib import openai_errors
from chungus.lib.openai_errors import (
    APIError,
    AuthenticationFailed,
    BadGateway,
    InternalError,
    RateLimited,
    error_body,
    error_envelope,
    error_type,
)
from chungus.testing.openai_schema import validate

ERRORS = [
    value
    for value in vars(openai_errors).values()
    if isinstance(value, type) and issubclass(value, APIError)
]

# The statuses, types and codes clients see today; changing one is a breaking change.
ANSWERS = {
    "InvalidRequest": (400, "invalid_request_error", None),
    "AuthenticationFailed": (401, "invalid_request_error", "invalid_api_key"),
    "Forbidden": (403, "invalid_request_error", "forbidden"),
    "ModelNotAllowed": (403, "invalid_request_error", "model_not_allowed"),
    "NotFound": (404, "invalid_request_error", "not_found"),
    "MethodNotAllowed": (405, "invalid_request_error", "method_not_allowed"),
    "Conflict": (409, "invalid_request_error", "conflict"),
    "PayloadTooLarge": (413, "invalid_request_error", "request_too_large"),
    "Unprocessable": (422, "invalid_request_error", "invalid_value"),
    "RateLimited": (429, "rate_limit_error", "rate_limit_exceeded"),
    "InternalError": (500, "api_error", "internal_error"),
    "BadGateway": (502, "api_error", "backend_error"),
    "ServiceUnavailable": (503, "api_error", "no_backend_available"),
    "GatewayTimeout": (504, "api_error", "backend_timeout"),
}


def test_every_error_in_the_tree_keeps_its_status_type_and_code():
    leaves = {error.__name__: error for error in ERRORS if error is not APIError}
    assert set(leaves) == set(ANSWERS)
    for name, (status, type_, code) in ANSWERS.items():
        error = InternalError() if name == "InternalError" else leaves[name]("no")
        assert (error.status, error.type, error.code) == (status, type_, code), name


def test_the_module_docstring_draws_every_error():
    drawn = set(str(openai_errors.__doc__).split())
    assert {error.__name__ for error in ERRORS} <= drawn


@pytest.mark.parametrize(
    ("status", "type_"),
    [
        (400, "invalid_request_error"),
        (404, "invalid_request_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "api_error"),
    ],
)
def test_the_type_follows_the_status_as_openai_answers(status, type_):
    assert error_type(status) == type_


def test_an_error_builds_openais_envelope_with_all_four_fields():
    error = AuthenticationFailed("Invalid API key.", param="authorization")
    assert error.envelope() == {
        "error": {
            "message": "Invalid API key.",
            "type": "invalid_request_error",
            "param": "authorization",
            "code": "invalid_api_key",
        }
    }
    validate("ErrorResponse", error.envelope())


def test_the_body_is_the_envelope_as_json():
    error = RateLimited("Slow down.", headers={"Retry-After": "3"})
    assert orjson.loads(error.body()) == error.envelope()
    assert error.headers == {"Retry-After": "3"}


def test_a_code_given_overrides_the_default_one():
    assert BadGateway("gone", code="backend_unreachable").code == "backend_unreachable"


def test_an_internal_error_tells_the_client_nothing_of_the_bug():
    assert InternalError().message == "The server had an error processing your request."


def test_the_envelope_builders_fill_param_and_code_with_null():
    envelope = error_envelope("bad", "invalid_request_error")
    assert envelope == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}
    }
    assert orjson.loads(error_body("bad", "invalid_request_error")) == envelope
    validate("ErrorResponse", envelope)
