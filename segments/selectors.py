"""Reads for the audience screens and for other apps (see /work/brief/CONTRACTS.md)."""

import datetime

from django.db import connection
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from accounts.account import account_tzinfo
from segments import rules as rules_mod
from segments.models import (
    SAMPLE_BUCKETS,
    CustomList,
    CustomListMember,
    CustomListUpload,
    Event,
    EventDefinition,
    EventPropertyDefinition,
    Profile,
    ProfilePropertyDefinition,
    Segment,
)

# Below this many profiles the "estimate" is simply the exact count (it is fast enough).
ESTIMATE_EXACT_BELOW = 20_000
# Evaluate on enough hash buckets (of 100) to cover about this many profiles.
ESTIMATE_SAMPLE_TARGET = 10_000


def profile_search(*, query: str = "") -> QuerySet[Profile]:
    """Profiles, most recently seen first (the `profile_last_seen` index serves the order)."""
    profiles = Profile.objects.all()
    if query:
        profiles = profiles.filter(identity__icontains=query)
    return profiles.order_by("-last_seen", "pk")


def profile_recent_events(*, profile: Profile, limit: int = 50) -> QuerySet[Event]:
    return profile.events.order_by("-occurred_at", "-pk")[:limit]


def event_search(
    *,
    name: str = "",
    start: datetime.datetime | None = None,
    end: datetime.datetime | None = None,
    offset: int = 0,
    limit: int = 50,
) -> list[Event]:
    """Events newest first (occurred_at, then id), with their profiles: rows offset..offset+limit.

    Served by event_name_time (name, occurred_at) alone, with no index of its own on the time
    (every index costs each upload and each system event): one name reads that index backwards;
    all names merge the newest offset + limit events of each distinct name, the names found by
    a skip scan of the same index (one probe per name, so no name is missed, catalogued or not).
    The cost grows with the number of names and the page's depth, not with the events.
    """
    bounds, params = "", {"depth": offset + limit, "offset": offset, "limit": limit}
    if start:
        bounds += " AND e.occurred_at >= %(start)s"
        params["start"] = start
    if end:
        bounds += " AND e.occurred_at < %(end)s"
        params["end"] = end
    if name:
        names = "SELECT %(name)s::varchar AS name"
        params["name"] = name
    else:
        names = """
            WITH RECURSIVE names(name) AS (
                (SELECT name FROM segments_event ORDER BY name LIMIT 1)
                UNION ALL
                SELECT (SELECT e.name FROM segments_event e WHERE e.name > names.name ORDER BY e.name LIMIT 1)
                FROM names WHERE names.name IS NOT NULL
            )
            SELECT name FROM names WHERE name IS NOT NULL"""
    sql = f"""
        SELECT t.id FROM ({names}) AS n
        CROSS JOIN LATERAL (
            SELECT e.id, e.occurred_at FROM segments_event e
            WHERE e.name = n.name{bounds}
            ORDER BY e.occurred_at DESC, e.id DESC
            LIMIT %(depth)s
        ) AS t
        ORDER BY t.occurred_at DESC, t.id DESC
        LIMIT %(limit)s OFFSET %(offset)s
    """  # noqa: S608 (constants and placeholders only)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    return list(Event.objects.filter(pk__in=ids).select_related("profile").order_by("-occurred_at", "-pk"))


# --- Catalogue ---------------------------------------------------------------------------


def event_names() -> list[str]:
    """Every event name seen, from the catalogue."""
    return list(EventDefinition.objects.order_by("name").values_list("name", flat=True))


def event_properties(*, event_name: str) -> list[tuple[str, str]]:
    """(property, type) pairs of one event, from the catalogue."""
    return list(
        EventPropertyDefinition.objects.filter(event__name=event_name).order_by("name").values_list("name", "type")
    )


def event_numeric_properties(*, event_name: str) -> list[str]:
    """Names of an event's numeric properties (type "number" in the catalogue)."""
    return list(
        EventPropertyDefinition.objects.filter(event__name=event_name, type="number")
        .order_by("name")
        .values_list("name", flat=True)
    )


