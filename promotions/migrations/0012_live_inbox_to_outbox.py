from django.db import migrations


def inbox_to_outbox(apps, schema_editor):
    # Batches still waiting at deploy time keep their matching: they move to the outbox.
    inbox = apps.get_model("promotions", "LiveInbox")
    outbox = apps.get_model("config", "Outbox")
    outbox.objects.bulk_create(
        [
            outbox(topic="promotions.live_events", payload={"event_ids": row.event_ids}, created_at=row.created_at)
            for row in inbox.objects.order_by("pk")
        ]
    )


def outbox_to_inbox(apps, schema_editor):
    inbox = apps.get_model("promotions", "LiveInbox")
    outbox = apps.get_model("config", "Outbox")
    rows = outbox.objects.filter(topic="promotions.live_events").order_by("pk")
    inbox.objects.bulk_create([inbox(event_ids=r.payload["event_ids"], created_at=r.created_at) for r in rows])
    rows.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0011_campaignevent_api_key"),
        ("config", "0005_outbox"),
    ]

    # The inbox holds only batches waiting for matching (seconds of traffic): copying it is free.
    operations = [
        migrations.RunPython(inbox_to_outbox, outbox_to_inbox),
        migrations.DeleteModel(name="LiveInbox"),
    ]
