"""PostgreSQL array literals for the bulk statements' columns, built with `str.join`.

A chunk statement passes 5,000-element arrays (profile ids, reasons, points, codes). psycopg
adapts a Python list element by element in Python (about 6 ms for 5,000 ids, 12 ms for 5,000
strings), which at a million profiles is seconds of a distribution; a literal such as
`{1,2,3}` is one string parameter, cast in SQL (`%s::bigint[]`), and costs well under a
millisecond to build. Used only for values whose text form is unambiguous: integers,
decimals, and strings (quoted and escaped here).
"""

from decimal import Decimal


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
