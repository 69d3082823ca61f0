"""Code formats for generated bulk series: alphabets, capacity, and fast random codes.

Look-alike characters are left out so a code read aloud or off a screen is typed right:
letters drop I, L and O; alphanumeric codes also drop the digits 0 and 1. Numeric codes
keep all ten digits, because without letters nothing can be mistaken for them.
"""

import os

NUMERIC = "0123456789"
ALPHABETIC = "ABCDEFGHJKMNPQRSTUVWXYZ"
ALPHANUMERIC = "23456789" + ALPHABETIC

ALPHABETS = {"numeric": NUMERIC, "alphabetic": ALPHABETIC, "alphanumeric": ALPHANUMERIC}

MIN_LENGTH = 4
MAX_LENGTH = 20


def capacity(*, code_format: str, length: int) -> int:
    """How many distinct codes the format can produce (prefix and suffix add none)."""
    return len(ALPHABETS[code_format]) ** length


def pattern(*, code_format: str, length: int, prefix: str, suffix: str) -> str:
    """A PostgreSQL regex matching exactly the codes this format produces."""
    import re

    return f"^{re.escape(prefix)}[{ALPHABETS[code_format]}]{{{length}}}{re.escape(suffix)}$"


def random_codes(*, code_format: str, length: int, prefix: str, suffix: str, count: int) -> list[str]:
    """`count` random codes of the format (may repeat; the database constraint drops repeats).

    Randomness comes from os.urandom in one call per batch: codes must not be guessable,
    and one system call per batch keeps a million codes within a few seconds.
    """
    alphabet = ALPHABETS[code_format]
    base = len(alphabet)
    # Rejection sampling on bytes keeps every character equally likely.
    limit = 256 - (256 % base)
    out = []
    append = out.append
    need = count * length
    chars: list[str] = []
    while len(chars) < need:
        raw = os.urandom(int((need - len(chars)) * 256 / limit) + 64)
        chars.extend(alphabet[b % base] for b in raw if b < limit)
    joined = "".join(chars[:need])
    for i in range(0, need, length):
        append(prefix + joined[i : i + length] + suffix)
    return out


def enumerate_code(*, code_format: str, length: int, prefix: str, suffix: str, number: int) -> str:
    """The `number`-th code of the format (0-based), used when the format is nearly full."""
    alphabet = ALPHABETS[code_format]
    base = len(alphabet)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, base)
        chars.append(alphabet[digit])
    return prefix + "".join(reversed(chars)) + suffix
