import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from accounts import access, dates
from core.pagination import EstimatedPaginator
from segments import builder, selectors, services
from segments import rules as rules_mod
from segments.models import CustomList, CustomListUpload, Profile, Segment

PAGE_SIZE = 50


@access.marketer_required
def profile_list(request):
    query = request.GET.get("q", "").strip()[:256]
    # A million profiles: "about N" pages from the planner's estimate instead of COUNT(*) on each view.
    page = EstimatedPaginator(selectors.profile_search(query=query), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page_obj": page, "profiles": page.object_list, "q": query}
    template = "segments/profile_list.html"
    if request.htmx:
        template += "#profile-table"
    return render(request, template, context)


@access.marketer_required
def profile_detail(request, pk: int):
    profile = get_object_or_404(Profile, pk=pk)
    events = selectors.profile_recent_events(profile=profile)
    return render(request, "segments/profile_detail.html", {"profile": profile, "events": events})


EVENT_PAGE_SIZE = 50


@access.marketer_required
def event_list(request):
    name = request.GET.get("name", "").strip()[:256]
    # Whole days in the account timezone, typed as the app shows dates (accounts/dates.py).
    bounds, typed, date_errors = {}, {}, []
    for key, label in (("start", "From"), ("end", "To")):
        raw = request.GET.get(key, "").strip()[:40]
        day = dates.date_parse(raw)
        typed[key] = dates.date_display(day) if day else raw
        if raw and day is None:
            date_errors.append(f"{label}: {dates.ERR_DATE}")
        elif day is not None:
            bounds[key] = dates.day_start(day) if key == "start" else dates.day_end(day)
    if "start" in bounds and "end" in bounds and bounds["end"] < bounds["start"]:
        date_errors.append(f"To ({typed['end']}) is before From ({typed['start']}).")
        bounds = {}
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    # No COUNT(*) over millions of events: fetch one extra row to know whether a next page exists.
    offset = (page - 1) * EVENT_PAGE_SIZE
    rows = selectors.event_search(name=name, offset=offset, limit=EVENT_PAGE_SIZE + 1, **bounds)
    context = {
        "events": rows[:EVENT_PAGE_SIZE],
        "has_next": len(rows) > EVENT_PAGE_SIZE,
        "page": page,
        "name": name,
        "names": selectors.event_names(),
        "start": typed["start"],
        "end": typed["end"],
        "date_errors": date_errors,
        "date_placeholder": dates.PLACEHOLDER,
    }
    template = "segments/event_list.html"
    if request.htmx:
        template += "#event-table"
    return render(request, template, context, status=422 if date_errors else 200)


@access.marketer_required
def segment_list(request):
    return render(request, "segments/segment_list.html", {"segments": selectors.segment_list()})


def _rules_from_post(request):
    raw = (request.POST if request.method == "POST" else request.GET).get("rules", "").strip()
    try:
        tree = json.loads(raw) if raw else {"op": "and", "rules": []}
        return rules_mod.validate_rules(tree), []
    except ValueError:
        return None, ["The rules are not valid JSON."]
    except ValidationError as exc:
        return None, exc.messages


@access.marketer_required
def rules_builder(request):
    """Re-render the rule builder from its posted controls after a structural change (HTMX partial)."""
    data = request.POST
    action = data.get("rb_action", "")[:300]
    raw_json, json_error, new_row = "", "", None
    if action == "json":
        raw_json = data.get("rb_json", "")
        tree = builder.tree_from_json(raw_json)
        if tree is None:
            json_error = "The rules are not valid JSON."
            tree = builder.tree_from_controls(data) or builder.tree_from_json(data.get("rules", ""))
            raw_json = ""
    else:
        tree = builder.tree_from_controls(data)
        if tree is None:
            tree = builder.tree_from_json(data.get("rules", ""))
        if tree is not None:
            changed = data.get("rb_changed", "")[:300]
            if changed:
                builder.apply_change(tree, changed, builder.Catalogue())
            if action:
                new_row = builder.apply_action(tree, action)
    errors = builder.validation_errors(tree) if tree is not None and tree.get("rules") else []
    errors = builder.without_blank_rows(errors, tree)
    vm = builder.builder_vm(
        tree=tree,
        raw_json=raw_json,
        errors=errors,
        new_row=new_row,
        json_error=json_error,
        optional=bool(data.get("rb_optional")),
    )
    return render(request, "segments/components/rule_builder.html#rule-builder", {"rb": vm})


MSG_ROWS_NEED_ATTENTION = "Some rules need attention: see the message by each of them."
MSG_CHOOSE_TO_ESTIMATE = "Choose an event or a property in each rule to see the estimated audience."


@access.marketer_required
def rules_estimate(request):
    tree, errors = _rules_from_post(request)
    context = {"estimate_errors": errors, "estimate": None, "exact": None}
    if request.POST.get("rb_optional"):
        posted = builder.tree_from_json(request.POST.get("rules", ""))
        if isinstance(posted, dict) and not posted.get("rules") and "type" not in posted:
            # An optional filter (a live campaign's past-behaviour filter) left without rules: nothing to say.
            return render(request, "segments/components/rule_builder.html#rule-estimate", {"estimate": None})
    if request.POST.get("rb_live"):
        # Asked by the visual builder: each row's messages go next to that row (out-of-band swaps).
        posted = builder.tree_from_json(request.POST.get("rules", ""))
        ids = builder.row_ids(posted)
        kept = builder.without_blank_rows(errors, posted)
        if errors and not kept:
            context["estimate_hint"] = MSG_CHOOSE_TO_ESTIMATE
        errors = context["estimate_errors"] = kept
        by_row, general = builder.errors_by_row(errors)
        # A blank row's messages are left as the page shows them: none while building, the
        # save's "choose an event" after a save attempt.
        blank = builder.blank_row_labels(posted)
        context["row_errors"] = [(row_id, by_row.get(label, [])) for label, row_id in ids.items() if label not in blank]
        if ids:
            shown = [m for label in ids for m in by_row.get(label, [])]
            rest = [m for m in errors if m not in shown]
            context["estimate_errors"] = rest + ([MSG_ROWS_NEED_ATTENTION] if shown else [])
    if tree:
        context["estimate"] = selectors.audience_estimate(rules=tree)
    return render(request, "segments/components/rule_builder.html#rule-estimate", context)


@access.marketer_required
def rules_count(request):
    tree, errors = _rules_from_post(request)
    context = {"estimate_errors": errors, "estimate": None, "exact": None}
    # The rules text counted: the page keeps this count until the rules differ (rule_builder.js).
    context["counted_rules"] = request.POST.get("rules", "")
    if tree:
        context["exact"] = selectors.audience_count(rules=tree)
        context["estimate"] = context["exact"]
    return render(request, "segments/components/rule_builder.html#rule-estimate", context)


@access.marketer_required
def custom_list_list(request):
    errors, name = {}, ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:200]
        upload_file = request.FILES.get("file")
        if not name:
            errors["name"] = ["Enter a name for the list."]
        if upload_file is None:
            errors["file"] = ["Choose a CSV file with the header Type,Identity."]
        if not errors:
            try:
                upload = services.custom_list_upload_start(
                    uploaded_file=upload_file, actor=request.user, name=name, description=""
                )
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                return redirect(upload.custom_list.get_absolute_url())
    context = {"lists": selectors.custom_list_list(), "errors": errors, "name": name}  # a refusal keeps the name
    return render(request, "segments/custom_list_list.html", context, status=422 if errors else 200)


