from django.db import migrations, models

# Cost on a 10M-row segments_event: a nullable column without a default is a catalogue change
# (no table rewrite, a brief ACCESS EXCLUSIVE lock). Its unique index is the next migration.


class Migration(migrations.Migration):
    dependencies = [
        ("segments", "0006_custom_list_member_one_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="dedup_key",
            field=models.UUIDField(blank=True, null=True),
        ),
    ]
