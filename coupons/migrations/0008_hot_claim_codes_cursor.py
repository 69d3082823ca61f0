"""The claim's UPDATE of a code (`assigned_at`) becomes a HOT update (issue #18): the partial index
of free codes, whose predicate that UPDATE changed, gives way to a plain (coupon, id) index walked
from a per-series cursor, and the code table keeps room on each page for its codes' new versions.

Fillfactor 45: a free code row (~60 bytes with its line pointer) grows by 8 bytes when given, and
a claim gives a page's codes in one transaction (id order), so a page needs room for a second
version of every row on it. It applies to pages written from now on."""

from django.db import migrations, models

# Every code below the cursor is given: the cursor starts just before the first free code
# (read from the partial index while it is still there).
CURSOR_FROM_POOL = """
UPDATE coupons_coupon AS o SET codes_cursor = COALESCE(
    (SELECT min(c.id) - 1 FROM coupons_couponcode AS c WHERE c.coupon_id = o.id AND c.assigned_at IS NULL),
    (SELECT max(c.id) FROM coupons_couponcode AS c WHERE c.coupon_id = o.id),
    0)
WHERE o.kind = 'bulk'
"""


class Migration(migrations.Migration):
    dependencies = [("coupons", "0007_inventory_webhooks")]

    operations = [
        migrations.AddField(
            model_name="coupon",
            name="codes_cursor",
            field=models.BigIntegerField(default=0, editable=False),
        ),
        migrations.RunSQL(CURSOR_FROM_POOL, migrations.RunSQL.noop),
        migrations.RemoveIndex(model_name="couponcode", name="coupon_code_unassigned"),
        migrations.AddIndex(
            model_name="couponcode",
            index=models.Index(fields=["coupon", "id"], name="coupon_code_series_id"),
        ),
        migrations.RunSQL(
            "ALTER TABLE coupons_couponcode SET (fillfactor = 45)",
            "ALTER TABLE coupons_couponcode RESET (fillfactor)",
        ),
    ]
