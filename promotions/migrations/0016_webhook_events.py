"""Webhook events and alerts from the engine's own statements (issue #20), set-based.

- `grant_webhooks_insert`: AFTER INSERT on promotions_grant, once per statement (one chunk of a
  run, one live batch): when an active endpoint subscribes to `reward.granted`, one small row
  naming the statement's granted grants (`webhooks_emit_later`); the deliverer builds one event
  per grant from it later with `promotions_reward_granted_payloads` (campaign, identity,
  occurrence, points or code, the lot's activation and expiry), off the run's path. Building
  them in the chunk's transaction cost a 100,000-profile run 1.35x its time (bench/RESULTS.md).
  With no subscriber the trigger costs one read of a tiny table.
  Budget thresholds: for the statement's campaigns with a points budget, the points before and
  after the statement (from the rollup, which the earlier-named `grant_rollup_insert` trigger has
  already moved) tell whether 80 % or 100 % was crossed: a `budget.threshold` event and an alert.
- `campaign_webhooks_status`: AFTER UPDATE on promotions_campaign: `campaign.status_changed`
  for each row whose status changed (with `end_reason`), and an alert when one completes or stops.
- `run_failed_alert`: an alert when a campaign run turns failed.
- `ENABLE ALWAYS`, like the rollup triggers: the bulk insert may run as replica.
"""

from django.db import migrations

FUNCTIONS = """
-- The reward.granted payloads of these grants (grants are not updated once written: exact later).
CREATE OR REPLACE FUNCTION promotions_reward_granted_payloads(ids bigint[]) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'campaignId', n.campaign_id, 'campaignName', c.name, 'identity', p.identity,
        'occurrence', n.occurrence, 'rewardType', c.reward_type,
        'points', n.points, 'code', NULLIF(n.code, ''),
        'activatesAt', l.activates_at, 'expiresAt', l.expires_at, 'grantedAt', n.created_at)
    FROM promotions_grant n
    JOIN promotions_campaign c ON c.id = n.campaign_id
    JOIN segments_profile p ON p.id = n.profile_id
    LEFT JOIN LATERAL (
        SELECT activates_at, expires_at FROM wallets_lot o
        WHERE n.points IS NOT NULL AND o.profile_id = n.profile_id AND o.campaign_id = n.campaign_id
          AND o.occurrence = n.occurrence
        LIMIT 1
    ) l ON true
    WHERE n.id = ANY(ids)
    ORDER BY n.id
$$;

CREATE OR REPLACE FUNCTION promotions_grant_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One row for the whole statement; the deliverer builds the events later (off the run's path).
    IF webhooks_subscribed('reward.granted') THEN
        PERFORM webhooks_emit_later('reward.granted', 'promotions_reward_granted_payloads',
                                    ARRAY(SELECT id FROM new_grants WHERE granted ORDER BY id));
    END IF;
    -- Budget thresholds: only campaigns with a points budget that this statement gave points in.
    PERFORM promotions_budget_crossed(t.campaign_id, t.given)
    FROM (SELECT campaign_id, sum(points) AS given FROM new_grants WHERE granted AND points IS NOT NULL
          GROUP BY campaign_id) t
    JOIN promotions_campaign c ON c.id = t.campaign_id AND c.budget_campaign > 0;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION promotions_budget_crossed(cid bigint, given numeric) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    budget numeric;
    cname text;
    total numeric;
    pct int;
BEGIN
    SELECT budget_campaign, name INTO budget, cname FROM promotions_campaign WHERE id = cid;
    SELECT COALESCE(sum(points), 0) INTO total FROM promotions_grantrollup WHERE campaign_id = cid;
    FOREACH pct IN ARRAY ARRAY[80, 100] LOOP
        IF total - given < budget * pct / 100 AND total >= budget * pct / 100 THEN
            PERFORM webhooks_emit('budget.threshold', ARRAY[jsonb_build_object(
                'campaignId', cid, 'campaignName', cname, 'threshold', pct,
                'budget', budget, 'used', total)]);
            PERFORM webhooks_notify_staff('budget',
                format('Campaign "%s" has used %s %% of its points budget', cname, pct),
                format('%s of %s points given.', total, budget),
                format('/campaigns/%s/', cid));
        END IF;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION promotions_campaign_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF webhooks_subscribed('campaign.status_changed') THEN
        PERFORM webhooks_emit('campaign.status_changed', ARRAY(
            SELECT jsonb_build_object('campaignId', n.id, 'campaignName', n.name, 'from', o.status,
                                      'to', n.status, 'reason', NULLIF(n.end_reason, ''), 'changedAt', now())
            FROM old_campaigns o JOIN new_campaigns n ON n.id = o.id
            WHERE n.status IS DISTINCT FROM o.status ORDER BY n.id
        ));
    END IF;
    PERFORM webhooks_notify_staff('campaign',
        format('Campaign "%s" %s', n.name, CASE n.status WHEN 'completed' THEN 'completed' ELSE 'stopped' END),
        COALESCE(NULLIF(n.end_reason, ''), ''), format('/campaigns/%s/', n.id))
    FROM old_campaigns o JOIN new_campaigns n ON n.id = o.id
    WHERE n.status IS DISTINCT FROM o.status AND n.status IN ('completed', 'stopped');
    RETURN NULL;
END $$;

-- A run that failed (no code path sets it today except a crash handler; kept for when one does).
CREATE OR REPLACE FUNCTION promotions_run_failed_alert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhooks_notify_staff('campaign', format('Campaign "%s": a run failed', c.name),
                                  COALESCE(n.error, ''), format('/campaigns/%s/', c.id))
    FROM old_runs o JOIN new_runs n ON n.id = o.id JOIN promotions_campaign c ON c.id = n.campaign_id
    WHERE n.status = 'failed' AND o.status IS DISTINCT FROM 'failed';
    RETURN NULL;
END $$;
CREATE TRIGGER run_failed_alert AFTER UPDATE ON promotions_campaignrun
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs FOR EACH STATEMENT EXECUTE FUNCTION promotions_run_failed_alert();

CREATE TRIGGER grant_webhooks_insert AFTER INSERT ON promotions_grant
    REFERENCING NEW TABLE AS new_grants FOR EACH STATEMENT EXECUTE FUNCTION promotions_grant_webhooks();
ALTER TABLE promotions_grant ENABLE ALWAYS TRIGGER grant_webhooks_insert;
CREATE TRIGGER campaign_webhooks_status AFTER UPDATE ON promotions_campaign
    REFERENCING OLD TABLE AS old_campaigns NEW TABLE AS new_campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION promotions_campaign_webhooks();
ALTER TABLE promotions_campaign ENABLE ALWAYS TRIGGER campaign_webhooks_status;
"""

DROP = """
DROP TRIGGER IF EXISTS grant_webhooks_insert ON promotions_grant;
DROP TRIGGER IF EXISTS campaign_webhooks_status ON promotions_campaign;
DROP FUNCTION IF EXISTS promotions_grant_webhooks();
DROP FUNCTION IF EXISTS promotions_reward_granted_payloads(bigint[]);
DROP FUNCTION IF EXISTS promotions_budget_crossed(bigint, numeric);
DROP FUNCTION IF EXISTS promotions_campaign_webhooks();
DROP TRIGGER IF EXISTS run_failed_alert ON promotions_campaignrun;
DROP FUNCTION IF EXISTS promotions_run_failed_alert();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("promotions", "0015_beat_outcome_refresh"),
        ("webhooks", "0003_sql_functions_and_beat"),
        ("wallets", "0007_idempotency_record_moves_to_config"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, DROP)]
