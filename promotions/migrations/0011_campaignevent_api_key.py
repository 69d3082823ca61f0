import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("config", "0004_api_scopes_and_idempotency"),
        ("promotions", "0010_grant_rollup"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignevent",
            name="api_key",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="config.apikey",
            ),
        ),
    ]
