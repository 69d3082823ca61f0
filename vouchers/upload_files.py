"""Reading voucher code CSVs and writing formula-safe CSVs (SPEC 3.3, 8).

The reader streams: it never holds the file or its codes in memory. Each row comes out as
(line, code, kind, error) for the staging table; duplicates are found later in SQL.
"""

import codecs
import csv
import io
from collections.abc import Iterable, Iterator

from core import input_checks
from core.csv_safety import csv_safe
from vouchers.models import CODE_MAX_LENGTH, MAX_CODES_PER_LIST

# SPEC 3.3: files above this are refused before they are read.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# A first row with one of these values is a column header, not a code.
HEADER_NAMES = frozenset({"code", "codes", "voucher", "vouchers", "voucher code", "voucher_code", "voucher codes"})

KIND_VALID = "valid"
KIND_BAD = "bad"
KIND_DUP_FILE = "dup_file"
KIND_DUP_EXISTING = "dup_existing"

ERR_EMPTY_CODE = "Empty code"
ERR_TOO_LONG = f"Code is longer than {CODE_MAX_LENGTH} characters"
ERR_BAD_CHARACTERS = "Code contains spaces or invisible characters"


class FileRejected(Exception):  # noqa: N818 (a domain outcome, not a bug)
    """The whole file is refused; the message names the reason (and the line)."""


def file_too_large_message(size: int) -> str:
    return f"The file is {size / (1024 * 1024):.1f} MB; files may be at most {MAX_UPLOAD_BYTES // (1024 * 1024)} MB."


def columns_message(line: int, columns: int) -> str:
    return f"Line {line} has {columns} columns. The file must have exactly one column of codes."


def not_utf8_message(line: int) -> str:
    return f"The file is not UTF-8 text (line {line} cannot be read). Save it as “CSV UTF-8” and upload it again."


ERR_NO_CODES = "The file has no codes."
ERR_TOO_MANY_ROWS = f"The file has more than {MAX_CODES_PER_LIST:,} codes; a list holds at most {MAX_CODES_PER_LIST:,}."


def _code_error(code: str) -> str:
    if not code:
        return ERR_EMPTY_CODE
    unstorable = input_checks.text_problem(code)
    if unstorable:
        return f"Code {unstorable}"
    if len(code) > CODE_MAX_LENGTH:
        return ERR_TOO_LONG
    if any(ch.isspace() or not ch.isprintable() for ch in code):
        return ERR_BAD_CHARACTERS
    return ""


class _LineCountingText(io.TextIOBase):
    """Decodes UTF-8 (BOM allowed) lazily, counting newlines so a decoding error names its line."""

    def __init__(self, raw, chunk_size: int = 64 * 1024):
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
        self._chunk_size = chunk_size
        self.lines_seen = 1

    def readable(self) -> bool:
        return True

    def __iter__(self):
        pending = ""
        while True:
            chunk = self._raw.read(self._chunk_size)
            final = not chunk
            try:
                text = self._decoder.decode(chunk or b"", final=final)
            except UnicodeDecodeError as exc:
                good = chunk[: exc.start] if chunk else b""
                line = self.lines_seen + pending.count("\n") + good.count(b"\n")
                raise FileRejected(not_utf8_message(line)) from exc
            pending += text
            *lines, pending = pending.split("\n")
            for line in lines:
                self.lines_seen += 1
                yield line + "\n"
            if final:
                if pending:
                    yield pending
                return


def read_code_rows(raw) -> Iterator[tuple[int, str, str, str]]:
    """Yield (line, code, kind, error) for each non-blank row of a binary CSV file.

    Raises FileRejected for a file-level problem: not UTF-8, more than one column, no codes,
    more rows than a list may hold.
    """
    reader = csv.reader(_LineCountingText(raw))
    first = True
    count = 0
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) > 1:
                raise FileRejected(columns_message(reader.line_num, len(row)))
            code = row[0].strip()
            if first:
                first = False
                if code.lower() in HEADER_NAMES:
                    yield reader.line_num, code, "header", ""
                    continue
            count += 1
            if count > MAX_CODES_PER_LIST:
                raise FileRejected(ERR_TOO_MANY_ROWS)
            error = _code_error(code)
            # The staging table and the error file get a storable copy (a NUL shown as U+FFFD).
            shown = input_checks.text_display(code[:CODE_MAX_LENGTH])
            yield reader.line_num, shown, (KIND_BAD if error else KIND_VALID), error
    except csv.Error as exc:
        raise FileRejected(f"Line {reader.line_num + 1} cannot be read as CSV: {exc}.") from exc
    if count == 0:
        raise FileRejected(ERR_NO_CODES)


HEAD_BYTES = 64 * 1024


def check_head(file) -> None:
    """Raise FileRejected when the file's first 64 KB already show a file-level problem (encoding,
    columns, CSV syntax): cheap enough to run in the request for a file validated in the background."""
    file.seek(0)
    head = file.read(HEAD_BYTES)
    file.seek(0)
    if len(head) == HEAD_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]  # whole lines only: a cut character is not an error
    try:
        for _ in read_code_rows(io.BytesIO(head)):
            pass
    except FileRejected as exc:
        if str(exc) != ERR_NO_CODES or len(head) < HEAD_BYTES:
            raise


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """Rows as RFC 4180 CSV lines, every cell quoted and formula-safe (for streaming)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
