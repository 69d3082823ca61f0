"""The campaign engine: how campaigns reward (SPEC 6). One file per concern, lowest first:

- `rewards.py`   what a reward is worth and giving it: the ONLY promotions code that calls the
                 catalogue apps' write services (wallets, coupons, vouchers), bulk and per item;
- `limits.py`    budgets, caps and recurrence counters: `decide`, the one decision, and the
                 counters it moves by conditional UPDATEs;
- `grants.py`    grant rows and the system events of what was given (run chunks, live batches);
- `runs.py`      runs of past-behaviour / custom-list campaigns: partitions and their chunks;
- `live.py`      live matching of stored event batches (the outbox topic `promotions.live_events`);
- `inaction.py`  the inaction checks, settled when due;
- `sweeps.py`    the periodic sweeps: due runs, stalled partitions, the live sweep;
- `replay.py`    the engine replayed on stored events, writing nothing (for `promotions.forecast`).

`promotions/tasks.py` holds the Celery tasks, thin wrappers around these. That `rewards.py` alone
imports the catalogue apps' services is kept by tests/promotions/test_engine_boundaries.py.
"""
