"""A failed custom-list upload alerts the marketers and admins (issue #20), from the statement that marks it."""

from django.db import migrations

from webhooks.upload_alerts import upload_failed_trigger

CREATE, DROP = upload_failed_trigger(
    table="segments_customlistupload",
    name="custom_list_upload",
    title_sql="format('Custom list upload %s failed', COALESCE(NULLIF(r.original_name, ''), '#' || r.id))",
    body_sql="r.error",
    url_sql="format('/audience/lists/%s/', r.custom_list_id)",
)


class Migration(migrations.Migration):
    dependencies = [("segments", "0008_event_dedup_key_index"), ("webhooks", "0003_sql_functions_and_beat")]

    operations = [migrations.RunSQL(CREATE, DROP)]
