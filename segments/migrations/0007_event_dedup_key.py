from django.db import migrations, models

# Cost on a 10M-row segments_event: adding a nullable column without a default is a catalogue
# change (no rewrite, a brief ACCESS EXCLUSIVE lock). The unique index is built CONCURRENTLY
# (hence atomic = False): one scan of the table while uploads keep writing; every existing row
# has a null key, so the partial index starts empty and stays as small as the keyed events.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("segments", "0006_custom_list_member_one_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="dedup_key",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddConstraint(
                    model_name="event",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(dedup_key__isnull=False),
                        fields=("dedup_key",),
                        name="event_dedup_key_once",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS event_dedup_key_once"
                    " ON segments_event (dedup_key) WHERE dedup_key IS NOT NULL",
                    "DROP INDEX CONCURRENTLY IF EXISTS event_dedup_key_once",
                ),
            ],
        ),
    ]
