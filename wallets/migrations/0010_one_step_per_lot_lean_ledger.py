"""Fewer rows and bytes per reward (issue #18):

- one pending lifecycle step per lot, its next one: a lot that still owes its activation loses
  its expire step (the activation sweep writes it when it activates the lot, from the lot's
  `expires_at`, so no step is lost);
- the ledger stops repeating its lot: a row's campaign and occurrence are its lot's (only rows
  about a lot ever had them), read through `lot_id`; the webhook payload reads them there.
  The columns go only if every existing row agrees with its lot, so nothing is lost.
"""

from django.db import migrations

# A lot with both steps pending keeps the activation (its next step) only.
ONE_STEP_PER_LOT = """
DELETE FROM wallets_lotdue AS e
USING wallets_lotdue AS a
WHERE e.step = 'expire' AND a.step = 'activate' AND a.lot_id = e.lot_id
"""
# Back to two rows: every lot still owing its activation owes its expiry too.
TWO_STEPS_PER_LOT = """
INSERT INTO wallets_lotdue (step, due_at, lot_id)
SELECT 'expire', l.expires_at, l.id
FROM wallets_lotdue AS a JOIN wallets_lot AS l ON l.id = a.lot_id
WHERE a.step = 'activate' AND l.expires_at IS NOT NULL
ON CONFLICT DO NOTHING
"""

LEDGER_AGREES_WITH_LOTS = """
DO $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM wallets_transaction AS t LEFT JOIN wallets_lot AS l ON l.id = t.lot_id
        WHERE (t.campaign_id IS NOT NULL AND t.campaign_id IS DISTINCT FROM l.campaign_id)
           OR (t.occurrence <> '' AND t.occurrence IS DISTINCT FROM l.occurrence)
    ) THEN
        RAISE EXCEPTION 'wallets 0010: a ledger row names a campaign or occurrence its lot does not';
    END IF;
END $$;
"""

PAYLOADS_FROM_LOTS = """
CREATE OR REPLACE FUNCTION wallets_transaction_payloads(ids bigint[]) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'transactionId', t.id, 'walletId', t.wallet_id, 'identity', p.identity,
        'type', t.kind, 'source', t.source, 'points', t.points,
        'description', COALESCE(NULLIF(t.description, ''), l.description, ''),
        'campaignId', l.campaign_id, 'occurrence', NULLIF(l.occurrence, ''),
        'orderId', NULLIF(t.order_id, ''), 'createdAt', t.created_at)
    FROM wallets_transaction t JOIN segments_profile p ON p.id = t.profile_id
    LEFT JOIN wallets_lot l ON l.id = t.lot_id
    WHERE t.id = ANY(ids)
    ORDER BY t.id
$$;
"""
PAYLOADS_FROM_LEDGER = """
CREATE OR REPLACE FUNCTION wallets_transaction_payloads(ids bigint[]) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'transactionId', t.id, 'walletId', t.wallet_id, 'identity', p.identity,
        'type', t.kind, 'source', t.source, 'points', t.points, 'description', t.description,
        'campaignId', t.campaign_id, 'occurrence', NULLIF(t.occurrence, ''),
        'orderId', NULLIF(t.order_id, ''), 'createdAt', t.created_at)
    FROM wallets_transaction t JOIN segments_profile p ON p.id = t.profile_id
    WHERE t.id = ANY(ids)
    ORDER BY t.id
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("wallets", "0009_wallet_expiry_notice")]

    operations = [
        migrations.RunSQL(ONE_STEP_PER_LOT, TWO_STEPS_PER_LOT),
        migrations.RunSQL(LEDGER_AGREES_WITH_LOTS, migrations.RunSQL.noop),
        # The payload function first: it must not read the columns about to go. Backwards, the
        # columns come back (empty for rows written meanwhile) before the old function.
        migrations.RunSQL(PAYLOADS_FROM_LOTS, PAYLOADS_FROM_LEDGER),
        migrations.RemoveField(model_name="transaction", name="campaign"),
        migrations.RemoveField(model_name="transaction", name="occurrence"),
    ]
