"""`wallet.transaction` webhook events (issue #20): AFTER INSERT on wallets_transaction, once per
statement (a run chunk's credits, an expiry sweep's batch), one event per ledger row in one
`webhooks_emit` call, only when an active endpoint subscribes (else one read of a tiny table).
`ENABLE ALWAYS` so bulk writers running as replica still record them."""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION wallets_transaction_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF webhooks_subscribed('wallet.transaction') THEN
        PERFORM webhooks_emit('wallet.transaction', ARRAY(
            SELECT jsonb_build_object(
                'transactionId', t.id, 'walletId', t.wallet_id, 'identity', p.identity,
                'type', t.kind, 'source', t.source, 'points', t.points, 'description', t.description,
                'campaignId', t.campaign_id, 'occurrence', NULLIF(t.occurrence, ''),
                'orderId', NULLIF(t.order_id, ''), 'createdAt', t.created_at)
            FROM new_transactions t JOIN segments_profile p ON p.id = t.profile_id
            ORDER BY t.id
        ));
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
"""


class Migration(migrations.Migration):
    dependencies = [
        ("wallets", "0007_idempotency_record_moves_to_config"),
        ("webhooks", "0002_sql_functions_and_beat"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, DROP)]
