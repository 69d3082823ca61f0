"""The SQL of "an upload failed" alerts, one trigger per upload table (installed by the owning
app's migration so this app names no higher table at import; it is only text here)."""


def upload_failed_trigger(*, table: str, name: str, title_sql: str, body_sql: str, url_sql: str, extra_sql: str = ""):
    """(create, drop) SQL for an AFTER UPDATE statement trigger on `table` that notifies the
    marketers and admins (and `extra_sql`, a PERFORM using r) of each row that turned failed."""
    function = f"{name}_failed_alert"
    create = f"""
CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT n.* FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE n.status = 'failed' AND o.status IS DISTINCT FROM 'failed' ORDER BY n.id
    LOOP
        PERFORM webhooks_notify_staff('upload_failed', {title_sql}, {body_sql}, {url_sql});
        {extra_sql}
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER {name}_failed_alert AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""  # noqa: S608 (constants from migrations, never input)
    drop = f"DROP TRIGGER IF EXISTS {name}_failed_alert ON {table}; DROP FUNCTION IF EXISTS {function}();"
    return create, drop
