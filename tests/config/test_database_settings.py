"""One engine (SPEC 10): the embedded PostgreSQL server by default, DATABASE_URL for any other
PostgreSQL server, and nothing else. Settings are read in a fresh interpreter, as at start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import embedded_db

ROOT = Path(__file__).resolve().parents[2]
SHOW = "from django.conf import settings; d = settings.DATABASES['default']; print(d['ENGINE'], d['HOST'], d['NAME'])"


def _settings(tmp_path, database_url: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"DJANGO_SETTINGS_MODULE": "config.settings", "PROMO_VAR_DIR": str(tmp_path)})
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    code = f"import django; django.setup(); {SHOW}"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_without_database_url_the_embedded_server_under_var_is_the_database(tmp_path):
    result = _settings(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", str(tmp_path / "postgres"), "promo"]


def test_database_url_points_at_any_postgresql_server(tmp_path):
    result = _settings(tmp_path, "postgres://postgres@db.example.com:5432/promo")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", "db.example.com", "promo"]


@pytest.mark.parametrize("url", ["sqlite:///var/db.sqlite3", "mysql://u@h/promo", "nonsense://x"])
def test_any_other_database_url_is_refused_at_start_with_a_clear_message(tmp_path, url):
    result = _settings(tmp_path, url)
    assert result.returncode != 0
    assert "ImproperlyConfigured: DATABASE_URL must be a PostgreSQL URL" in result.stderr
    assert "PostgreSQL is the only database engine" in result.stderr


def test_the_settings_follow_the_socket_the_server_reports_in_postmaster_pid(tmp_path):
    pgdata = embedded_db.data_dir(tmp_path)
    pgdata.mkdir()
    (pgdata / "postmaster.pid").write_text(f"4242\n{pgdata}\n1700000000\n5433\n/run/promo-sockets\n\n  1 2\nready   \n")
    database = embedded_db.database_settings(tmp_path)
    assert (database["HOST"], database["PORT"], database["NAME"]) == ("/run/promo-sockets", "5433", "promo")


def test_a_stale_postmaster_pid_after_a_crash_is_cleared_before_start(tmp_path):
    pgdata = embedded_db.data_dir(tmp_path)
    pgdata.mkdir()
    # The pid of a crashed server now belongs to another process (here: this one).
    (pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{pgdata}\n1700000000\n5432\n{pgdata}\n\n  1 2\nready\n")
    (pgdata / ".s.PGSQL.5432.lock").write_text(f"{os.getpid()}\n")
    assert embedded_db._live_server(pgdata) is None
    embedded_db._clear_stale(pgdata)
    assert not (pgdata / "postmaster.pid").exists()
    assert not (pgdata / ".s.PGSQL.5432.lock").exists()
    assert embedded_db.stop(tmp_path) is False


def test_the_remains_of_an_interrupted_initdb_move_aside_so_the_next_start_initialises_afresh(tmp_path):
    pgdata = embedded_db.data_dir(tmp_path)
    pgdata.mkdir()
    (pgdata / "global").mkdir()  # initdb stopped before writing PG_VERSION
    embedded_db._prepare(pgdata)
    assert not pgdata.exists()
    [moved] = tmp_path.glob("postgres.incomplete-*")
    assert (moved / "global").is_dir()
