import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("at", models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ("actor", models.CharField(help_text="username, or cli:OS-USER", max_length=150)),
                (
                    "via",
                    models.CharField(
                        help_text="api-key, session, cli, admin, dashboard", max_length=20
                    ),
                ),
                ("ip", models.CharField(blank=True, max_length=45)),
                (
                    "action",
                    models.CharField(db_index=True, help_text="e.g. key.create", max_length=50),
                ),
                ("target", models.CharField(blank=True, max_length=200)),
                ("detail", models.JSONField(blank=True, default=dict)),
            ],
            options={
                "verbose_name_plural": "audit entries",
                "ordering": ["-at", "-id"],
            },
        ),
    ]
