"""The benchmark's own PostgreSQL server: initialised once under var/bench-pg, started if stopped.

`make bench` measures on it unless BENCH_DATABASE_URL names another server, so the figures
come from a server configured for the machine (bench/postgresql.conf) and not from whatever
the machine's default server is tuned for, and benchmarks never touch the test databases.
"""

import os
import pwd
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "var" / "bench-pg"
CONF = Path(__file__).resolve().parent / "postgresql.conf"
PORT = 5433
URL = f"postgres://postgres@127.0.0.1:{PORT}/postgres"


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for version in ("17", "16", "15"):
        candidate = Path(f"/usr/lib/postgresql/{version}/bin/{name}")
        if candidate.exists():
            return str(candidate)
    raise SystemExit(f"bench: PostgreSQL's {name} is not installed (Debian: apt-get install postgresql)")


def _pg(tool: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a PostgreSQL server tool on DATA; as the `postgres` user when we are root (it refuses root)."""
    argv = [_bin(tool), "-D", str(DATA), *args]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, **kwargs)  # noqa: S603 (our own fixed argv)


def ensure_running(log) -> str:
    """Initialise (first time) and start the bench server; returns its URL."""
    if not (DATA / "PG_VERSION").exists():
        log(f"initialising the bench PostgreSQL server in {DATA}")
        DATA.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(DATA, owner.pw_uid, owner.pw_gid)
        _pg("initdb", "-U", "postgres", "--auth=trust", "-E", "UTF8", check=True, stdout=subprocess.DEVNULL)
    target = DATA / "postgresql.auto.conf"
    if not target.exists() or target.read_text() != CONF.read_text():
        shutil.copyfile(CONF, target)  # read after postgresql.conf: these settings win
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(target, owner.pw_uid, owner.pw_gid)
        if (DATA / "postmaster.pid").exists():
            _pg("pg_ctl", "-w", "stop", "-m", "fast", check=False)
    if _pg("pg_ctl", "status", capture_output=True).returncode != 0:
        log(f"starting the bench PostgreSQL server on port {PORT}")
        _pg(
            "pg_ctl",
            "-w",
            "-l",
            str(DATA / "server.log"),
            "-o",
            f"-k {DATA}",
            "start",
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return URL


def stop() -> None:
    """Stop the bench server if it runs (`make clean` before it deletes var/)."""
    if (DATA / "postmaster.pid").exists():
        _pg("pg_ctl", "-w", "stop", "-m", "fast", check=False, stdout=subprocess.DEVNULL)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["stop"]:
        stop()
    else:
        ensure_running(print)
