"""What PostgreSQL (and JSON) cannot store, found before it reaches the database (SPEC 8).

One validator for every door: the upload API's records, the other JSON APIs' fields and every
CSV cell. PostgreSQL refuses a NUL character in `text` and `jsonb` (a DataError that used to
surface as a 500, or leave a background upload stuck), psycopg cannot encode an unpaired
surrogate as UTF-8, `jsonb` has no Infinity / NaN, and a deeply nested document is both useless
to us and a way to exhaust the parser's stack.

- `text_problem(s)`: the reason a string cannot be stored, or "".
- `value_problem(value)`: (path, reason) of the first unstorable part of a JSON value, or None;
  walks iteratively, so depth itself can never raise RecursionError here.
- `json_parse(raw)`: json.loads that never raises anything but `BadJson` (malformed, not UTF-8,
  nested beyond what the parser's stack allows); Infinity / NaN / out-of-range numbers parse
  to non-finite floats that `value_problem` then reports where they are (per record).
"""

import json
import math
from decimal import Decimal

from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string

# Deeper than any property document we store (upload properties are flat; wallet metadata is a
# small object) and far below the parser's recursion limit (~1,000 in CPython).
MAX_DEPTH = 32
# Integers longer than this are refused by Python's int() (PEP 651 / CVE-2020-10735 limit 4300
# digits) and mean nothing to us: they parse as a non-finite number and are reported per value.
MAX_INT_DIGITS = 100

ERR_NUL = "contains a NUL character (\\u0000)"
ERR_SURROGATE = "contains an unpaired surrogate (not valid Unicode)"
ERR_NOT_FINITE = "is not a finite number (Infinity, NaN or out of range)"
ERR_TOO_DEEP = f"is nested more than {MAX_DEPTH} levels deep"
ERR_JSON_MALFORMED = "Malformed JSON body."
ERR_JSON_TOO_DEEP = "The JSON body is nested too deeply to read."
ERR_FIELD = "{path} {reason}."


class BadJson(ValueError):
    """The body cannot be read as JSON at all; `message` says why (a whole-request 400)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def text_problem(text: str) -> str:
    """Why `text` cannot be stored in PostgreSQL text / jsonb, or "" when it can."""
    if "\x00" in text:
        return ERR_NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return ERR_SURROGATE
    return ""


def text_display(text: str) -> str:
    """`text` made storable for an error report: NULs and unpaired surrogates shown as U+FFFD."""
    if not text_problem(text):
        return text
    return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def value_problem(value, *, max_depth: int = MAX_DEPTH, path: str = "") -> tuple[str, str] | None:
    """(path, reason) for the first part of a JSON value that cannot be stored, else None.

    Checks every string (keys too) for NUL and unpaired surrogates, every number for being
    finite, and the nesting depth. `path` names the value in the message (`evtData.Amount`).
    """
    stack = [(value, path, 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            reason = text_problem(item)
            if reason:
                return where, reason
        elif isinstance(item, float):
            if not math.isfinite(item):
                return where, ERR_NOT_FINITE
        elif isinstance(item, Decimal):
            if not item.is_finite():
                return where, ERR_NOT_FINITE
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                return where, ERR_TOO_DEEP
            is_list = isinstance(item, list)
            for key, child in enumerate(item) if is_list else item.items():
                name = f"{where}[{key}]" if is_list else f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    reason = text_problem(key)
                    if reason:
                        return text_display(name), f"key {reason}"
                stack.append((child, name, depth + 1))
    return None


def _int(digits: str):
    return int(digits) if len(digits) <= MAX_INT_DIGITS else math.inf


def json_parse(raw: bytes | str, *, parse_float=float):
    """Parse a request body; raises only BadJson (malformed, not UTF-8, too deep to parse).

    A body nested deeper than the parser's stack is refused whole: there are no records to
    keep until it parses, and no legitimate batch is nested a thousand levels deep.
    """
    try:
        return json.loads(raw, parse_float=parse_float, parse_int=_int)
    except RecursionError as exc:
        raise BadJson(ERR_JSON_TOO_DEEP) from exc
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise BadJson(ERR_JSON_MALFORMED) from exc


def field_problem(value, *, path: str = "") -> tuple[str, str] | None:
    """(field, message) for a request field (or a whole parsed body) PostgreSQL cannot store,
    else None; `field` is the top-level field named in the API's 400 answer."""
    problem = value_problem(value, path=path)
    if problem is None:
        return None
    where, reason = problem
    return where.split(".", 1)[0].split("[", 1)[0], ERR_FIELD.format(path=where or "value", reason=reason)


class QueryStringCheckMiddleware:
    """A page's query string (filters, searches, "why this profile?") is checked like every other
    input: a value PostgreSQL cannot store (a NUL, say) is a 400 page naming the parameter, where it
    used to reach a query as a DataError (a 500). The API checks its own parameters (JSON errors)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            for key, values in request.GET.lists():
                if problem := text_problem(key):
                    message = f"A parameter name in the address {problem}."
                elif problem := next((p for p in map(text_problem, values) if p), ""):
                    message = f"The address’s “{key}” {problem}."
                else:
                    continue
                return HttpResponseBadRequest(render_to_string("400.html", {"message": message}))
        return self.get_response(request)
