"""Keys get a scope (inference or admin).

Before this, any key a superuser owned was an admin credential. So that existing installs keep
working, keys that superusers own now become admin keys; every other key, and every key made from
now on unless asked otherwise, is an inference key.
"""

from typing import Any

from django.db import migrations, models


def superuser_keys_become_admin(apps: Any, schema_editor: Any) -> None:
    ApiKey = apps.get_model("accounts", "ApiKey")
    ApiKey.objects.filter(owner__is_superuser=True).update(scope="admin")


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_userquota"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="scope",
            field=models.CharField(
                choices=[
                    ("inference", "inference (/v1 only)"),
                    (
                        "admin",
                        "admin (/v1, the management API and fleet status; superusers only)",
                    ),
                ],
                default="inference",
                max_length=16,
            ),
        ),
        migrations.RunPython(superuser_keys_become_admin, migrations.RunPython.noop),
    ]
