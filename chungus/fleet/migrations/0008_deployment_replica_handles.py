from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fleet", "0007_model_request_caps")]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="replica_handles",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
