"""`wallet.transaction` webhook events (issue #20): AFTER INSERT on wallets_transaction, once per
statement (a run chunk's credits, an expiry sweep's batch), one `webhooks_emit_later` row naming
the statement's ledger rows, only when an active endpoint subscribes (else one read of a tiny
table); the deliverer builds one event per ledger row from it with `wallets_transaction_payloads`.
`ENABLE ALWAYS` so bulk writers running as replica still record them."""

from django.db import migrations

FUNCTIONS = """
-- The ledger is append-only (migration 0003), so payloads built later are exact.
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

CREATE OR REPLACE FUNCTION wallets_transaction_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF webhooks_subscribed('wallet.transaction') THEN
        PERFORM webhooks_emit_later('wallet.transaction', 'wallets_transaction_payloads',
                                    ARRAY(SELECT id FROM new_transactions ORDER BY id));
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER transaction_webhooks_insert AFTER INSERT ON wallets_transaction
    REFERENCING NEW TABLE AS new_transactions FOR EACH STATEMENT EXECUTE FUNCTION wallets_transaction_webhooks();
ALTER TABLE wallets_transaction ENABLE ALWAYS TRIGGER transaction_webhooks_insert;
"""

DROP = """
DROP TRIGGER IF EXISTS transaction_webhooks_insert ON wallets_transaction;
DROP FUNCTION IF EXISTS wallets_transaction_webhooks();
DROP FUNCTION IF EXISTS wallets_transaction_payloads(bigint[]);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0007_idempotency_record_moves_to_config"),
        ("webhooks", "0003_sql_functions_and_beat"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, DROP)]
