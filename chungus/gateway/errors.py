"""Errors the data plane answers with, in OpenAI's envelope.

GatewayError
├── InvalidRequest        400  malformed JSON, wrong field types
├── AuthenticationFailed  401  missing, unknown, revoked or expired key
├── ModelNotAllowed       403  the key may not use this model
├── NotFound              404  unknown model or path
├── MethodNotAllowed      405  a known path with the wrong method
├── PayloadTooLarge       413  body over CHUNGUS_MAX_BODY_BYTES
├── RateLimited           429  a key limit is exhausted (Retry-After)
├── BadGateway            502  the backend failed or answered garbage
├── ServiceUnavailable    503  no backend can take the request now
└── GatewayTimeout        504  the backend did not answer in time
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson


class GatewayError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

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


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"


class ModelNotAllowed(GatewayError):
    status = 403
    type = "invalid_request_error"
    default_code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class BadGateway(GatewayError):
    status = 502
    type = "api_error"
    default_code = "backend_error"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "api_error"
    default_code = "no_backend_available"


class GatewayTimeout(GatewayError):
    status = 504
    type = "api_error"
    default_code = "backend_timeout"


def error_envelope(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """Return OpenAI's error object."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
