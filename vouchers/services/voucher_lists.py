"""A partner's voucher list: created, edited, paused, activated, archived, and expired by the periodic sweep."""

import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from vouchers import selectors
from vouchers.models import Partner, VoucherList, VoucherListEvent

Status = VoucherList.Status


# Messages the user can act on; tests match them exactly.
ERR_TAG_REQUIRED = "Enter a list tag."
ERR_TAG_SPACES = "The list tag cannot contain spaces."
ERR_TAG_TOO_LONG = "The list tag can be at most 64 characters."
ERR_TAG_TAKEN = "This partner already has a list with the tag “{tag}”."
ERR_EXPIRY_REQUIRED = "Enter an expiry date."
ERR_EXPIRY_PAST = "The expiry date cannot be in the past."
ERR_EXPIRY_BACKWARD = "The expiry date can only be moved later (it is {current})."
ERR_EXPIRY_CLEARED = "The expiry date cannot be removed."
ERR_ARCHIVED_READ_ONLY = "An archived list cannot be changed."

ERR_PAUSE = "Only an active list can be paused."
ERR_ACTIVATE = "Only a paused or expired list can be activated."
ERR_ACTIVATE_EXPIRED = "The list's expiry date has passed. Extend it before activating the list."
ERR_ARCHIVE = "This list is already archived."
ERR_ARCHIVE_LINKED = "This list is used by a scheduled or running campaign ({names}); it cannot be archived."

ERR_PARTNER_INACTIVE = "This partner is inactive."


class VoucherError(ValidationError):
    """A refusal the user can fix; its message is one of the ERR_ constants of vouchers.services."""


def event_record(voucher_list, actor, action, message="") -> None:
    """One line of the list's history (who did what, shown on its page)."""
    VoucherListEvent.objects.create(voucher_list=voucher_list, actor=actor, action=action, message=message)


# --- Lists -----------------------------------------------------------------------------


def voucher_list_tag_normalise(tag: str) -> str:
    """The stored form of a list tag: lowercase, no spaces; raises VoucherError otherwise."""
    value = (tag or "").strip().lower()
    if not value:
        raise VoucherError(ERR_TAG_REQUIRED)
    if any(ch.isspace() for ch in value):
        raise VoucherError(ERR_TAG_SPACES)
    if len(value) > 64:
        raise VoucherError(ERR_TAG_TOO_LONG)
    return value


def _check_new_expiry(*, expires_on: datetime.date | None) -> None:
    if expires_on is None:
        raise VoucherError(ERR_EXPIRY_REQUIRED)
    if expires_on < selectors.account_today():
        raise VoucherError(ERR_EXPIRY_PAST)


def voucher_list_create(
    *,
    partner: Partner,
    tag: str,
    name: str,
    expires_on: datetime.date,
    description: str = "",
    low_stock_threshold: int = 100,
    actor=None,
    pending_first_upload: bool = False,
) -> VoucherList:
    """Create a list for a partner; the tag is normalised and unique per partner.

    `pending_first_upload`: the list is created with its first file and stays Pending (not
    offered to campaigns) until that file's codes are stored; if that upload is refused,
    cancelled or fails, the list is removed (`pending_list_discard`).
    """
    tag = voucher_list_tag_normalise(tag)
    _check_new_expiry(expires_on=expires_on)
    if not partner.is_active:
        raise VoucherError(ERR_PARTNER_INACTIVE)
    try:
        with transaction.atomic():
            voucher_list = VoucherList.objects.create(
                partner=partner,
                tag=tag,
                name=name.strip(),
                description=description.strip(),
                expires_on=expires_on,
                low_stock_threshold=low_stock_threshold,
                created_by=actor,
                status=Status.PENDING if pending_first_upload else Status.ACTIVE,
            )
            event_record(
                voucher_list, actor, VoucherListEvent.Action.CREATED, f"Tag “{tag}”, expires {expires_on:%d %b %Y}"
            )
    except IntegrityError as exc:
        raise VoucherError(ERR_TAG_TAKEN.format(tag=tag)) from exc
    return voucher_list


