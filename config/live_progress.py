"""Progress of a long all-or-nothing transaction, visible to other sessions while it runs.

Code imports and voucher uploads store their codes in one transaction, so a failure leaves
the series or list as it was; the moving percentage the user watches cannot live in rows
that transaction writes (nobody sees them before the commit). A `LiveProgress` writes it
beside the transaction:
- PostgreSQL: `write_sql` runs on a second, autocommit connection. It must not touch a row
  the transaction has locked, or it would wait for the commit.
- SQLite (`make run`'s embedded database) allows one writer at a time, so no second
  connection can write while the transaction is open. The figure goes to a small file under
  VAR_DIR/progress instead (web and worker share the disk that holds the SQLite file), and
  `read(key)` returns it.
"""

import logging
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections

logger = logging.getLogger(__name__)


def side_connection_writes() -> bool:
    """Whether a second connection can write while a transaction is open (not on SQLite)."""
    return connection.vendor != "sqlite"


def _path(key: str) -> Path:
    return Path(settings.VAR_DIR) / "progress" / f"{key}.txt"


def read(key: str) -> int | None:
    """The figure last written to the file for `key` (SQLite), or None."""
    try:
        return int(_path(key).read_text())
    except (OSError, ValueError):
        return None


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
        self.side = connections.create_connection(DEFAULT_DB_ALIAS) if side_connection_writes() else None
        self.timeout_set = False

    def __call__(self, done: int) -> None:
        if done <= self.last:
            return
        self.last = done
        try:
            if self.side is not None:
                with self.side.cursor() as cursor:
                    if not self.timeout_set:
                        # Never wait long on a row lock: a late figure is better than a stalled run.
                        cursor.execute("SET lock_timeout = '2s'")
                        self.timeout_set = True
                    cursor.execute(self.write_sql, {**self.params, "done": done})
            else:
                self._write_file(done)
        except (DatabaseError, OSError):
            logger.warning("Progress %s not written", self.key, exc_info=True)

    def _write_file(self, done: int) -> None:
        path = _path(self.key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader sees the old figure or the new one, never half a number.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{self.key}-")
        with os.fdopen(fd, "w") as handle:
            handle.write(str(done))
        os.replace(tmp, path)

    def close(self) -> None:
        if self.side is not None:
            self.side.close()
            self.side = None
        _path(self.key).unlink(missing_ok=True)
