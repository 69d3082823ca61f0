"""`make run` (SPEC 10): the whole product on one machine, stopped as one by Ctrl-C.

    python -m config.stack [--port 8000]

In order: the embedded PostgreSQL server (config/embedded_db.py; skipped when DATABASE_URL names
a server), `migrate`, `setup_demo` (prints the demo logins and the URL served), then the web
server on 127.0.0.1:<port>, a Celery worker and beat. Ctrl-C (SIGINT) or SIGTERM, or any of the
three exiting, stops the other two (SIGTERM, then SIGKILL after a grace period) and then the
embedded server, so nothing outlives `make run`. Stopped by a signal it exits 0 (the way to end it);
if a process exits by itself, 1.

A Python supervisor rather than a shell `trap` in the Makefile: a non-interactive shell starts its
background jobs with SIGINT ignored and runs its own INT trap only once `wait` returns, so Ctrl-C
left beat (which ignores SIGINT then) and the shell waiting on it.
"""

import argparse
import os
import signal
import subprocess
import sys
import time

from config import embedded_db

GRACE_S = 30


class _Stop(Exception):
    pass


def _on_signal(signum, frame):
    raise _Stop


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + GRACE_S
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m config.stack")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000))
    port = parser.parse_args(argv).port
    embedded = not os.environ.get("DATABASE_URL")
    var_dir = embedded_db.var_dir_from_env()
    python = sys.executable
    commands = {
        "worker": [python, "-m", "celery", "-A", "config", "worker", "-l", "INFO", "-c", "2", "-n", "worker@%h"],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
        "web": [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
    }
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    children: list[subprocess.Popen] = []
    try:
        if embedded:
            settings, started = embedded_db.start(var_dir)
            verb = "Started" if started else "Reusing"
            print(f"{verb} the embedded PostgreSQL server (socket in {settings['HOST']}).", flush=True)
        subprocess.run([python, "manage.py", "migrate", "--noinput"], check=True)  # noqa: S603 (fixed args)
        subprocess.run([python, "manage.py", "setup_demo", "--port", str(port)], check=True)  # noqa: S603
        print(f"Starting web (http://127.0.0.1:{port}/), worker and beat — Ctrl-C stops them all.", flush=True)
        for args in commands.values():
            children.append(subprocess.Popen(args))  # noqa: S603 (fixed args)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        exited = [name for name, child in zip(commands, children, strict=False) if child.poll() is not None]
        print(f"{', '.join(exited)} exited: stopping the rest.", file=sys.stderr, flush=True)
        return 1
    except _Stop:
        # Ctrl-C is how `make run` is meant to end: a clean stop is a success (exit 0), so make
        # does not report "Error 130" for it.
        print("Stopping web, worker and beat.", flush=True)
        return 0
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _stop(children)
        if embedded and embedded_db.stop(var_dir):
            print("Stopped the embedded PostgreSQL server.", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
