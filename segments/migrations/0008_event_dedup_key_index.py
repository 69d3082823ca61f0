from django.db import migrations, models

# Cost on a 10M-row segments_event: the unique index is built CONCURRENTLY (hence atomic =
# False): one scan of the table while uploads keep writing, no lock that blocks them. Every
# existing row has a null key, so the partial index starts empty and holds only keyed events.
# A failed concurrent build leaves an INVALID index behind: the DROP first makes a re-run clean.


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("segments", "0007_event_dedup_key"),
    ]

    operations = [
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
                    [
                        "DROP INDEX CONCURRENTLY IF EXISTS event_dedup_key_once",
                        "CREATE UNIQUE INDEX CONCURRENTLY event_dedup_key_once"
                        " ON segments_event (dedup_key) WHERE dedup_key IS NOT NULL",
                    ],
                    "DROP INDEX CONCURRENTLY IF EXISTS event_dedup_key_once",
                ),
            ],
        ),
    ]
