"""Audience → Profiles reads the most recently seen profiles from an index (issue #18): at 1,000,000
profiles the page sorted every profile by last_seen on each view."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # CONCURRENTLY: uploads keep writing profiles while the index builds.
    atomic = False

    dependencies = [("segments", "0009_upload_failed_alert")]

    operations = [
        AddIndexConcurrently(
            model_name="profile",
            index=models.Index(fields=["-last_seen", "id"], name="profile_last_seen"),
        ),
    ]
