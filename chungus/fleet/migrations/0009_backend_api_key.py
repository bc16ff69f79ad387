from django.db import migrations, models


class Migration(migrations.Migration):
    # After 0008_deployment_replica_handles too (written at the same time), so the
    # migration graph has one leaf.
    dependencies = [
        ("fleet", "0008_deployment_replica_handles"),
    ]

    operations = [
        migrations.AddField(
            model_name="backend",
            name="api_key",
            field=models.CharField(blank=True, editable=False, max_length=500),
        ),
    ]
