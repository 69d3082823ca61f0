"""Real processes for tests: a Celery worker (and beat) on Redis against the test database."""

import contextlib
import datetime
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    s = connection.settings_dict
    port = s.get("PORT") or 5432
    return f"postgres://{s['USER']}@{s.get('HOST') or '127.0.0.1'}:{port}/{s['NAME']}"


def xdist_worker() -> int | None:
    """This process's pytest-xdist worker number (gw0 → 0), or None when the suite runs in one process."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name.removeprefix("gw")) if name.startswith("gw") else None


def redis_url() -> str:
    """TEST_REDIS_URL (default database 12). Under pytest-xdist each worker takes the database that
    many numbers further (gw0 the one named, gw1 the next, …): a worker's test purges its broker's
    database, which must never be another worker's."""
    url = urlsplit(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/12"))
    worker = xdist_worker()
    if worker is None:
        return url.geturl()
    database = int(url.path.strip("/") or 0) + worker
    if database > 15:
        raise RuntimeError(
            f"TEST_REDIS_URL {url.geturl()} leaves no Redis database for xdist worker gw{worker} "
            "(Redis has 0-15): name a lower database number."
        )
    return url._replace(path=f"/{database}").geturl()


@contextlib.contextmanager
def broker_at(url: str):
    """Point this (test) process's Celery app at `url`, with fresh connection pools; restored on
    exit. Celery reads CELERY_BROKER_URL from the environment before its settings."""
    from config.celery import app

    before = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = url
    app._after_fork()  # drop the pooled connections to the previous broker
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = before
        app._after_fork()


def purge_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


@contextlib.contextmanager
def celery_process(
    kind: str = "worker",
    *,
    extra_args: tuple[str, ...] = (),
    env: dict | None = None,
    name: str = "",
    clock: datetime.datetime | None = None,
):
    """Start `celery -A config <kind>` on Redis and the test database; stop it on exit.

    `name` tells two workers (and their logs) apart; `clock` starts the process's wall clock at
    that moment, ticking on from there (time-machine, see tests/celery_at.py), so a test can
    watch beat and worker act at a date of its choice, e.g. around a DST change.
    """
    broker = redis_url()
    process_env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "CELERY_BROKER_URL": broker,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **(env or {}),
    }
    args = [sys.executable, "-m", "celery"]
    if clock is not None:
        args = [sys.executable, "-m", "tests.celery_at", clock.isoformat()]
    args += ["-A", "config", kind, "--loglevel=INFO"]
    if kind == "worker":
        args += ["--pool=solo", "--without-gossip", "--without-mingle", f"--hostname=test-worker{name}@%h"]
    worker = "" if xdist_worker() is None else f"-gw{xdist_worker()}"  # one log per xdist worker
    log = open(ROOT / "var" / f"test-celery-{kind}{name}{worker}.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([*args, *extra_args], cwd=ROOT, env=process_env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_for(predicate, *, timeout: float = 60.0, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {what}")
