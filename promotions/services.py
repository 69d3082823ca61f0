"""Every write to a campaign: the builder's draft saves, publishing and the status actions (SPEC 4, 5).

Status changes are conditional UPDATEs (`… WHERE status IN (allowed)`): their row count says
whether the transition happened, so two people pressing Pause and Stop at once cannot both win.
"""

import logging

from django.db import transaction
from django.utils import timezone

from accounts.account import account_tzinfo
from promotions import catalogue, schedule
from promotions.engine import live, runs
from promotions.models import Campaign, CampaignEvent, CampaignRun
from promotions.rules import campaign as campaign_rules

S = Campaign.Status
logger = logging.getLogger(__name__)

MSG_NOT_EDITABLE = "This campaign can no longer be edited: it is {status}."
MSG_SECTION_ORDER = "Complete the {section} section first."
MSG_INCOMPLETE = "Complete every section before publishing."
MSG_TRANSITION = "You cannot {action} a campaign that is {status}."
MSG_NO_OCCURRENCE = "The recurring schedule has no run left."

SECTION_LABELS = {"start": "Start here", "who": "Who", "what": "What", "when": "When"}

# Allowed source statuses per action (SPEC 5).
TRANSITIONS = {
    "publish": (S.DRAFT,),
    "pause": (S.SCHEDULED, S.RUNNING),
    "resume": (S.PAUSED,),
    "stop": (S.SCHEDULED, S.RUNNING, S.PAUSED),
    "archive": (S.DRAFT, S.STOPPED, S.COMPLETED),
}


class CampaignError(Exception):
    """A campaign action the user asked for that its state does not allow; the message says why."""


def _record(*, campaign, actor, action, api_key=None, **details) -> None:
    CampaignEvent.objects.create(campaign=campaign, actor=actor, api_key=api_key, action=action, details=details)


def _status_label(status: str) -> str:
    return S(status).label


def _refused(campaign_id: int, action: str) -> CampaignError:
    status = Campaign.objects.filter(pk=campaign_id).values_list("status", flat=True).first() or S.DRAFT
    return CampaignError(MSG_TRANSITION.format(action=action, status=_status_label(status)))


def campaign_create(*, values: dict, actor) -> Campaign:
    """Create a Draft from a valid Start section."""
    with transaction.atomic():
        campaign = Campaign.objects.create(created_by=actor, start_complete=True, **values)
        _record(campaign=campaign, actor=actor, action=CampaignEvent.Action.CREATED, section="start")
    return campaign


def campaign_section_save(*, campaign: Campaign, section: str, values: dict, actor) -> Campaign:
    """Store one valid section of the draft, mark it complete, and re-check the sections after it."""
    order = list(Campaign.SECTIONS)
    index = order.index(section)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign.pk).first()
        if locked is None or locked.status not in Campaign.EDITABLE_STATUSES:
            status = _status_label(locked.status) if locked else "gone"
            raise CampaignError(MSG_NOT_EDITABLE.format(status=status))
        for earlier in order[:index]:
            if not getattr(locked, f"{earlier}_complete"):
                raise CampaignError(MSG_SECTION_ORDER.format(section=SECTION_LABELS[earlier]))
        for name, value in values.items():
            setattr(locked, name, value)
        setattr(locked, f"{section}_complete", True)
        later = [s for s in order[index + 1 :] if getattr(locked, f"{s}_complete")]
        for stale in campaign_rules.campaign_sections_invalid(locked, later):
            setattr(locked, f"{stale}_complete", False)
        locked.save()
        live.triggers_sync(campaign=locked)
        _record(campaign=locked, actor=actor, action=CampaignEvent.Action.SAVED, section=section)
        if locked.status == S.SCHEDULED:
            if locked.all_sections_complete:
                if section == "when":
                    _plan(locked, replace=True)
            else:
                # An edit left a scheduled campaign incomplete: it goes back to Draft until republished.
                Campaign.objects.filter(pk=locked.pk).update(status=S.DRAFT, updated_at=timezone.now())
                locked.runs.filter(status=CampaignRun.Status.PENDING).update(status=CampaignRun.Status.CANCELLED)
                _record(campaign=locked, actor=actor, action=CampaignEvent.Action.RETURNED_TO_DRAFT, section=section)
    locked.refresh_from_db()
    return locked


