"""A user's own keys page: list, create within the quota (secret shown once), revoke."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from chungus.accounts.keyinfo import key_infos
from chungus.accounts.models import ApiKey, Scope, UserQuota
from chungus.accounts.secrets import hash_secret
from chungus.core.models import AuditEntry
from chungus.lib.names import check_name
from chungus.telemetry.models import KeyRollup

pytestmark = pytest.mark.django_db  # also run on PostgreSQL by scripts/test


def used(key, **sums):
    """Record traffic of `key` in the rollups the page reads (what the gateway writes)."""
    start = timezone.now().replace(minute=0, second=0, microsecond=0)
    for period in (60, 900, 3600):
        KeyRollup.objects.create(
            period=period, start=start, model="gemma", key_id=key.id, key_name=key.name, **sums
        )


def create(client, **fields):
    return client.post("/accounts/keys/", {"name": "mine", **fields})


def test_anonymous_visitors_are_sent_to_sign_in(people):
    client = people.client()
    for path in ("/accounts/keys/", "/accounts/keys/playground/"):
        response = client.post(path) if "playground" in path else client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_user_sees_their_keys_and_usage(people):
    used(people.owner_key, requests=1, prompt_tokens=7, completion_tokens=5)
    response = people.client(people.owner).get("/accounts/keys/")
    assert response.status_code == 200
    assert b"owners-secret-project" in response.content
    [row] = response.context["rows"]
    assert (row.requests, row.tokens) == (1, 12)


def test_an_outsider_sees_nothing_of_the_owners_keys(people):
    used(people.owner_key, requests=3)
    response = people.client(people.outsider).get("/accounts/keys/")
    assert response.status_code == 200
    assert b"owners-secret-project" not in response.content
    assert people.owner_key.prefix.encode() not in response.content
    assert response.context["rows"] == []


def test_creating_a_key_shows_its_secret_once(people):
    client = people.client(people.outsider)
    response = create(client, rpm=5)
    secret = response.context["issued"][1]
    key = ApiKey.objects.get(name="mine")
    assert secret.encode() in response.content and key.key_hash == hash_secret(secret)
    assert key.owner == people.outsider and key.rpm == 5
    assert "no-store" in response["Cache-Control"]
    assert secret.encode() not in client.get("/accounts/keys/").content


def test_unset_limits_get_the_default_quota_maximum(people):
    create(people.client(people.outsider))
    key = ApiKey.objects.get(name="mine")
    quota = UserQuota.for_user(people.outsider)
    assert (key.rpm, key.tpm) == (quota.max_rpm, quota.max_tpm)


def test_the_operators_quota_is_enforced(people):
    UserQuota.objects.create(user=people.owner, max_keys=2, max_rpm=20, max_tpm=500)
    client = people.client(people.owner)
    too_fast = create(client, rpm=21, tpm=501)
    assert not ApiKey.objects.filter(name="mine").exists()
    assert b"At most 20 requests" in too_fast.content and b"At most 500 tokens" in too_fast.content
    assert create(client, rpm=20).context["issued"] is not None
    one_too_many = client.post("/accounts/keys/", {"name": "third"})
    assert not ApiKey.objects.filter(name="third").exists()
    assert b"the most you may hold is 2" in one_too_many.content


def test_revoked_keys_free_a_place_in_the_quota(people):
    UserQuota.objects.create(user=people.owner, max_keys=1)
    client = people.client(people.owner)
    assert create(client).context["issued"] is None
    client.post(f"/accounts/keys/{people.owner_key.id}/revoke/")
    assert create(client).context["issued"] is not None


def test_a_taken_name_is_refused(people):
    response = people.client(people.outsider).post(
        "/accounts/keys/", {"name": "owners-secret-project"}
    )
    assert b"That name is taken" in response.content
    assert ApiKey.objects.filter(name="owners-secret-project").count() == 1


def test_a_user_revokes_their_own_key(people):
    client = people.client(people.owner)
    response = client.post(f"/accounts/keys/{people.owner_key.id}/revoke/")
    assert response.status_code == 302
    people.owner_key.refresh_from_db()
    assert not people.owner_key.is_active and people.owner_key.revoked_at is not None


@pytest.mark.parametrize("who", ["outsider", "operator"])
def test_nobody_revokes_another_users_key_here(people, who):
    response = people.client(getattr(people, who)).post(
        f"/accounts/keys/{people.owner_key.id}/revoke/"
    )
    assert response.status_code == 404
    people.owner_key.refresh_from_db()
    assert people.owner_key.is_active


def test_revoking_needs_a_post(people):
    response = people.client(people.owner).get(f"/accounts/keys/{people.owner_key.id}/revoke/")
    assert response.status_code == 405


def test_a_playground_key_is_issued_as_json_to_its_owner(people):
    response = people.client(people.outsider).post("/accounts/keys/playground/")
    assert response.status_code == 201
    data = response.json()
    key = ApiKey.objects.get(name=data["name"])
    assert data["name"].startswith("playground-outsider-")
    assert key.owner == people.outsider and key.key_hash == hash_secret(data["secret"])


def test_a_playground_key_respects_the_quota(people):
    UserQuota.objects.create(user=people.outsider, max_keys=0)
    response = people.client(people.outsider).post("/accounts/keys/playground/")
    assert response.status_code == 403 and "Revoke one first" in response.json()["error"]


def test_the_quota_is_editable_in_the_admin(people):
    response = people.client(people.operator).get("/admin/accounts/userquota/add/")
    assert response.status_code == 200 and b"max_keys" in response.content


def test_a_superusers_playground_key_is_a_short_lived_inference_key(people, settings):
    settings.CHUNGUS_PLAYGROUND_KEY_SECONDS = 3600
    client = people.client(people.operator)
    data = client.post("/accounts/keys/playground/").json()
    key = ApiKey.objects.get(name=data["name"])
    assert key.scope == Scope.INFERENCE
    assert key.expires_at is not None
    assert timezone.now() < key.expires_at <= timezone.now() + timedelta(seconds=3600)
    info = key_infos()[hash_secret(data["secret"])]
    assert not info.admin and info.expires_at is not None
    on_the_api = client.get("/api/keys/", HTTP_AUTHORIZATION=f"Bearer {data['secret']}")
    assert on_the_api.status_code == 403


def test_a_new_playground_key_revokes_the_previous_one(people):
    client = people.client(people.outsider)
    first = client.post("/accounts/keys/playground/").json()["name"]
    second = client.post("/accounts/keys/playground/").json()["name"]
    assert not ApiKey.objects.get(name=first).is_active
    assert ApiKey.objects.get(name=second).is_active


def test_signing_out_revokes_the_playground_key(people):
    client = people.client(people.outsider)
    name = client.post("/accounts/keys/playground/").json()["name"]
    client.post("/accounts/logout/")
    assert not ApiKey.objects.get(name=name).is_active
    assert people.owner_key.is_active  # other keys stay


def test_keys_made_and_revoked_here_are_audited(people):
    client = people.client(people.owner)
    create(client)
    client.post(f"/accounts/keys/{people.owner_key.id}/revoke/")
    entries = AuditEntry.objects.order_by("id")
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("owner", "key.create", "mine"),
        ("owner", "key.revoke", "owners-secret-project"),
    ]


def test_a_playground_key_name_follows_the_name_pattern_whatever_the_username(people):
    user = User.objects.create_user("ann+lab@example.org", password="pw")
    name = people.client(user).post("/accounts/keys/playground/").json()["name"]
    assert name.startswith("playground-ann_lab_example.org-") and check_name("key", name)
