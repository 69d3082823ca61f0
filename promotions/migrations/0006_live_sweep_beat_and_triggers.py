from django.db import migrations

from core.beat import BEAT_MIGRATION_DEPENDENCY, periodic_task_ensure, periodic_task_remove

NAME = "promotions: live sweep (inaction checks, live start and end)"


def forwards(apps, schema_editor):
    periodic_task_ensure(apps, name=NAME, task="promotions.live_sweep", every_seconds=30)
    # Fill the trigger lookup for live campaigns saved before it existed.
    campaign_model = apps.get_model("promotions", "Campaign")
    trigger_model = apps.get_model("promotions", "LiveTrigger")
    rows = []
    for campaign in campaign_model.objects.filter(qualification__in=("live_action", "live_inaction")).iterator():
        if campaign.qualification == "live_action":
            names = sorted({t.get("event") for t in campaign.triggers or [] if isinstance(t, dict) and t.get("event")})
            rows += [trigger_model(campaign_id=campaign.pk, event_name=name, role="action") for name in names]
        elif campaign.inaction_event_a:
            rows.append(trigger_model(campaign_id=campaign.pk, event_name=campaign.inaction_event_a, role="inaction_a"))
    trigger_model.objects.bulk_create(rows, ignore_conflicts=True)


def backwards(apps, schema_editor):
    periodic_task_remove(apps, name=NAME)


class Migration(migrations.Migration):
    dependencies = [("promotions", "0005_live_engine"), BEAT_MIGRATION_DEPENDENCY]

    operations = [migrations.RunPython(forwards, backwards)]
