"""Progress of a long all-or-nothing transaction, visible to other sessions while it runs.

Code imports and voucher uploads store their codes in one transaction, so a failure leaves
the series or list as it was; the moving percentage the user watches cannot live in rows
that transaction writes (nobody sees them before the commit). A `LiveProgress` writes it
beside the transaction: `write_sql` runs on a second, autocommit connection. It must not
touch a row the transaction has locked, or it would wait for the commit.
"""

import logging

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

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
