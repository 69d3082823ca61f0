"""The temporary table an upload's rows pass through: rows loaded, duplicates marked, counts and error file."""

import tempfile
from collections.abc import Iterable

from django.core.files.base import File

from vouchers import upload_files

DUP_FILE_MESSAGE = "Duplicate of line {line} in this file"
DUP_EXISTING_MESSAGE = "Already in list “{tag}”"
DUP_RACE_MESSAGE = "Already in another list of this partner"
# Rows per INSERT … SELECT statement while processing, and per progress update.
PROCESS_CHUNK = 50_000
STAGING_TABLE = "voucher_upload_rows"


def create_staging_table(cursor) -> None:
    """The temporary table (on this connection) the upload's rows are loaded into."""
    cursor.execute("DROP TABLE IF EXISTS voucher_upload_rows")
    cursor.execute(
        "CREATE TEMPORARY TABLE voucher_upload_rows "
        "(line integer PRIMARY KEY, code varchar(64) NOT NULL, kind varchar(16) NOT NULL, error text NOT NULL)"
        " ON COMMIT DROP"
    )


def stage_rows(cursor, rows: Iterable[tuple[int, str, str, str]], *, progress=None) -> str:
    """Load the file's rows into the staging table (COPY); returns the header."""
    header = ""

    def data():
        nonlocal header
        for n, (line, code, kind, error) in enumerate(rows, start=1):
            if kind == "header":
                header = code
                continue
            if progress is not None and n % PROCESS_CHUNK == 0:
                progress(n)
            yield line, code, kind, error

    with cursor.copy("COPY voucher_upload_rows (line, code, kind, error) FROM STDIN") as copy:
        for row in data():
            copy.write_row(row)
    cursor.execute("CREATE INDEX ON voucher_upload_rows (code)")
    cursor.execute("ANALYZE voucher_upload_rows")
    return header


def mark_duplicates(cursor, *, partner_id: int) -> None:
    """Flag repeats inside the file, then codes already in the partner's non-archived lists."""
    cursor.execute(
        """
        UPDATE voucher_upload_rows SET kind = %s, error = %s || CAST(f.first_line AS text) || %s
        FROM (
            SELECT code, MIN(line) AS first_line FROM voucher_upload_rows
            WHERE kind = %s GROUP BY code HAVING COUNT(*) > 1
        ) AS f
        WHERE voucher_upload_rows.kind = %s AND voucher_upload_rows.code = f.code
          AND voucher_upload_rows.line > f.first_line
        """,
        [
            upload_files.KIND_DUP_FILE,
            DUP_FILE_MESSAGE.split("{line}")[0],
            DUP_FILE_MESSAGE.split("{line}")[1],
            upload_files.KIND_VALID,
            upload_files.KIND_VALID,
        ],
    )
    before, after = DUP_EXISTING_MESSAGE.split("{tag}")
    cursor.execute(
        """
        UPDATE voucher_upload_rows SET kind = %s, error = %s || l.tag || %s
        FROM vouchers_vouchercode AS c JOIN vouchers_voucherlist AS l ON l.id = c.voucher_list_id
        WHERE voucher_upload_rows.kind = %s AND c.partner_id = %s AND c.list_archived = %s
          AND c.code = voucher_upload_rows.code
        """,
        [upload_files.KIND_DUP_EXISTING, before, after, upload_files.KIND_VALID, partner_id, False],
    )


def kind_counts(cursor) -> dict[str, int]:
    """How many staged rows of each kind (valid, bad, repeated in the file, already in a list)."""
    cursor.execute("SELECT kind, COUNT(*) FROM voucher_upload_rows GROUP BY kind")
    return dict(cursor.fetchall())


def error_file_content(cursor):
    """The error file (line, code, error) streamed to a temporary file; (File or None, rows)."""
    cursor.execute("SELECT line, code, error FROM voucher_upload_rows WHERE kind <> %s ORDER BY line", ["valid"])
    spool = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115 (closed by the caller's save)
    count = 0
    for line in upload_files.csv_lines([("line", "code", "error")]):
        spool.write(line.encode("utf-8"))
    while rows := cursor.fetchmany(10_000):
        count += len(rows)
        spool.write("".join(upload_files.csv_lines(rows)).encode("utf-8"))
    if not count:
        spool.close()
        return None, 0
    spool.seek(0)
    return File(spool, name="errors.csv"), count


def drop_staging_table(cursor) -> None:
    """Drop the staging table once the upload is done with it."""
    cursor.execute("DROP TABLE IF EXISTS voucher_upload_rows")
