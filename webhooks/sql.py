"""SQL functions other apps' triggers call to record events and alerts in their own transaction.

- `webhooks_subscribed(type)`: whether an active endpoint wants `type` (a read of a tiny table),
  so a trigger on a million-row statement does nothing when nobody listens.
- `webhooks_emit(type, payloads jsonb[])`: one event row per payload and one delivery row per
  (event, subscribed active endpoint): two set-based statements whatever the count.
- `webhooks_emit_later(type, function, ids)`: one row per statement for bulk writers (a run
  chunk): the deliverer builds the events later with `function(ids)` (webhooks.models.PendingEvents).
- `webhooks_notify_staff(kind, title, body, url)`: a notification for every active marketer and
  admin; `webhooks_notify_users(user_ids, …)` for given people (a partner's users).
  E-mails follow from `emailed_at IS NULL` (the deliver sweep sends them), so nothing more has to
  happen after the commit.
"""

FUNCTIONS = """
CREATE OR REPLACE FUNCTION webhooks_subscribed(etype text) RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM webhooks_webhookendpoint WHERE is_active AND etype = ANY(event_types))
$$;

CREATE OR REPLACE FUNCTION webhooks_emit(etype text, payloads jsonb[]) RETURNS bigint LANGUAGE sql AS $$
    WITH ev AS (
        INSERT INTO webhooks_webhookevent (type, payload, created_at)
        SELECT etype, p, now() FROM unnest(payloads) AS p
        WHERE EXISTS (SELECT 1 FROM webhooks_webhookendpoint WHERE is_active AND etype = ANY(event_types))
        RETURNING id
    ), d AS (
        INSERT INTO webhooks_webhookdelivery (event_id, endpoint_id, status, attempts, next_attempt_at, created_at)
        SELECT ev.id, e.id, 'pending', 0, now(), now()
        FROM ev CROSS JOIN webhooks_webhookendpoint e
        WHERE e.is_active AND etype = ANY(e.event_types)
        RETURNING 1
    )
    SELECT count(*) FROM d
$$;

-- The cheap form for bulk writers: one row naming the rows and the function that builds their
-- payloads (`fn(ids bigint[]) RETURNS SETOF jsonb`); the deliverer expands it later.
CREATE OR REPLACE FUNCTION webhooks_emit_later(etype text, fn text, ids bigint[]) RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhooks_pendingevents (type, function, ids, created_at)
    SELECT etype, fn, ids, now()
    WHERE cardinality(ids) > 0
      AND EXISTS (SELECT 1 FROM webhooks_webhookendpoint WHERE is_active AND etype = ANY(event_types))
$$;

CREATE OR REPLACE FUNCTION webhooks_notify_users(user_ids bigint[], nkind text, ntitle text, nbody text, nurl text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO webhooks_notification (user_id, kind, title, body, url, created_at)
    SELECT u.id, nkind, left(ntitle, 300), nbody, left(nurl, 300), now()
    FROM auth_user u WHERE u.id = ANY(user_ids) AND u.is_active
$$;

CREATE OR REPLACE FUNCTION webhooks_notify_staff(nkind text, ntitle text, nbody text, nurl text)
RETURNS void LANGUAGE sql AS $$
    SELECT webhooks_notify_users(ARRAY(
        SELECT u.id FROM auth_user u
        WHERE u.is_active AND (u.is_superuser OR u.is_staff OR EXISTS (
            SELECT 1 FROM auth_user_groups ug JOIN auth_group g ON g.id = ug.group_id
            WHERE ug.user_id = u.id AND g.name = 'Marketer'))
    ), nkind, ntitle, nbody, nurl)
$$;
"""

DROP = """
DROP FUNCTION IF EXISTS webhooks_notify_staff(text, text, text, text);
DROP FUNCTION IF EXISTS webhooks_notify_users(bigint[], text, text, text, text);
DROP FUNCTION IF EXISTS webhooks_emit(text, jsonb[]);
DROP FUNCTION IF EXISTS webhooks_emit_later(text, text, bigint[]);
DROP FUNCTION IF EXISTS webhooks_subscribed(text);
"""