@access.marketer_required
def custom_list_detail(request, pk: int):
    custom_list = get_object_or_404(CustomList, pk=pk)
    errors = {}
    if request.method == "POST":
        upload_file = request.FILES.get("file")
        if upload_file is None:
            errors["file"] = ["Choose a CSV file with the header Type,Identity."]
        else:
            try:
                services.custom_list_upload_start(
                    uploaded_file=upload_file, actor=request.user, custom_list=custom_list
                )
            except ValidationError as exc:
                errors = exc.message_dict
            else:
                return redirect(custom_list.get_absolute_url())
    uploads = selectors.custom_list_uploads(custom_list=custom_list)
    context = {
        "custom_list": custom_list,
        "uploads": uploads,
        "in_progress": any(u.status == "in_progress" for u in uploads),
        "errors": errors,
    }
    template = "segments/custom_list_detail.html"
    if request.htmx and request.method == "GET":
        template += "#upload-history"
    return render(request, template, context, status=422 if errors else 200)


@access.marketer_required
def custom_list_error_file(request, pk: int, upload_pk: int):
    upload = get_object_or_404(CustomListUpload, pk=upload_pk, custom_list_id=pk)
    response = HttpResponse(upload.error_rows or "Row,Identity,Reason\r\n", content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="custom-list-{pk}-upload-{upload.pk}-errors.csv"'
    return response


def _segment_form(request, segment):
    errors, rule_errors = {}, []
    name = segment.name if segment else ""
    description = segment.description if segment else ""
    rules_json = json.dumps(segment.rules) if segment else ""
    if request.method == "POST":
        name = request.POST.get("name", "").strip()[:200]
        description = request.POST.get("description", "").strip()
        tree = builder.tree_from_controls(request.POST)
        if tree is not None:
            rules_json = json.dumps(tree)
        else:
            rules_json = request.POST.get("rules", "")
            try:
                tree = json.loads(rules_json)
            except ValueError:
                rule_errors = ["The rules are not valid JSON."]
        if not name:
            errors["name"] = ["Enter a name."]
        elif Segment.objects.filter(name=name).exclude(pk=segment.pk if segment else None).exists():
            errors["name"] = ["A segment with this name already exists."]
        if tree is not None and not errors:
            try:
                saved = services.segment_save(
                    segment=segment, name=name, description=description, rule_tree=tree, actor=request.user
                )
            except ValidationError as exc:
                rule_errors = exc.messages
            else:
                services.segment_refresh_size(segment=saved)
                return redirect("segments:segment_list")
    context = {
        "segment": segment,
        "name": name,
        "description": description,
        "rules_json": rules_json,
        "errors": errors,
        "rule_errors": rule_errors,
        "used_by": selectors.segments_using(segment=segment) if segment else [],
    }
    status = 422 if (errors or rule_errors) else 200
    return render(request, "segments/segment_form.html", context, status=status)


@access.marketer_required
def segment_create(request):
    return _segment_form(request, None)


@access.marketer_required
def segment_edit(request, pk: int):
    return _segment_form(request, get_object_or_404(Segment, pk=pk))


@access.marketer_required
def segment_delete(request, pk: int):
    segment = get_object_or_404(Segment, pk=pk)
    if request.method != "POST":
        return redirect("segments:segment_edit", pk=pk)
    try:
        services.segment_delete(segment=segment)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
        return redirect("segments:segment_edit", pk=pk)
    messages.success(request, f"Deleted segment {segment.name}.")
    return redirect("segments:segment_list")


@access.marketer_required
def rules_explain(request):
    data = request.POST if request.method == "POST" else request.GET
    tree, errors = _rules_from_post(request)
    identity = data.get("identity", "").strip()[:256]
    context = {"explain_errors": errors, "result": None, "sample": [], "identity": identity}
    if tree:
        context["sample"] = selectors.audience_sample(rules=tree)
        profile = Profile.objects.filter(identity=identity).first() if identity else None
        if identity and profile is None:
            context["explain_errors"] = [f"No profile with identity {identity}."]
        elif profile is not None:
            context["result"] = selectors.rule_explain(rules=tree, profile=profile)
    return render(request, "segments/components/rule_explain.html", context)
