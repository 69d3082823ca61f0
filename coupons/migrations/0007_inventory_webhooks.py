"""`coupon.redeemed` / `coupon.reverted` events (AFTER INSERT on the append-only redemptions, so
every path that redeems or reverts is covered), and `inventory.low` events and low-stock / exhausted alerts for bulk code series (issue #20):
AFTER UPDATE on coupons_coupon, once per statement, for each series whose codes left crossed its
`low_stock_threshold` or reached zero in that statement (so one alert per crossing, not per code)."""

from django.db import migrations

from webhooks.upload_alerts import upload_failed_trigger

UPLOAD_CREATE, UPLOAD_DROP = upload_failed_trigger(
    table="coupons_codebatch",
    name="code_batch",
    title_sql="(SELECT format('Code upload for coupon \"%s\" failed', c.name) FROM coupons_coupon c WHERE c.id = r.coupon_id)",
    body_sql="r.error",
    url_sql="format('/coupons/%s/', r.coupon_id)",
)

FUNCTIONS = """
CREATE OR REPLACE FUNCTION coupons_inventory_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT n.id, n.name, n.low_stock_threshold AS threshold, n.codes_total - n.codes_assigned AS left_now,
               (n.codes_total - n.codes_assigned = 0) AS exhausted
        FROM old_coupons o JOIN new_coupons n ON n.id = o.id
        WHERE n.kind = 'bulk' AND n.codes_total > 0
          AND ((o.codes_total - o.codes_assigned > 0 AND n.codes_total - n.codes_assigned = 0)
               OR (n.low_stock_threshold IS NOT NULL
                   AND o.codes_total - o.codes_assigned > n.low_stock_threshold
                   AND n.codes_total - n.codes_assigned BETWEEN 1 AND n.low_stock_threshold))
        ORDER BY n.id
    LOOP
        PERFORM webhooks_emit('inventory.low', ARRAY[jsonb_build_object(
            'kind', 'coupon_series', 'couponId', r.id, 'name', r.name, 'codesLeft', r.left_now,
            'threshold', r.threshold, 'exhausted', r.exhausted)]);
        PERFORM webhooks_notify_staff(
            CASE WHEN r.exhausted THEN 'inventory_exhausted' ELSE 'inventory_low' END,
            CASE WHEN r.exhausted THEN format('Coupon "%s" has no codes left', r.name)
                 ELSE format('Coupon "%s" is low on codes: %s left', r.name, r.left_now) END,
            '', format('/coupons/%s/', r.id));
    END LOOP;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION coupons_redemption_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k text;
BEGIN
    FOREACH k IN ARRAY ARRAY['redeem', 'revert'] LOOP
        IF webhooks_subscribed(CASE k WHEN 'redeem' THEN 'coupon.redeemed' ELSE 'coupon.reverted' END) THEN
            PERFORM webhooks_emit(CASE k WHEN 'redeem' THEN 'coupon.redeemed' ELSE 'coupon.reverted' END, ARRAY(
                SELECT jsonb_build_object('couponId', r.coupon_id, 'couponName', c.name, 'identity', p.identity,
                                          'code', r.code, 'at', r.created_at,
                                          'redeemCount', a.redeem_count)
                FROM new_redemptions r JOIN coupons_coupon c ON c.id = r.coupon_id
                JOIN segments_profile p ON p.id = r.profile_id
                JOIN coupons_codeassignment a ON a.id = r.assignment_id
                WHERE r.kind = k ORDER BY r.id));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;

CREATE TRIGGER redemption_webhooks AFTER INSERT ON coupons_redemption
    REFERENCING NEW TABLE AS new_redemptions FOR EACH STATEMENT EXECUTE FUNCTION coupons_redemption_webhooks();

CREATE TRIGGER coupon_inventory_webhooks AFTER UPDATE ON coupons_coupon
    REFERENCING OLD TABLE AS old_coupons NEW TABLE AS new_coupons
    FOR EACH STATEMENT EXECUTE FUNCTION coupons_inventory_webhooks();
ALTER TABLE coupons_coupon ENABLE ALWAYS TRIGGER coupon_inventory_webhooks;
"""

DROP = """
DROP TRIGGER IF EXISTS coupon_inventory_webhooks ON coupons_coupon;
DROP FUNCTION IF EXISTS coupons_inventory_webhooks();
DROP TRIGGER IF EXISTS redemption_webhooks ON coupons_redemption;
DROP FUNCTION IF EXISTS coupons_redemption_webhooks();
"""


class Migration(migrations.Migration):
    dependencies = [("coupons", "0006_import_file"), ("webhooks", "0003_sql_functions_and_beat")]

    operations = [migrations.RunSQL(FUNCTIONS, DROP), migrations.RunSQL(UPLOAD_CREATE, UPLOAD_DROP)]
