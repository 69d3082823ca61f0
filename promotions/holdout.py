"""The holdout split (SPEC 11): which qualifying profiles a campaign deliberately leaves unrewarded.

One function decides it everywhere (runs, live actions, inaction checks): a stable hash of
(campaign id, profile id), so a profile stays in its group across retries, chunks, recurring
runs and live triggers, and a re-run of a chunk decides exactly as the first one did. SHA-256
rather than Python's `hash()` (salted per process) or PostgreSQL's `hashtext` (an internal
function whose output changed between major versions): the split must not move on an upgrade.
"""

import hashlib

# Buckets of 0.01 %: a whole-percent holdout is exactly `percent * 100` buckets.
BUCKETS = 10_000


def holdout_bucket(*, campaign_id: int, profile_id: int) -> int:
    """The profile's stable bucket in [0, BUCKETS) for this campaign."""
    digest = hashlib.sha256(f"holdout:{campaign_id}:{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def is_held_out(*, campaign_id: int, profile_id: int, percent: int | None) -> bool:
    """Whether the profile is in the campaign's holdout group (never, without a holdout)."""
    if not percent:
        return False
    return holdout_bucket(campaign_id=campaign_id, profile_id=profile_id) < percent * (BUCKETS // 100)


def held_out_ids(*, campaign_id: int, profile_ids, percent: int | None) -> set[int]:
    """The ids among `profile_ids` in the holdout group (one pass over a chunk's ids)."""
    if not percent:
        return set()
    return {pid for pid in profile_ids if is_held_out(campaign_id=campaign_id, profile_id=pid, percent=percent)}
