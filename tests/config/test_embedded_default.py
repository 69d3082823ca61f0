"""The embedded default end to end (SPEC 10): what `make run` starts — a SQLite file, the
filesystem broker (no server), a Celery worker, beat and the web server — with nothing from the
test database or Redis. A send-now campaign published there completes through beat's sweep and
the worker, and the web server answers with the SQLite database and the broker reachable."""

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.harness import wait_for

pytestmark = pytest.mark.worker

ROOT = Path(__file__).resolve().parents[2]
# Beat's dispatch sweep runs every 30 s and first fires when beat starts.
DEADLINE_S = 50

SETUP = """
from django.contrib.auth.models import User
from promotions import services
from promotions.models import Campaign
from tests.factories import UserFactory
from tests.promotions.helpers import campaign_past

marketer = UserFactory(username="mia", groups=["Marketer"])
campaign = campaign_past(user=marketer, name="Embedded welcome", members=4, status=Campaign.Status.DRAFT)
services.campaign_publish(campaign=campaign, actor=marketer)
print("published", campaign.pk)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _embedded_env(var_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}}
    env.update({"PROMO_VAR_DIR": str(var_dir), "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONUNBUFFERED": "1"})
    return env


def _campaign(db: Path) -> tuple[str, int]:
    with sqlite3.connect(db, timeout=5) as conn:
        row = conn.execute("SELECT status, rewarded_profiles FROM promotions_campaign").fetchone()
    return row or ("", 0)


def test_make_run_stack_on_sqlite_and_the_filesystem_broker_completes_a_send_now_campaign(tmp_path):
    env = _embedded_env(tmp_path)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    out = subprocess.run(
        [*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True
    )
    assert "published" in out.stdout, out.stderr
    db = tmp_path / "db.sqlite3"
    assert _campaign(db) == ("running", 0)

    port = _free_port()
    commands = {
        "worker": [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--hostname=embedded@%h",
        ],
        "beat": [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "beat",
            "--loglevel=INFO",
            "--schedule",
            str(tmp_path / "beat-schedule"),
        ],
        "web": [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
    }
    processes, logs = {}, {}
    try:
        for name, args in commands.items():
            logs[name] = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed below)
            processes[name] = subprocess.Popen(args, cwd=ROOT, env=env, stdout=logs[name], stderr=subprocess.STDOUT)

        started = time.monotonic()
        try:
            wait_for(lambda: _campaign(db)[0] == "completed", timeout=DEADLINE_S, interval=0.5, what="Completed")
        except AssertionError:
            for name in processes:
                print(f"--- {name} log ---\n{(tmp_path / f'{name}.log').read_text()[-3000:]}")
            raise
        assert _campaign(db) == ("completed", 4)
        assert time.monotonic() - started < DEADLINE_S

        def health():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:  # noqa: S310
                    return json.loads(response.read())
            except OSError:
                return None

        body = wait_for(health, timeout=20, interval=0.5, what="the web server")
        assert body["status"] == "ok"
        assert body["database"]["vendor"] == "sqlite"
        assert "filesystem" in body["broker"]["transport"].lower()
        with sqlite3.connect(db) as conn:
            credited = conn.execute("SELECT COUNT(DISTINCT profile_id) FROM wallets_transaction").fetchone()[0]
        assert credited == 4
        # Nothing touched the services the test suite uses: the broker is a folder.
        assert (tmp_path / "celery-broker" / "out").is_dir()
        # ... and its runtime state stays under PROMO_VAR_DIR, not in the working tree.
        assert (tmp_path / "celery-broker" / "control" / "celery.pidbox.exchange").exists()
        assert not (ROOT / "control").exists()
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs.values():
            log.close()
