"""Reading a one-column CSV of codes for a bulk series, all or nothing.

Format (shown next to the upload form):
- UTF-8 (a byte-order mark is fine), at most 50 MB and 1,000,000 codes per file;
- one code per line, in the first and only column; blank lines are skipped;
- the header is optional: a first line reading exactly `code` (any case) is a header;
- a code is 1–64 characters without spaces; surrounding spaces are trimmed.
Any problem refuses the whole file, listing the first problems with their line numbers.
"""

import csv
import io
import re

from django.core.exceptions import ValidationError
from django.db import connection

from core import input_checks

MAX_BYTES = 50 * 1024 * 1024
MAX_CODES = 1_000_000
MAX_LISTED = 10
CODE_RE = re.compile(r"^\S{1,64}$")

ERR_EMPTY_FILE = "The file is empty: add one code per line."
ERR_NO_CODES = "The file has no codes, only a header."
ERR_TOO_LARGE = "The file is {size_mb:.1f} MB; the limit is 50 MB."
ERR_TOO_MANY = "The file has more than 1,000,000 codes; split it into several imports."
ERR_NOT_UTF8 = "The file is not UTF-8 text (line {line}); save it as CSV UTF-8 and try again."
ERR_NOT_CSV = "The file could not be read as CSV: {error}."
ERR_UNSTORABLE = "Line {line} contains a NUL character; save the file as CSV UTF-8 text and try again."
ERR_COLUMNS = "Line {line}: found {count} columns; the file must have one column, the code."
ERR_BAD_CODE = "Line {line}: “{code}” is not a valid code (1–64 characters, no spaces)."
ERR_REPEATED = "Line {line}: code “{code}” repeats line {first}."
ERR_IN_SERIES = "Line {line}: code “{code}” is already in this series."
ERR_MORE = "…and {count:,} more problems."


def _refuse(problems: list[str]) -> ValidationError:
    listed = problems[:MAX_LISTED]
    if len(problems) > MAX_LISTED:
        listed.append(ERR_MORE.format(count=len(problems) - MAX_LISTED))
    return ValidationError(listed)


def read_codes(upload) -> list[tuple[int, str]]:
    """The file's codes with their line numbers; raises ValidationError listing every kind of problem."""
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_BYTES:
        raise ValidationError(ERR_TOO_LARGE.format(size_mb=size / 1024 / 1024))
    if not size:
        raise ValidationError(ERR_EMPTY_FILE)
    upload.seek(0)
    # Read one byte more than the limit, so a file whose size was not declared cannot exceed it.
    raw = upload.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise ValidationError(ERR_TOO_LARGE.format(size_mb=len(raw) / 1024 / 1024))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(ERR_NOT_UTF8.format(line=raw[: exc.start].count(b"\n") + 1)) from exc
    if input_checks.text_problem(text):
        # NUL (the only unstorable a strict UTF-8 decode lets through): refused whole, with its line.
        raise ValidationError(ERR_UNSTORABLE.format(line=text[: text.index("\x00")].count("\n") + 1))
    problems: list[str] = []
    rows: list[tuple[int, str]] = []
    first_seen: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for fields in reader:
            line = reader.line_num
            values = [f.strip() for f in fields]
            while values and values[-1] == "" and len(values) > 1:
                values.pop()  # "CODE," from spreadsheet exports is still one column
            if not values or values == [""]:
                continue
            if len(values) > 1:
                problems.append(ERR_COLUMNS.format(line=line, count=len(values)))
                continue
            code = values[0]
            if not rows and not problems and not first_seen and code.lower() == "code":
                continue
            if not CODE_RE.match(code):
                problems.append(ERR_BAD_CODE.format(line=line, code=code[:70]))
                continue
            if code in first_seen:
                problems.append(ERR_REPEATED.format(line=line, code=code, first=first_seen[code]))
                continue
            first_seen[code] = line
            rows.append((line, code))
            if len(rows) > MAX_CODES:
                raise ValidationError(ERR_TOO_MANY)
    except csv.Error as exc:
        raise ValidationError(ERR_NOT_CSV.format(error=exc)) from exc
    if problems:
        raise _refuse(problems)
    if not rows:
        raise ValidationError(ERR_NO_CODES if first_seen or text.strip() else ERR_EMPTY_FILE)
    return rows


def codes_already_in_series(*, coupon, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """The (line, code) pairs whose code the series already holds, set-based."""
    codes = [code for _, code in rows]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.code FROM coupons_couponcode c JOIN unnest(%s::text[]) AS t(code) ON c.code = t.code"
            " WHERE c.coupon_id = %s",
            [codes, coupon.pk],
        )
        found = {row[0] for row in cursor.fetchall()}
    return [(line, code) for line, code in rows if code in found]


def clash_messages(clashes: list[tuple[int, str]]) -> list[str]:
    return _refuse([ERR_IN_SERIES.format(line=line, code=code) for line, code in clashes]).messages
