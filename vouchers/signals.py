"""What vouchers asks of the apps above it, which it never imports (tests/test_architecture.py):
the campaigns that reward from a voucher list. promotions/receivers.py answers."""

from django.dispatch import Signal

# The campaigns that reward from `voucher_list` (only those in `statuses` when given; at most
# `limit` when given), newest first. Each receiver returns a list of objects with `name`, `status`,
# `get_status_display()` and `get_absolute_url()`. Sent synchronously, inside the caller's
# transaction, so the answer sees the caller's locks.
voucher_list_campaigns = Signal()

# How many campaigns reward from each list, for a list page in one query: each receiver returns an
# integer expression counting its campaigns of the list `OuterRef("pk")` (0 when none).
voucher_list_campaign_count = Signal()
