"""Bulk writes that check their foreign keys set-based instead of row by row.

PostgreSQL checks a foreign key with one trigger per inserted row (a `SELECT … FOR KEY SHARE`
of the referenced row through SPI, queued to COMMIT for our DEFERRABLE constraints). For the
bulk writes of a distribution (a million grants, lots, codes, system events) those checks
cost more than the inserts themselves. Where the role may set `session_replication_role`
(superuser, or `GRANT SET ON PARAMETER session_replication_role`), a bulk statement may
instead take the same locks itself, set-based, and skip the per-row triggers:

    with row_triggers_skipped(cursor, skip=row_triggers_skippable()):
        cursor.execute("INSERT … SELECT … FROM input JOIN segments_profile p … FOR KEY SHARE OF p")

The rule for such a statement: every key it writes comes from a row that it, or its
transaction, holds locked at least FOR KEY SHARE (the lock the trigger would have taken), so
the foreign keys hold all the same. Without the privilege the triggers run as usual, so both
modes must be correct; the tests run both.

Only the statements inside the block skip triggers: `session_replication_role = replica`
also silences the ledger's append-only and the lots' no-delete triggers, so the block holds
inserts only.
"""

from contextlib import contextmanager

from django.db import connection


def row_triggers_skippable() -> bool:
    """Whether this connection may skip per-row triggers (`SET session_replication_role`).

    Asked once per connection (the answer depends on the role, which does not change).
    """
    if connection.pg_version < 150000:
        return False
    cached = getattr(connection, "_promo_row_triggers_skippable", None)
    if cached is None or cached[0] is not connection.connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
            cached = (connection.connection, bool(cursor.fetchone()[0]))
        connection._promo_row_triggers_skippable = cached
    return cached[1]


def keys_locked(cursor, *rows: tuple[str, int | None]) -> None:
    """Lock the referenced rows (table, id) FOR KEY SHARE, as the skipped FK triggers would; None ids are skipped.

    Table names are trusted constants of the caller. One round trip for all of them.
    """
    rows = [(table, pk) for table, pk in rows if pk is not None]
    if rows:
        sql = "; ".join(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE" for table, _ in rows)  # noqa: S608
        cursor.execute(sql, [pk for _, pk in rows])


@contextmanager
def row_triggers_skipped(cursor, *, skip: bool = True):
    """Run the block's statements without per-row triggers (foreign-key checks) when `skip`.

    Use inside a transaction, and only for INSERT statements that take the locks the checks
    would have taken (FOR KEY SHARE on every referenced row) and write keys of rows they locked.
    """
    if not skip:
        yield
        return
    cursor.execute("SET LOCAL session_replication_role = replica")
    yield
    # SET LOCAL outlives a savepoint's release: set it back before the caller's transaction
    # runs anything else. (On an error the rollback of the transaction or savepoint restores it.)
    cursor.execute("SET LOCAL session_replication_role = origin")
