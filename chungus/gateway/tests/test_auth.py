"""Who is calling: bearer tokens and the key they name."""

import pytest

from chungus.accounts.keyinfo import KeyInfo
from chungus.accounts.secrets import hash_secret
from chungus.gateway.auth import authenticate, authorize_model, bearer_token
from chungus.gateway.snapshot import Snapshot
from chungus.lib.openai_errors import AuthenticationFailed, ModelNotAllowed

NOW = 1_000_000.0


def snapshot(**key_fields):
    key = KeyInfo(id=1, name="k", **key_fields)
    return Snapshot(version=1, keys={hash_secret("ck-secret"): key})


def test_it_reads_bearer_tokens():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token(None) is None


def test_it_finds_the_key_by_its_hash():
    assert authenticate(snapshot(), "Bearer ck-secret", NOW).name == "k"


@pytest.mark.parametrize(
    ("header", "fields", "code"),
    [
        (None, {}, "missing_api_key"),
        ("Bearer ck-wrong", {}, "invalid_api_key"),
        ("Bearer ck-secret", {"active": False}, "revoked_api_key"),
        ("Bearer ck-secret", {"expires_at": NOW - 1}, "expired_api_key"),
    ],
)
def test_it_rejects_missing_unknown_revoked_and_expired_keys(header, fields, code):
    with pytest.raises(AuthenticationFailed) as error:
        authenticate(snapshot(**fields), header, NOW)
    assert error.value.code == code
    assert error.value.status == 401


def test_it_never_echoes_a_whole_wrong_key():
    with pytest.raises(AuthenticationFailed) as error:
        authenticate(snapshot(), "Bearer ck-this-is-a-long-secret", NOW)
    assert "long-secret" not in error.value.message


def test_it_limits_keys_to_their_models():
    key = KeyInfo(id=1, name="k", allowed_models=frozenset({"a"}))
    authorize_model(key, "a")
    with pytest.raises(ModelNotAllowed):
        authorize_model(key, "b")
    authorize_model(KeyInfo(id=2, name="all"), "b")
