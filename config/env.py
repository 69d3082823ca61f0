"""Typed readers for settings that come from the environment."""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, *, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None


def env_list(name: str, *, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


_RATE_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(value: str) -> tuple[int, int]:
    """`600/minute`, `600/60` (per 60 seconds), `10/s`: (requests, seconds); `0` or `off` is (0, 0)."""
    text = (value or "").strip().lower()
    if text in {"", "0", "off"}:
        return 0, 0
    count, sep, per = text.partition("/")
    seconds = int(per) if per.isdigit() else _RATE_UNITS.get(per, 0)
    if not sep or not count.isdigit() or seconds <= 0:
        raise ValueError(f"a rate is written as requests/period, such as 600/minute or 600/60; got {value!r}")
    return int(count), seconds


def env_rate(name: str, default: str) -> tuple[int, int]:
    try:
        return parse_rate(os.environ.get(name, default))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}.") from None