def _plan(campaign: Campaign, *, replace: bool) -> str:
    """Set start and the first run from the When section; returns the status the campaign should have."""
    now = timezone.now()
    if replace:
        campaign.runs.filter(status=CampaignRun.Status.PENDING).delete()
    if campaign.is_live:
        if campaign.live_start == Campaign.LiveStart.NOW or campaign.starts_at is None:
            campaign.starts_at = now
            status = S.RUNNING
        else:
            status = S.SCHEDULED if campaign.starts_at > now else S.RUNNING
        Campaign.objects.filter(pk=campaign.pk).update(starts_at=campaign.starts_at)
        return status
    if campaign.delivery == Campaign.Delivery.NOW:
        due, status = now, S.RUNNING
    elif campaign.delivery == Campaign.Delivery.LATER:
        due, status = campaign.scheduled_at, S.SCHEDULED
    else:
        due = schedule.campaign_next_occurrence(campaign, tz=account_tzinfo(), after=now)
        if due is None:
            raise CampaignError(MSG_NO_OCCURRENCE)
        status = S.SCHEDULED
    campaign.starts_at = due
    Campaign.objects.filter(pk=campaign.pk).update(starts_at=due)
    CampaignRun.objects.get_or_create(campaign=campaign, scheduled_for=due)
    return status


def campaign_publish(*, campaign: Campaign, actor) -> Campaign:
    """Publish a complete Draft: Running (send now / live from now) or Scheduled, with its first run."""
    # The exact audience at publish (SPEC 2.4), counted before the row lock is taken: it may take
    # seconds on a large audience. The run counts again when it starts (the audience may move).
    audience = None if campaign.is_live else catalogue.audience_count(campaign)
    with transaction.atomic():
        locked = Campaign.objects.select_for_update(no_key=True).filter(pk=campaign.pk).first()
        if locked is None or locked.status not in TRANSITIONS["publish"]:
            raise _refused(campaign.pk, "publish")
        _lock_custom_lists(locked)
        invalid = [s for s in Campaign.SECTIONS if not getattr(locked, f"{s}_complete")]
        invalid += campaign_rules.campaign_sections_invalid(locked, [s for s in Campaign.SECTIONS if s not in invalid])
        if not invalid:
            status = _plan(locked, replace=True)
            live.triggers_sync(campaign=locked)
            now = timezone.now()
            updated = Campaign.objects.filter(pk=locked.pk, status__in=TRANSITIONS["publish"]).update(
                status=status, published_at=now, updated_at=now
            )
            if not updated:
                raise _refused(locked.pk, "publish")
            run = locked.runs.filter(status=CampaignRun.Status.PENDING).order_by("scheduled_for").first()
            _record(
                campaign=locked,
                actor=actor,
                action=CampaignEvent.Action.PUBLISHED,
                status=status,
                first_run=run.scheduled_for.isoformat() if run else None,
                audience=audience,
            )
            if run is not None and run.scheduled_for <= now:
                transaction.on_commit(_dispatch_now)
    if invalid:
        # Outside the transaction above, so the sections stay marked as needing attention.
        Campaign.objects.filter(pk=locked.pk).update(**{f"{s}_complete": False for s in invalid})
        raise CampaignError(MSG_INCOMPLETE)
    locked.refresh_from_db()
    return locked


