"""Run Celery with the wall clock starting at a given moment: `python -m tests.celery_at ISO-TIME <celery args>`.

For end-to-end tests only (tests/harness.py `celery_process(clock=...)`): time-machine moves
`time.time()` and `datetime.now()` to ISO-TIME and lets them tick on in real time, so beat and
worker behave as they would on that date; monotonic clocks (timeouts) are left alone.
"""

import datetime
import sys

import time_machine


def main() -> None:
    moment = datetime.datetime.fromisoformat(sys.argv[1])
    time_machine.travel(moment, tick=True).start()
    from celery.__main__ import main as celery_main

    sys.argv = ["celery", *sys.argv[2:]]
    celery_main()


if __name__ == "__main__":
    main()