def voucher_list_update(
    *,
    voucher_list: VoucherList,
    name: str,
    description: str,
    expires_on: datetime.date | None,
    low_stock_threshold: int,
    actor,
) -> VoucherList:
    """Edit name, description, threshold, and extend (never shorten) the expiry date."""
    with transaction.atomic():
        current = VoucherList.objects.select_for_update(no_key=True).get(pk=voucher_list.pk)
        if current.status == Status.ARCHIVED:
            raise VoucherError(ERR_ARCHIVED_READ_ONLY)
        changes = []
        if expires_on != current.expires_on:
            if expires_on is None:
                raise VoucherError(ERR_EXPIRY_CLEARED)
            if current.expires_on is not None and expires_on < current.expires_on:
                raise VoucherError(ERR_EXPIRY_BACKWARD.format(current=f"{current.expires_on:%d %b %Y}"))
            if expires_on < selectors.account_today():
                raise VoucherError(ERR_EXPIRY_PAST)
            before = f"{current.expires_on:%d %b %Y}" if current.expires_on else "never"
            event_record(
                current,
                actor,
                VoucherListEvent.Action.EXPIRY_EXTENDED,
                f"Expiry {before} → {expires_on:%d %b %Y}",
            )
            current.expires_on = expires_on
        for field, value in (
            ("name", name.strip()),
            ("description", description.strip()),
            ("low_stock_threshold", low_stock_threshold),
        ):
            if getattr(current, field) != value:
                changes.append(current._meta.get_field(field).verbose_name)
                setattr(current, field, value)
        if changes:
            event_record(current, actor, VoucherListEvent.Action.EDITED, "Changed " + ", ".join(changes))
        current.updated_at = timezone.now()
        current.save(
            update_fields=["name", "description", "expires_on", "low_stock_threshold", "updated_at"],
        )
    return current


def _transition(*, voucher_list, actor, from_statuses, to_status, error, action, extra_filter=None) -> VoucherList:
    # A conditional UPDATE: its row count says whether the list was in a state that allows it.
    qs = VoucherList.objects.filter(pk=voucher_list.pk, status__in=from_statuses)
    if extra_filter is not None:
        qs = qs.filter(extra_filter)
    with transaction.atomic():
        if not qs.update(status=to_status, updated_at=timezone.now()):
            raise VoucherError(error)
        event_record(voucher_list, actor, action)
    return VoucherList.objects.select_related("partner").get(pk=voucher_list.pk)


def voucher_list_pause(*, voucher_list: VoucherList, actor) -> VoucherList:
    """Active → Paused: campaigns stop giving codes from it."""
    return _transition(
        voucher_list=voucher_list,
        actor=actor,
        from_statuses=[Status.ACTIVE],
        to_status=Status.PAUSED,
        error=ERR_PAUSE,
        action=VoucherListEvent.Action.PAUSED,
    )


def voucher_list_activate(*, voucher_list: VoucherList, actor) -> VoucherList:
    """Paused (or Expired after an extension) → Active; refused while the expiry date has passed."""
    try:
        return _transition(
            voucher_list=voucher_list,
            actor=actor,
            from_statuses=[Status.PAUSED, Status.EXPIRED],
            to_status=Status.ACTIVE,
            error=ERR_ACTIVATE,
            action=VoucherListEvent.Action.ACTIVATED,
            extra_filter=selectors.not_expired_q(),
        )
    except VoucherError:
        status = VoucherList.objects.filter(pk=voucher_list.pk).values_list("status", flat=True).first()
        if status in (Status.PAUSED, Status.EXPIRED):
            raise VoucherError(ERR_ACTIVATE_EXPIRED) from None
        raise


def voucher_list_archive(*, voucher_list: VoucherList, actor) -> VoucherList:
    """Archive a list (final); refused while a scheduled or running campaign uses it."""
    with transaction.atomic():
        current = VoucherList.objects.select_for_update(no_key=True).get(pk=voucher_list.pk)
        if current.status == Status.ARCHIVED:
            raise VoucherError(ERR_ARCHIVE)
        blocking = [
            campaign.name
            for campaign in selectors.voucher_list_linked_campaigns(
                voucher_list=current, statuses=selectors.CAMPAIGN_BLOCKING_STATUSES, limit=5
            )
        ]
        if blocking:
            raise VoucherError(ERR_ARCHIVE_LINKED.format(names=", ".join(blocking)))
        VoucherList.objects.filter(pk=current.pk).update(status=Status.ARCHIVED, updated_at=timezone.now())
        # Archived codes leave the partner's duplicate rule: the same code may be uploaded again.
        current.codes.filter(list_archived=False).update(list_archived=True)
        event_record(current, actor, VoucherListEvent.Action.ARCHIVED)
    return VoucherList.objects.select_related("partner").get(pk=voucher_list.pk)


def voucher_lists_expire() -> int:
    """Mark Active / Paused lists whose expiry date has passed as Expired; returns how many."""
    today = selectors.account_today()
    with transaction.atomic():
        ids = list(
            VoucherList.objects.select_for_update(skip_locked=True)
            .filter(status__in=[Status.ACTIVE, Status.PAUSED], expires_on__lt=today)
            .values_list("id", flat=True)
        )
        if not ids:
            return 0
        VoucherList.objects.filter(id__in=ids).update(status=Status.EXPIRED, updated_at=timezone.now())
        VoucherListEvent.objects.bulk_create(
            [VoucherListEvent(voucher_list_id=pk, action=VoucherListEvent.Action.EXPIRED) for pk in ids]
        )
    return len(ids)