def profile_properties() -> list[tuple[str, str]]:
    return list(ProfilePropertyDefinition.objects.order_by("name").values_list("name", "type"))


# --- Segments and audience ----------------------------------------------------------------


def rules_q(*, rules: dict, now: datetime.datetime | None = None, after: int | None = None) -> Q:
    tree = rules_mod.validate_rules(rules)
    return rules_mod.compile_rules(tree, now=now or timezone.now(), tz=account_tzinfo(), after=after)


def segment_profile_ids(*, rules: dict, now: datetime.datetime | None = None, after: int | None = None) -> QuerySet:
    """Ids of the profiles matching a rule tree, as one query (`.values("id")`); with `after`,
    only ids above it (a keyset page: see RuleCompiler.after)."""
    return Profile.objects.filter(rules_q(rules=rules, now=now, after=after)).order_by().values("id")


def audience_count(*, rules: dict, now: datetime.datetime | None = None) -> int:
    """The exact number of matching profiles."""
    return Profile.objects.filter(rules_q(rules=rules, now=now)).order_by().count()


def audience_estimate(*, rules: dict, now: datetime.datetime | None = None) -> int:
    """An approximate count: the rules run on a deterministic hash sample (~10k profiles), scaled up."""
    condition = rules_q(rules=rules, now=now)
    total = Profile.objects.count()
    if total < ESTIMATE_EXACT_BELOW:
        return Profile.objects.filter(condition).order_by().count()
    buckets = min(SAMPLE_BUCKETS, -(-SAMPLE_BUCKETS * ESTIMATE_SAMPLE_TARGET // total))
    sample = Profile.objects.filter(sample_bucket__lt=buckets).order_by()
    # One pass over the sample's ids (index-only on (sample_bucket, id)), evaluating the rules
    # per sampled profile (FILTER: each Exists probes that profile's events by index). As a
    # WHERE the planner may instead hash every event in the rules' windows, which at 10M
    # events costs more than the ~10,000 probes (bench/RESULTS.md, SPEC 9 summary).
    counts = sample.aggregate(size=Count("pk"), matched=Count("pk", filter=condition))
    if not counts["size"]:
        return Profile.objects.filter(condition).order_by().count()
    return round_estimate(counts["matched"] * total / counts["size"])


def round_estimate(value: float) -> int:
    """Three significant figures: an estimate should not pretend to more precision."""
    value = int(round(value))
    if value < 1000:
        return value
    digits = len(str(value)) - 3
    return int(round(value, -digits))


def audience_sample(*, rules: dict, limit: int = 20) -> list[Profile]:
    """The first matching profiles, for a quick look (by identity)."""
    return list(Profile.objects.filter(rules_q(rules=rules)).order_by("identity")[:limit])


def segments_using_custom_list(list_id: int) -> dict[int, str]:
    """Segments whose rules use the list, directly or through segments they include: id → name."""
    trees = {pk: (name, tree) for pk, name, tree in Segment.objects.values_list("pk", "name", "rules")}
    using = {pk for pk, (_, tree) in trees.items() if list_id in rules_mod.referenced_custom_lists(tree)}
    grew = True
    while grew:  # a segment "in segment S" uses whatever S uses
        more = {
            pk for pk, (_, tree) in trees.items() if pk not in using and rules_mod.referenced_segments(tree) & using
        }
        using |= more
        grew = bool(more)
    return {pk: trees[pk][0] for pk in using}


def rule_explain(*, rules: dict, profile: Profile, now: datetime.datetime | None = None) -> dict:
    """For one profile: whether the whole tree matches, and rule by rule whether each does and why."""
    now = now or timezone.now()
    tree = rules_mod.validate_rules(rules)
    compiler = rules_mod.RuleCompiler(now=now, tz=account_tzinfo())
    one = Profile.objects.filter(pk=profile.pk)
    lines = []

    def walk(node, depth):
        if "rules" in node:
            if depth:
                lines.append({"depth": depth, "group": node["op"].upper(), "matched": None, "text": "", "why": ""})
            for child in node["rules"]:
                walk(child, depth + 1)
            return
        matched = one.filter(compiler.rule(node)).exists()
        lines.append(
            {"depth": depth, "group": "", "matched": matched, "text": rules_mod.describe(node), "why": why(node)}
        )

    def why(rule):
        kind = rule["type"]
        if kind in ("did", "did_not"):
            events = Event.objects.filter(profile=profile, name=rule["event"]).filter(compiler.window_q(rule["window"]))
            for f in rule["filters"]:
                events = events.filter(rules_mod.filter_q(f))
            n = events.count()
            return f"{n} matching {rule['event']} event{'s' if n != 1 else ''} in the window"
        if kind == "did_any":
            n = (
                Event.objects.filter(profile=profile, name__in=rule["events"])
                .filter(compiler.window_q(rule["window"]))
                .count()
            )
            return f"{n} matching events in the window"
        if kind == "user_property":
            value = profile.properties.get(rule["property"], None)
            return f"{rule['property']} is {value!r}" if rule["property"] in profile.properties else "property not set"
        if kind == "interest":
            counts = (
                Event.objects.filter(profile=profile, name=rule["event"])
                .filter(compiler.window_q(rule["window"]))
                .values_list("properties", flat=True)
            )
            tally = {}
            for props in counts:
                if rule["property"] in props and props[rule["property"]] is not None:
                    key = str(props[rule["property"]])
                    tally[key] = tally.get(key, 0) + 1
            top = sorted(tally.items(), key=lambda kv: -kv[1])[:3]
            return "most frequent: " + (", ".join(f"{k} ({v})" for k, v in top) or "none")
        if kind in ("in_custom_list", "not_in_custom_list"):
            member = CustomListMember.objects.filter(custom_list_id=rule["custom_list_id"], profile=profile).exists()
            return "on the list" if member else "not on the list"
        if kind in ("in_segment", "not_in_segment"):
            return "evaluated from the segment's own rules"
        return "evaluated for every value of the property"

    walk(tree, 0)
    return {"matched": one.filter(compiler.group(tree)).exists(), "lines": lines}


def segment_list() -> QuerySet[Segment]:
    return Segment.objects.select_related("created_by").order_by("name")


def custom_list_list() -> QuerySet[CustomList]:
    return CustomList.objects.select_related("created_by").annotate(
        upload_count=Count("uploads"), last_upload_at=Max("uploads__created_at")
    )


def custom_lists_usable() -> QuerySet[CustomList]:
    """Lists a campaign or rule may use: processed ones. A list still reading its first upload (or
    whose every upload failed) has no members yet, so targeting it would silently reach nobody."""
    uploads = CustomListUpload.objects.filter(custom_list=OuterRef("pk"))
    completed = uploads.filter(status=CustomListUpload.Status.COMPLETED)
    return CustomList.objects.filter(~Exists(uploads) | Exists(completed)).order_by("name")


def custom_lists_used(*, trees: list, segment_ids: set[int]) -> set[int]:
    """Ids of the custom lists the rule trees and segments use, directly or through the segments
    they include (in / not in a list). Two queries at most, whatever the nesting."""
    lists: set[int] = set()
    seen: set[int] = set()
    pending = set(segment_ids)
    for tree in trees:
        lists |= rules_mod.referenced_custom_lists(tree)
        pending |= rules_mod.referenced_segments(tree)
    all_segments = None
    while pending - seen:
        if all_segments is None:
            all_segments = dict(Segment.objects.values_list("pk", "rules"))
        current = pending - seen
        seen |= current
        for pk in current:
            tree = all_segments.get(pk) or {}
            lists |= rules_mod.referenced_custom_lists(tree)
            pending |= rules_mod.referenced_segments(tree)
    return lists


def custom_list_uploads(*, custom_list: CustomList) -> QuerySet[CustomListUpload]:
    return custom_list.uploads.select_related("uploaded_by").order_by("-created_at", "-pk")


def segments_using(*, segment: Segment) -> list[Segment]:
    return [s for s in Segment.objects.exclude(pk=segment.pk) if segment.pk in rules_mod.referenced_segments(s.rules)]