def _lock_custom_lists(campaign: Campaign) -> None:
    """Lock the custom lists the campaign uses, in primary-key order, so a list replacement swapping
    its members (which locks the list row, then checks for campaigns in use) either finishes before
    this publish or sees the campaign published and refuses (SPEC 2.3)."""
    from segments.models import CustomList
    from segments.selectors import custom_lists_used

    ids = custom_lists_used(
        trees=[campaign.rules or {}, campaign.past_filter or {}],
        segment_ids={campaign.segment_id} if campaign.segment_id else set(),
    )
    if campaign.custom_list_id:
        ids.add(campaign.custom_list_id)
    if ids:
        list(CustomList.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk").values_list("pk"))


def _dispatch_now() -> None:
    """Send now starts now: wake the dispatch sweep at once instead of waiting up to 30 s for beat.

    The sweep's own task claims the due run (SKIP LOCKED) and enqueues its first chunk, so a
    wake-up racing the periodic tick starts the run once. A broker that cannot take the task
    changes nothing for the marketer: the campaign is published and the next tick starts it.
    """
    from promotions.tasks import dispatch_due_runs

    try:
        dispatch_due_runs.delay()
    except Exception:
        logger.warning("Could not wake the dispatch sweep after publish; the periodic sweep will start the run.")


def _transition(*, campaign: Campaign, actor, action: str, target: str, event: str, api_key=None, **extra) -> Campaign:
    with transaction.atomic():
        now = timezone.now()
        # Wait for the run chunks in flight and keep new ones out (they share the gate): once this
        # commits, no chunk gives anything under the old status.
        runs.campaign_gate_exclusive(campaign.pk)
        updated = Campaign.objects.filter(pk=campaign.pk, status__in=TRANSITIONS[action]).update(
            status=target, updated_at=now, **extra
        )
        if not updated:
            raise _refused(campaign.pk, action)
        _record(campaign=campaign, actor=actor, api_key=api_key, action=event, status=target)
        if target == S.STOPPED:
            campaign.runs.filter(status=CampaignRun.Status.PENDING).update(status=CampaignRun.Status.CANCELLED)
            runs.runs_cancel(campaign=campaign)
    campaign.refresh_from_db()
    return campaign


def campaign_pause(*, campaign: Campaign, actor, api_key=None) -> Campaign:
    """Pause at once: no reward is given after this commits. `api_key`: done through the API by that key."""
    return _transition(campaign=campaign, actor=actor, api_key=api_key, action="pause", target=S.PAUSED, event="paused")


def campaign_resume(*, campaign: Campaign, actor, api_key=None) -> Campaign:
    """Resume a paused campaign: Scheduled if it has not started yet, else Running."""
    now = timezone.now()
    target = (
        S.SCHEDULED
        if campaign.starts_at
        and campaign.starts_at > now
        and not campaign.runs.exclude(status=CampaignRun.Status.PENDING).exists()
        else S.RUNNING
    )
    with transaction.atomic():
        campaign = _transition(
            campaign=campaign, actor=actor, api_key=api_key, action="resume", target=target, event="resumed"
        )
        # A distribution halted between chunks by the pause continues where it stopped.
        runs.runs_resume(campaign=campaign)
    return campaign


def campaign_stop(*, campaign: Campaign, actor, api_key=None) -> Campaign:
    """Stop for good; pending runs are cancelled."""
    return _transition(
        campaign=campaign,
        actor=actor,
        api_key=api_key,
        action="stop",
        target=S.STOPPED,
        event="stopped",
        end_reason=f"Stopped through the API (key “{api_key.name[:150]}”)" if api_key else "Stopped by a marketer",
    )


def campaign_archive(*, campaign: Campaign, actor) -> Campaign:
    return _transition(campaign=campaign, actor=actor, action="archive", target=S.ARCHIVED, event="archived")


COPY_EXCLUDE = {
    "id",
    "name",
    "status",
    "created_by",
    "created_at",
    "updated_at",
    "published_at",
    "end_reason",
    "rewarded_profiles",
}


def campaign_duplicate(*, campaign: Campaign, actor) -> Campaign:
    """A new Draft with the same settings; sections that no longer hold (a past date) are left to redo."""
    source = Campaign.objects.get(pk=campaign.pk)
    values = {
        f.attname: getattr(source, f.attname) for f in Campaign._meta.concrete_fields if f.name not in COPY_EXCLUDE
    }
    with transaction.atomic():
        copy = Campaign.objects.create(name=f"Copy of {source.name}"[:200], created_by=actor, **values)
        if copy.is_live and copy.live_start == Campaign.LiveStart.NOW:
            Campaign.objects.filter(pk=copy.pk).update(starts_at=None)
            copy.starts_at = None
        stale = campaign_rules.campaign_sections_invalid(
            copy, [s for s in Campaign.SECTIONS if getattr(copy, f"{s}_complete")]
        )
        if stale:
            Campaign.objects.filter(pk=copy.pk).update(**{f"{s}_complete": False for s in stale})
        live.triggers_sync(campaign=copy)
        _record(campaign=copy, actor=actor, action=CampaignEvent.Action.CREATED, duplicated_from=source.pk)
        _record(campaign=source, actor=actor, action=CampaignEvent.Action.DUPLICATED, copy=copy.pk)
    copy.refresh_from_db()
    return copy


ACTIONS = {
    "pause": campaign_pause,
    "resume": campaign_resume,
    "stop": campaign_stop,
    "archive": campaign_archive,
    "publish": campaign_publish,
    "duplicate": campaign_duplicate,
}


def campaign_actions(campaign: Campaign) -> list[str]:
    """The actions SPEC 5 offers for the campaign's status, in display order."""
    status = campaign.status
    actions = []
    if status in Campaign.EDITABLE_STATUSES:
        actions.append("edit")
    for action in ("publish", "pause", "resume", "stop"):
        if status in TRANSITIONS[action]:
            actions.append(action)
    actions.append("duplicate")
    if status in TRANSITIONS["archive"]:
        actions.append("archive")
    return actions
