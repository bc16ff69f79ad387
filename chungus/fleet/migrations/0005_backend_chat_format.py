from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("fleet", "0004_inventorysample"),
    ]

    operations = [
        migrations.AddField(
            model_name="backend",
            name="chat_format",
            field=models.CharField(
                blank=True,
                help_text="turn format CHUNGUS chose for a llama.cpp engine it runs (a template "
                "name, 'gguf' for the GGUF's own, 'none' when it has none: chat is refused); "
                "empty: the engine's own business",
                max_length=40,
            ),
        ),
    ]
