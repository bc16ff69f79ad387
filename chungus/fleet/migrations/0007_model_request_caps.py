from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fleet", "0006_engine_choices_from_registry")]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AddField(
            model_name="model",
            name="max_output_tokens",
            field=models.PositiveIntegerField(
                default=4096,
                help_text="most tokens one answer may ask for; sent as max_tokens when a "
                "request names none; 0: no cap (the engine's default)",
            ),
        ),
        migrations.AddField(
            model_name="model",
            name="max_n",
            field=models.PositiveSmallIntegerField(
                default=8, help_text="most choices (`n`) one request may ask for; 0: no cap"
            ),
        ),
        migrations.AddField(
            model_name="model",
            name="max_prompts",
            field=models.PositiveSmallIntegerField(
                default=64, help_text="most prompts in one /v1/completions array; 0: no cap"
            ),
        ),
        migrations.AddField(
            model_name="model",
            name="allow_engine_options",
            field=models.BooleanField(
                default=False,
                help_text="pass on per-request engine settings that affect other users "
                "(Ollama keep_alive, num_ctx, num_gpu…); off: they are dropped",
            ),
        ),
    ]
