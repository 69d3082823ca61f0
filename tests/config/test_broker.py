"""The `make run` broker (config/broker.py): kombu's filesystem transport with messages renamed
into place, so a consumer never reads a message its producer is still writing."""

import os
import subprocess
import sys
import threading

from kombu import Connection

MESSAGES_PER_WRITER = 1000


def _connection(folder):
    return Connection(
        "filesystem://",
        transport="config.broker:Transport",
        transport_options={
            "data_folder_in": str(folder / "out"),
            "data_folder_out": str(folder / "out"),
            "control_folder": str(folder / "control"),
            "store_processed": False,
        },
    )


def test_concurrent_writers_and_readers_pass_every_message_whole_and_once(tmp_path):
    for name in ("out", "control"):
        (tmp_path / name).mkdir()
    with _connection(tmp_path) as setup:
        setup.SimpleQueue("jobs").close()  # declares the queue and its binding
    received, errors = [], []
    done_writing = threading.Event()

    def write(writer):
        with _connection(tmp_path) as conn:
            jobs = conn.SimpleQueue("jobs")
            for n in range(MESSAGES_PER_WRITER):
                jobs.put({"writer": writer, "n": n, "padding": "x" * 2000})
            jobs.close()

    def read():
        try:
            with _connection(tmp_path) as conn:
                jobs = conn.SimpleQueue("jobs")
                while True:
                    try:
                        message = jobs.get(timeout=0.05)
                    except jobs.Empty:
                        if done_writing.is_set():
                            break
                        continue
                    received.append((message.payload["writer"], message.payload["n"], len(message.payload["padding"])))
                    message.ack()
                jobs.close()
        except Exception as exc:  # the stock transport's partial read: JSONDecodeError
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for thread in readers + writers:
        thread.start()
    for thread in writers:
        thread.join()
    done_writing.set()
    for thread in readers:
        thread.join()

    assert errors == []
    assert sorted(received) == sorted((w, n, 2000) for w in range(2) for n in range(MESSAGES_PER_WRITER))
    assert not [p.name for p in (tmp_path / "out").iterdir()]  # nothing left behind, no partial file


def test_the_default_broker_of_make_run_connects_through_this_transport():
    """Settings read with no CELERY_BROKER_URL (as `make run` starts): the app's connections,
    the web's publishes, beat's and the worker's alike, use config.broker."""
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "DATABASE_URL")}
    code = (
        "import django; django.setup()\n"
        "from config.celery import app\n"
        "with app.connection_for_write() as c: print(type(c.transport).__module__, type(c.transport).__name__)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.strip() == "config.broker Transport"
