"""OpenAI's error envelope and the errors every CHUNGUS API answers with (pure).

APIError                  500  api_error              (any code; the base)
├── InvalidRequest        400  invalid_request_error  malformed JSON, a value we cannot use
├── AuthenticationFailed  401  invalid_request_error  missing, unknown, revoked or expired key
├── Forbidden             403  invalid_request_error  not a superuser, or a failed CSRF check
├── ModelNotAllowed       403  invalid_request_error  the key may not use this model
├── NotFound              404  invalid_request_error  unknown model, path, backend or key
├── MethodNotAllowed      405  invalid_request_error  a known path with the wrong method
├── Conflict              409  invalid_request_error  the name or URL exists already
├── PayloadTooLarge       413  invalid_request_error  a body over the size limit
├── Unprocessable         422  invalid_request_error  a body that fails validation
├── RateLimited           429  rate_limit_error       a key limit is exhausted (Retry-After)
├── InternalError         500  api_error              a bug of ours; the message says no more
├── BadGateway            502  api_error              the backend failed or answered garbage
├── ServiceUnavailable    503  api_error              no backend can take the request now
└── GatewayTimeout        504  api_error              the backend did not answer in time

The type follows from the status (`error_type`), as OpenAI's own answers do.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

INVALID_REQUEST = "invalid_request_error"
RATE_LIMIT = "rate_limit_error"
API_ERROR = "api_error"


def error_type(status: int) -> str:
    """Return OpenAI's error type for an HTTP status."""
    if status == 429:
        return RATE_LIMIT
    return INVALID_REQUEST if status < 500 else API_ERROR


def error_envelope(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """Return OpenAI's error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_body(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> bytes:
    """Return OpenAI's error object as JSON bytes."""
    return orjson.dumps(error_envelope(message, type_, param, code))


class APIError(Exception):
    """An error answered to the client with `status` and OpenAI's envelope."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = API_ERROR
    default_code: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.type = error_type(cls.status)

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return error_envelope(self.message, self.type, self.param, self.code)

    def body(self) -> bytes:
        return orjson.dumps(self.envelope())


class InvalidRequest(APIError):
    status = 400


class AuthenticationFailed(APIError):
    status = 401
    default_code = "invalid_api_key"


class Forbidden(APIError):
    status = 403
    default_code = "forbidden"


class ModelNotAllowed(APIError):
    status = 403
    default_code = "model_not_allowed"


class NotFound(APIError):
    status = 404
    default_code = "not_found"


class MethodNotAllowed(APIError):
    status = 405
    default_code = "method_not_allowed"


class Conflict(APIError):
    status = 409
    default_code = "conflict"


class PayloadTooLarge(APIError):
    status = 413
    default_code = "request_too_large"


class Unprocessable(APIError):
    status = 422
    default_code = "invalid_value"


class RateLimited(APIError):
    status = 429
    default_code = "rate_limit_exceeded"


class InternalError(APIError):
    status = 500
    default_code = "internal_error"

    def __init__(self) -> None:
        super().__init__("The server had an error processing your request.")


class BadGateway(APIError):
    status = 502
    default_code = "backend_error"


class ServiceUnavailable(APIError):
    status = 503
    default_code = "no_backend_available"


class GatewayTimeout(APIError):
    status = 504
    default_code = "backend_timeout"
