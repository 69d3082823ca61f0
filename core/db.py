"""PostgreSQL plumbing for the bulk writes: array literals for one-statement inserts, the per-row
trigger switch (and the locks that stand in for it), and progress visible while a long transaction
runs."""

import logging
from contextlib import contextmanager
from decimal import Decimal

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

# --- Row triggers ------------------------------------------------------------
# Bulk writes that check their foreign keys set-based instead of row by row.
#
# PostgreSQL checks a foreign key with one trigger per inserted row (a `SELECT … FOR KEY SHARE`
# of the referenced row through SPI, queued to COMMIT for our DEFERRABLE constraints). For the
# bulk writes of a distribution (a million grants, lots, codes, system events) those checks
# cost more than the inserts themselves. Where the role may set `session_replication_role`
# (superuser, or `GRANT SET ON PARAMETER session_replication_role`), a bulk statement may
# instead take the same locks itself, set-based, and skip the per-row triggers:
#
#     with row_triggers_skipped(cursor, skip=row_triggers_skippable()):
#         cursor.execute("INSERT … SELECT … FROM input JOIN segments_profile p … FOR KEY SHARE OF p")
#
# The rule for such a statement: every key it writes comes from a row that it, or its
# transaction, holds locked at least FOR KEY SHARE (the lock the trigger would have taken), so
# the foreign keys hold all the same. Without the privilege the triggers run as usual, so both
# modes must be correct; the tests run both.
#
# Only the statements inside the block skip triggers: `session_replication_role = replica`
# also silences the ledger's append-only and the lots' no-delete triggers, so the block holds
# inserts only.


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


# --- Pg arrays ------------------------------------------------------------
# PostgreSQL array literals for the bulk statements' columns, built with `str.join`.
#
# A chunk statement passes 5,000-element arrays (profile ids, reasons, points, codes). psycopg
# adapts a Python list element by element in Python (about 6 ms for 5,000 ids, 12 ms for 5,000
# strings), which at a million profiles is seconds of a distribution; a literal such as
# `{1,2,3}` is one string parameter, cast in SQL (`%s::bigint[]`), and costs well under a
# millisecond to build. Used only for values whose text form is unambiguous: integers,
# decimals, and strings (quoted and escaped here).


def int_array(values) -> str:
    """`{1,2,3}` for integers (bigint[])."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def numeric_array(values) -> str:
    """`{1.5,NULL,3}` for Decimals / ints / None (numeric[])."""
    return "{" + ",".join("NULL" if v is None else str(Decimal(v)) for v in values) + "}"


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def text_array(values) -> str:
    """`{"a","",NULL}` for strings / None (text[]); every element quoted, so commas, braces,
    quotes, backslashes, spaces and the word NULL stay data."""
    return "{" + ",".join("NULL" if v is None else _quoted(str(v)) for v in values) + "}"


# The largest value a PostgreSQL integer column holds: the bound of every count a form stores in one.
INT_MAX = 2_147_483_647

_ARRAY_LITERALS = {"bigint": int_array, "numeric": numeric_array, "text": text_array}


def array_column(values: list, kind: str) -> tuple[str, list]:
    """(SQL expression of type `kind`[], its parameters) for one column of a bulk statement's `unnest`.

    A column whose values are all equal (a flat run's points, its empty reasons and codes) is
    one value repeated in SQL by `array_fill`, not a literal of thousands of copies built here.
    """
    first = values[0] if values else None
    if values and all(v == first for v in values):
        return f"array_fill(%s::{kind}, ARRAY[%s])", [first, len(values)]
    return f"%s::{kind}[]", [_ARRAY_LITERALS[kind](values)]


# --- Live progress ------------------------------------------------------------
# Progress of a long all-or-nothing transaction, visible to other sessions while it runs.
#
# Code imports and voucher uploads store their codes in one transaction, so a failure leaves
# the series or list as it was; the moving percentage the user watches cannot live in rows
# that transaction writes (nobody sees them before the commit). A `LiveProgress` writes it
# beside the transaction: `write_sql` runs on a second, autocommit connection. It must not
# touch a row the transaction has locked, or it would wait for the commit.

logger = logging.getLogger(__name__)


class LiveProgress:
    """Call with the work done so far; close when the transaction has ended.

    `write_sql` takes %(done)s and the given `params`. Progress is a courtesy to the watcher:
    a failed write is logged, never raised.
    """

    def __init__(self, key: str, write_sql: str, params: dict):
        self.key = key
        self.write_sql = write_sql
        self.params = params
        self.last = -1
        self.side = connections.create_connection(DEFAULT_DB_ALIAS)
        self.timeout_set = False

    def __call__(self, done: int) -> None:
        if done <= self.last:
            return
        self.last = done
        try:
            with self.side.cursor() as cursor:
                if not self.timeout_set:
                    # Never wait long on a row lock: a late figure is better than a stalled run.
                    cursor.execute("SET lock_timeout = '2s'")
                    self.timeout_set = True
                cursor.execute(self.write_sql, {**self.params, "done": done})
        except DatabaseError:
            logger.warning("Progress %s not written", self.key, exc_info=True)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None
