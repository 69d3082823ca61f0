"""CSV exports that a spreadsheet cannot turn into formulas (SPEC 8, OWASP CSV injection)."""

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value) -> str:
    """The cell as text, prefixed with ' when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text
