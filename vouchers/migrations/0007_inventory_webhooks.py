"""`inventory.low` events and low-stock / exhausted alerts for voucher lists (issue #20): AFTER
UPDATE on vouchers_voucherlist, once per statement, for each list whose codes left crossed its
threshold or reached zero; the alert goes to marketers and admins and to the list's partner's users."""

from django.db import migrations

from webhooks.upload_alerts import upload_failed_trigger

UPLOAD_CREATE, UPLOAD_DROP = upload_failed_trigger(
    table="vouchers_voucherupload",
    name="voucher_upload",
    title_sql="(SELECT format('Voucher upload %s to %s / %s failed', r.file_name, pa.name, l.tag) "
    "FROM vouchers_voucherlist l JOIN vouchers_partner pa ON pa.id = l.partner_id WHERE l.id = r.voucher_list_id)",
    body_sql="r.error_message",
    url_sql="format('/vouchers/uploads/%s/', r.id)",
    # The list's partner hears of it too, with a link to their own area.
    extra_sql="PERFORM webhooks_notify_users(ARRAY(SELECT pu.user_id FROM vouchers_partneruser pu "
    "JOIN vouchers_voucherlist l ON l.partner_id = pu.partner_id WHERE l.id = r.voucher_list_id), 'upload_failed', "
    "format('Voucher upload %s failed', r.file_name), r.error_message, format('/partner/uploads/%s/', r.id));",
)

FUNCTIONS = """
CREATE OR REPLACE FUNCTION vouchers_inventory_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
    ntitle text;
    nkind text;
BEGIN
    FOR r IN
        SELECT n.id, n.tag, n.partner_id, pa.name AS partner, n.low_stock_threshold AS threshold,
               n.codes_total - n.codes_assigned AS left_now, (n.codes_total - n.codes_assigned = 0) AS exhausted
        FROM old_lists o JOIN new_lists n ON n.id = o.id JOIN vouchers_partner pa ON pa.id = n.partner_id
        WHERE n.codes_total > 0
          AND ((o.codes_total - o.codes_assigned > 0 AND n.codes_total - n.codes_assigned = 0)
               OR (o.codes_total - o.codes_assigned > n.low_stock_threshold
                   AND n.codes_total - n.codes_assigned BETWEEN 1 AND n.low_stock_threshold))
        ORDER BY n.id
    LOOP
        PERFORM webhooks_emit('inventory.low', ARRAY[jsonb_build_object(
            'kind', 'voucher_list', 'voucherListId', r.id, 'partner', r.partner, 'tag', r.tag,
            'codesLeft', r.left_now, 'threshold', r.threshold, 'exhausted', r.exhausted)]);
        nkind := CASE WHEN r.exhausted THEN 'inventory_exhausted' ELSE 'inventory_low' END;
        ntitle := CASE WHEN r.exhausted THEN format('Voucher list %s / %s has no codes left', r.partner, r.tag)
                       ELSE format('Voucher list %s / %s is low on codes: %s left', r.partner, r.tag, r.left_now) END;
        PERFORM webhooks_notify_staff(nkind, ntitle, '', format('/vouchers/%s/', r.id));
        PERFORM webhooks_notify_users(
            ARRAY(SELECT user_id FROM vouchers_partneruser WHERE partner_id = r.partner_id), nkind, ntitle, '',
            format('/partner/lists/%s/', r.id));
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER voucher_list_inventory_webhooks AFTER UPDATE ON vouchers_voucherlist
    REFERENCING OLD TABLE AS old_lists NEW TABLE AS new_lists
    FOR EACH STATEMENT EXECUTE FUNCTION vouchers_inventory_webhooks();
ALTER TABLE vouchers_voucherlist ENABLE ALWAYS TRIGGER voucher_list_inventory_webhooks;
"""

DROP = """
DROP TRIGGER IF EXISTS voucher_list_inventory_webhooks ON vouchers_voucherlist;
DROP FUNCTION IF EXISTS vouchers_inventory_webhooks();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("vouchers", "0006_assignment_key_portable_fewer_indexes"),
        ("webhooks", "0003_sql_functions_and_beat"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, DROP), migrations.RunSQL(UPLOAD_CREATE, UPLOAD_DROP)]
