"""The claim's UPDATE of a code (`assigned_at`) becomes a HOT update (issue #18): the partial pool
index, whose predicate that UPDATE changed, goes (claims walk `voucher_code_list_id` from a
per-list cursor), and the code table keeps room on each page for its codes' new versions
(fillfactor 45, see coupons 0008; it applies to pages written from now on)."""

from django.db import migrations, models

# Every code below the cursor is given: the cursor starts just before the first free code.
CURSOR_FROM_POOL = """
UPDATE vouchers_voucherlist AS o SET codes_cursor = COALESCE(
    (SELECT min(c.id) - 1 FROM vouchers_vouchercode AS c WHERE c.voucher_list_id = o.id AND c.assigned_at IS NULL),
    (SELECT max(c.id) FROM vouchers_vouchercode AS c WHERE c.voucher_list_id = o.id),
    0)
"""


class Migration(migrations.Migration):
    dependencies = [("vouchers", "0007_inventory_webhooks")]

    operations = [
        migrations.AddField(
            model_name="voucherlist",
            name="codes_cursor",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunSQL(CURSOR_FROM_POOL, migrations.RunSQL.noop),
        migrations.RemoveIndex(model_name="vouchercode", name="voucher_code_pool"),
        migrations.RunSQL(
            "ALTER TABLE vouchers_vouchercode SET (fillfactor = 45)",
            "ALTER TABLE vouchers_vouchercode RESET (fillfactor)",
        ),
    ]
