"""Every write to coupons: lifecycle, code inventory (generation, CSV import), assignment, redemption.

Assignment (`code_assign`, `code_assign_bulk`) is the only way a code leaves the pool. Its
guarantees rest on the database: `UNIQUE(coupon_code)` on assignments (a code is given once,
ever, across campaigns), `UNIQUE(coupon, COALESCE(campaign, 0), profile, occurrence)`
(idempotency), and the claim statement shared with voucher lists (codes/pool.py:
`FOR UPDATE SKIP LOCKED`, the counter moved in the same statement).
Lock order everywhere: the coupon row before assignment rows, so redeem and revert never
deadlock with each other.

The modules: `lifecycle` (create, edit, status actions and sweep), `code_generation`, `csv_import`,
`assignment` and `redemption` (redeem, revert). The names other modules call are exported here.
"""

from coupons.services.assignment import (
    ANALYZE_AFTER,
    ASSIGN_CHUNK,
    POOL,
    code_assign,
    code_assign_bulk,
    code_assign_each,
)
from coupons.services.code_generation import (
    ERR_CAPACITY,
    ERR_GENERATION_RUNNING,
    ERR_NOT_BULK,
    GENERATE_CHUNK,
    GENERATE_TASK,
    analyze_codes,
    code_generation_available,
    code_generation_start,
    code_generation_step,
    insert_codes,
)
from coupons.services.csv_import import (
    ERR_IMPORT_RACE,
    ERR_IMPORT_UNEXPECTED,
    IMPORT_CHUNK,
    IMPORT_TASK,
    SYNC_IMPORT_CHECK_BYTES,
    code_import,
    code_import_run,
    code_import_start,
)
from coupons.services.lifecycle import (
    EDITABLE_FIELDS,
    ERR_ARCHIVED_READ_ONLY,
    ERR_ENDED_IN_PAST,
    ERR_SINGLE_NEEDS_CODE,
    ERR_TRANSITION,
    TRANSITIONS,
    coupon_actions,
    coupon_create,
    coupon_status_sweep,
    coupon_transition,
    coupon_update,
    event_record,
)
from coupons.services.redemption import (
    REFUSAL_ALREADY,
    REFUSAL_EXPIRED,
    REFUSAL_INACTIVE,
    REFUSAL_LIMIT,
    REFUSAL_MESSAGES,
    REFUSAL_NOT_ASSIGNED,
    REFUSAL_NOT_REDEEMED,
    REFUSAL_NOT_YET,
    RedemptionRefused,
    coupon_redeem,
    coupon_revert,
)

__all__ = [
    "ERR_TRANSITION",
    "ERR_ENDED_IN_PAST",
    "ERR_SINGLE_NEEDS_CODE",
    "ERR_ARCHIVED_READ_ONLY",
    "event_record",
    "EDITABLE_FIELDS",
    "coupon_create",
    "coupon_update",
    "TRANSITIONS",
    "coupon_actions",
    "coupon_transition",
    "coupon_status_sweep",
    "GENERATE_CHUNK",
    "GENERATE_TASK",
    "ERR_NOT_BULK",
    "ERR_CAPACITY",
    "ERR_GENERATION_RUNNING",
    "code_generation_available",
    "code_generation_start",
    "code_generation_step",
    "insert_codes",
    "analyze_codes",
    "IMPORT_TASK",
    "IMPORT_CHUNK",
    "SYNC_IMPORT_CHECK_BYTES",
    "ERR_IMPORT_RACE",
    "ERR_IMPORT_UNEXPECTED",
    "code_import_start",
    "code_import_run",
    "code_import",
    "POOL",
    "ASSIGN_CHUNK",
    "ANALYZE_AFTER",
    "code_assign",
    "code_assign_bulk",
    "code_assign_each",
    "REFUSAL_NOT_ASSIGNED",
    "REFUSAL_NOT_YET",
    "REFUSAL_EXPIRED",
    "REFUSAL_ALREADY",
    "REFUSAL_LIMIT",
    "REFUSAL_INACTIVE",
    "REFUSAL_NOT_REDEEMED",
    "REFUSAL_MESSAGES",
    "RedemptionRefused",
    "coupon_redeem",
    "coupon_revert",
]
