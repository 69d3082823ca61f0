"""`make run`'s supervisor (config/stack.py): Ctrl-C is the normal way to end it, so it exits 0 and
make reports no "Error 130". The real `make run` on a clean clone is tests/config/test_embedded_default.py."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The supervisor as `make run` starts it, with stand-ins for what needs a database: no embedded
# server, no migrate / setup_demo, and web, worker and beat replaced by processes that sleep.
SCRIPT = """
import subprocess, sys
from config import stack
stack.embedded_db.start = lambda var_dir: ({"HOST": "/tmp"}, False)
stack.embedded_db.stop = lambda var_dir: print("Stopped the embedded PostgreSQL server.", flush=True) or True
subprocess.run = lambda args, check: None
real_popen = subprocess.Popen
subprocess.Popen = lambda args: real_popen([sys.executable, "-c", "import time; time.sleep(600)"])
sys.exit(stack.main(["--port", "8123"]))
"""


def _start(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["PROMO_VAR_DIR"] = str(tmp_path)
    log = open(tmp_path / "stack.log", "w")  # noqa: SIM115 (closed by the caller)
    process = subprocess.Popen(  # noqa: S603 (fixed args)
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a process group of its own, as a terminal's job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while "Ctrl-C stops them all" not in (tmp_path / "stack.log").read_text():
        assert process.poll() is None, (tmp_path / "stack.log").read_text()
        assert time.monotonic() < deadline, "the stack did not start"
        time.sleep(0.1)
    return process, log


def test_ctrl_c_stops_the_stack_and_exits_0(tmp_path):
    process, log = _start(tmp_path)
    try:
        os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "stack.log").read_text()
    assert "Stopping web, worker and beat." in output
    assert "Stopped the embedded PostgreSQL server." in output


def test_sigterm_stops_the_stack_and_exits_0(tmp_path):
    process, log = _start(tmp_path)
    try:
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
