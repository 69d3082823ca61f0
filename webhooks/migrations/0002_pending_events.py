import django.contrib.postgres.fields
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name="PendingEvents",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "type",
                    models.CharField(
                        choices=[
                            ("reward.granted", "reward.granted: a reward was given"),
                            ("wallet.transaction", "wallet.transaction: a ledger movement"),
                            ("coupon.redeemed", "coupon.redeemed: a code was redeemed"),
                            ("coupon.reverted", "coupon.reverted: a redemption was reverted"),
                            ("campaign.status_changed", "campaign.status_changed"),
                            ("inventory.low", "inventory.low: a code series or voucher list is low or exhausted"),
                            ("budget.threshold", "budget.threshold: 80 % or 100 % of a campaign budget"),
                            ("points.expiring", "points.expiring: daily digest of points about to expire"),
                        ],
                        max_length=40,
                    ),
                ),
                ("function", models.CharField(max_length=63)),
                ("ids", django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), size=None)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
    ]
