"""Campaign list with N campaigns under three filters: server time and query count (SPEC 9).

    DATABASE_URL=postgres://… .venv/bin/python bench/promotions_bench.py --scale 0.01

Scale 1 = 10,000 campaigns. Creates its rows in a transaction that is rolled back. The
measuring code is bench/campaign_list_bench.py (also run by `make bench`).
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from bench.campaign_list_bench import measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    count = max(1, int(10_000 * args.scale))
    print(f"{count} campaigns")
    for url, (ms, queries) in measure(count, repeat=args.repeat).items():
        print(f"{url:55} median {ms:7.1f} ms  queries {queries}")


if __name__ == "__main__":
    main()
