"""The data plane's errors, now owned by chungus.lib.openai_errors (kept for old imports)."""

from chungus.lib.openai_errors import APIError as GatewayError
from chungus.lib.openai_errors import (
    AuthenticationFailed,
    BadGateway,
    GatewayTimeout,
    InvalidRequest,
    MethodNotAllowed,
    ModelNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    error_envelope,
)

__all__ = [
    "AuthenticationFailed",
    "BadGateway",
    "GatewayError",
    "GatewayTimeout",
    "InvalidRequest",
    "MethodNotAllowed",
    "ModelNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "ServiceUnavailable",
    "error_envelope",
]
