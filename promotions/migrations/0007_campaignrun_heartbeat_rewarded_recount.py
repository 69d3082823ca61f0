"""Run heartbeat (lost chunk task recovery) and a recount of Campaign.rewarded_profiles.

The counter used to grow by every granted reward of a run, so with "reward again on later
runs" a profile rewarded on two runs counted twice; it now counts distinct profiles. The
recount puts existing campaigns right in one statement.
"""

from django.db import migrations, models

RECOUNT = """
UPDATE promotions_campaign
SET rewarded_profiles = (
    SELECT count(DISTINCT g.profile_id) FROM promotions_grant g
    WHERE g.campaign_id = promotions_campaign.id AND g.granted
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0006_live_sweep_beat_and_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaignrun",
            name="heartbeat_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="campaignrun",
            index=models.Index(
                condition=models.Q(("status", "running")), fields=["heartbeat_at"], name="campaign_run_heartbeat"
            ),
        ),
        migrations.RunSQL(RECOUNT, migrations.RunSQL.noop),
    ]
