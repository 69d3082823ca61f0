"""Every write to wallets: one service per movement, each in one database transaction.

Invariants (SPEC 3.1, 6.2), held by the database where it can:
- a lot's remaining is never negative nor above its amount (check constraints);
- a debit never exceeds the active balance: it locks the profile's active lots in primary-key
  order (so concurrent debits queue instead of deadlocking) and re-reads them under the lock;
- every movement writes an append-only Transaction row in the same transaction;
- an idempotency key moves points once (unique constraint), and so does each
  (campaign, profile, occurrence) (partial unique constraint on lots).

The modules: `points` (the rules and messages every movement applies), `wallet_settings`, `movements`
(credit, debit, adjust), `bulk_credit` (set-based credits) and `lifecycle` (activation and expiry
sweeps, the expiring digest), `rollups` (the lot rollup's compaction). The names other modules call are exported here.
"""

from wallets.services.bulk_credit import ANALYZE_AFTER, BULK_CHUNK, wallet_credit_bulk, wallet_credit_each
from wallets.services.lifecycle import JOB_CHUNK, lots_activate_due, lots_expire_due, points_expiring_digest
from wallets.services.movements import wallet_adjust, wallet_credit, wallet_debit
from wallets.services.points import (
    ERR_DESCRIPTION_REQUIRED,
    ERR_EXPIRY_BEFORE_ACTIVATION,
    ERR_EXPIRY_RULE_FROZEN,
    ERR_INSUFFICIENT_BALANCE,
    ERR_KIND,
    ERR_POINTS_NOT_POSITIVE,
    ERR_WALLET_INACTIVE,
    NEVER_EXPIRES,
    lot_default_expiry,
    wallet_round,
)
from wallets.services.rollups import lot_rollup_compact
from wallets.services.wallet_settings import wallet_create, wallet_update

__all__ = [
    "ERR_POINTS_NOT_POSITIVE",
    "ERR_INSUFFICIENT_BALANCE",
    "ERR_WALLET_INACTIVE",
    "ERR_EXPIRY_BEFORE_ACTIVATION",
    "ERR_DESCRIPTION_REQUIRED",
    "ERR_KIND",
    "ERR_EXPIRY_RULE_FROZEN",
    "NEVER_EXPIRES",
    "wallet_round",
    "lot_default_expiry",
    "wallet_create",
    "wallet_update",
    "wallet_credit",
    "wallet_debit",
    "wallet_adjust",
    "BULK_CHUNK",
    "ANALYZE_AFTER",
    "wallet_credit_bulk",
    "wallet_credit_each",
    "JOB_CHUNK",
    "lots_activate_due",
    "lots_expire_due",
    "points_expiring_digest",
    "lot_rollup_compact",
]
