"""Playground keys that 0004_apikey_scope made admin keys are revoked, and made inference keys.

0004 made every key a superuser owned an admin key, among them the playground's keys of
earlier versions (named `playground-<username>-<6 hex>`, made without an expiry). Their secrets
were kept in browsers' localStorage, where a script on the page, an extension or the next
person at a shared browser may have read them. Making them inference keys would leave such a
copy working on /v1; revoking them costs nothing, since the playground forgets a refused key
and issues a fresh one (an inference key that expires with the session). They also become
inference keys, so that re-activating one in the admin never brings an admin credential back.
"""

import re
from typing import Any

from django.db import migrations
from django.utils import timezone

# The names the playground has given its keys (chungus.accounts.ownkeys, in every version).
PLAYGROUND_NAME = re.compile(r"playground-.+-[0-9a-f]{6}")


def revoke_admin_playground_keys(apps: Any, schema_editor: Any) -> None:
    ApiKey = apps.get_model("accounts", "ApiKey")
    now = timezone.now()
    for key in ApiKey.objects.filter(scope="admin", name__startswith="playground-"):
        if PLAYGROUND_NAME.fullmatch(key.name):
            key.scope, key.is_active = "inference", False
            key.revoked_at = key.revoked_at or now
            key.save(update_fields=["scope", "is_active", "revoked_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0005_loginfailure"),
    ]

    operations = [
        migrations.RunPython(revoke_admin_playground_keys, migrations.RunPython.noop),
    ]
