"""The visual rule builder: controls <-> rule tree, its HTMX endpoints, and saving a segment through it."""

import html
import json
from html.parser import HTMLParser

import pytest
from django.http import QueryDict

from segments import builder
from segments.models import CustomList, EventDefinition, EventPropertyDefinition, ProfilePropertyDefinition, Segment
from segments.rules import validate_rules
from tests.segments.factories import EventFactory, ProfileFactory

pytestmark = pytest.mark.django_db


class Controls(HTMLParser):
    """The values a browser would post for the rb.* controls (and the hidden `rules`) of a page."""

    def __init__(self):
        super().__init__()
        self.data = QueryDict(mutable=True)
        self.rules = None
        self._select = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name") or ""
        if tag == "input" and name == "rules":
            self.rules = html.unescape(a.get("value") or "")
        elif tag == "input" and name.startswith("rb."):
            if a.get("type") == "checkbox" and "checked" not in a:
                return
            self.data.appendlist(name, a.get("value") or "")
        elif tag == "select" and name.startswith("rb."):
            self._select = {"name": name, "multiple": "multiple" in a, "first": None, "chosen": []}
        elif tag == "option" and self._select is not None:
            value = a.get("value") or ""
            if self._select["first"] is None:
                self._select["first"] = value
            if "selected" in a:
                self._select["chosen"].append(value)

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            s = self._select
            values = s["chosen"] if s["multiple"] else (s["chosen"][:1] or [s["first"] or ""])
            if s["multiple"] and not values:
                self.data.setlist(s["name"], [])
            for v in values:
                self.data.appendlist(s["name"], v)
            self._select = None


def as_post(data: QueryDict) -> dict:
    """The test client posts a QueryDict's last values only; give it every value."""
    return {key: data.getlist(key) for key in data}


def controls_of(content: str) -> Controls:
    parser = Controls()
    parser.feed(content)
    return parser


def render_builder(client, tree) -> str:
    response = client.post("/audience/rules/builder/", {"rules": json.dumps(tree)}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def catalogue():
    charged = EventDefinition.objects.create(name="Charged")
    viewed = EventDefinition.objects.create(name="Product Viewed")
    EventDefinition.objects.create(name="Added To Cart")
    for event, name, kind in [
        (charged, "Amount", "number"),
        (charged, "Product ID", "string"),
        (charged, "Paid On", "date"),
        (viewed, "Category", "string"),
        (viewed, "Product ID", "string"),
    ]:
        EventPropertyDefinition.objects.create(event=event, name=name, type=kind)
    ProfilePropertyDefinition.objects.create(name="City", type="string")
    ProfilePropertyDefinition.objects.create(name="Age", type="number")
    ProfilePropertyDefinition.objects.create(name="Member", type="boolean")


def _trees():
    segment = Segment.objects.create(name="Buyers", rules={"op": "and", "rules": [{"type": "did", "event": "Charged"}]})
    custom_list = CustomList.objects.create(name="VIPs")
    last30 = {"type": "last", "amount": 30, "unit": "days"}
    return {
        "did": {
            "op": "and",
            "rules": [
                {
                    "type": "did",
                    "event": "Charged",
                    "window": last30,
                    "filters": [
                        {"property": "Amount", "operator": "between", "value": 100, "value2": 500},
                        {"property": "Product ID", "operator": "contains", "value": "sku"},
                        {"property": "Paid On", "operator": "exists", "value_type": "date"},
                    ],
                    "aggregate": {"function": "sum", "property": "Amount", "operator": "at_least", "value": 1000},
                }
            ],
        },
        "did_count_at_most": {
            "op": "or",
            "rules": [
                {
                    "type": "did",
                    "event": "Charged",
                    "window": {"type": "exactly_ago", "amount": 3},
                    "aggregate": {"function": "count", "operator": "at_most", "value": 2, "include_zero": True},
                }
            ],
        },
        "did_not": {
            "op": "and",
            "rules": [
                {
                    "type": "did_not",
                    "event": "Added To Cart",
                    "window": {"type": "between", "date": "2026-01-01", "date2": "2026-01-31"},
                    "filters": [{"property": "Amount", "operator": "greater_than", "value": 5, "value_type": "number"}],
                }
            ],
        },
        "did_any": {
            "op": "and",
            "rules": [
                {
                    "type": "did_any",
                    "events": ["Added To Cart", "Charged"],
                    "window": {"type": "before", "date": "2026-02-01"},
                }
            ],
        },
        "user_property": {
            "op": "and",
            "rules": [
                {"type": "user_property", "property": "City", "operator": "not_equals", "value": "Pune"},
                {"type": "user_property", "property": "Member", "operator": "equals", "value": True},
                {"type": "user_property", "property": "Age", "operator": "less_than", "value": 40},
            ],
        },
        "interest": {
            "op": "and",
            "rules": [
                {
                    "type": "interest",
                    "event": "Product Viewed",
                    "property": "Category",
                    "value": "Shoes",
                    "mode": "at_least",
                    "percent": 40,
                    "window": {"type": "last", "amount": 2, "unit": "weeks"},
                },
                {"type": "interest", "event": "Product Viewed", "property": "Category", "value": "Bags"},
            ],
        },
        "segments_and_lists": {
            "op": "or",
            "rules": [
                {"type": "in_segment", "segment_id": segment.pk},
                {"type": "not_in_segment", "segment_id": segment.pk},
                {"type": "in_custom_list", "custom_list_id": custom_list.pk},
                {"type": "not_in_custom_list", "custom_list_id": custom_list.pk},
            ],
        },
        "constant_property": {
            "op": "and",
            "rules": [
                {
                    "type": "constant_property",
                    "property": "Product ID",
                    "did": {"event": "Product Viewed", "window": {"type": "after", "date": "2026-03-01"}},
                    "did_not": {
                        "event": "Charged",
                        "window": {"type": "on", "date": "2026-03-05"},
                        "filters": [{"property": "Amount", "operator": "less_than", "value": 9}],
                    },
                },
                {
                    "type": "constant_property",
                    "property": "Product ID",
                    "did": {"event": "Product Viewed", "window": {"type": "last", "amount": 90, "unit": "minutes"}},
                    "did_also": {"event": "Charged"},
                },
            ],
        },
        "nested_group": {
            "op": "and",
            "rules": [
                {"type": "did", "event": "Charged", "window": {"type": "last", "amount": 6, "unit": "months"}},
                {
                    "type": "group",
                    "op": "or",
                    "rules": [
                        {"type": "user_property", "property": "City", "operator": "equals", "value": "Pune"},
                        {
                            "type": "did",
                            "event": "Product Viewed",
                            "window": {"type": "last", "amount": 5, "unit": "hours"},
                        },
                    ],
                },
            ],
        },
    }


TREE_NAMES = [
    "did",
    "did_count_at_most",
    "did_not",
    "did_any",
    "user_property",
    "interest",
    "segments_and_lists",
    "constant_property",
    "nested_group",
]


@pytest.mark.parametrize("name", TREE_NAMES)
def test_each_rule_type_round_trips_through_the_controls(marketer_client, catalogue, name):
    tree = validate_rules(_trees()[name])
    content = render_builder(marketer_client, tree)
    assert "<html" not in content and 'id="rule-builder"' in content
    posted = controls_of(content)
    assert validate_rules(builder.tree_from_controls(posted.data)) == tree
    # the hidden input the embedding form posts holds the same tree
    assert validate_rules(json.loads(posted.rules)) == tree
    # and posting the controls back re-renders the very same controls
    again = marketer_client.post(
        "/audience/rules/builder/", as_post(posted.data), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert validate_rules(builder.tree_from_controls(controls_of(again).data)) == tree


def test_posting_controls_yields_the_json_tree(marketer_client, catalogue):
    data = QueryDict(mutable=True)
    data.update(
        {
            "rb.op": "or",
            "rb.rules.0.type": "did",
            "rb.rules.0.event": "Charged",
            "rb.rules.0.window.type": "last",
            "rb.rules.0.window.amount": "7",
            "rb.rules.0.window.unit": "days",
            "rb.rules.0.filters.0.property": "Amount",
            "rb.rules.0.filters.0.value_type": "number",
            "rb.rules.0.filters.0.operator": "greater_than",
            "rb.rules.0.filters.0.value": "500",
            "rb.rules.0.aggregate.function": "count",
            "rb.rules.0.aggregate.operator": "at_least",
            "rb.rules.0.aggregate.value": "3",
            "rb.rules.1.type": "did_any",
            "rb.rules.1.window.type": "ever",
            "rb.rules.2.type": "constant_property",
            "rb.rules.2.property": "Product ID",
            "rb.rules.2.did.event": "Product Viewed",
            "rb.rules.2.did.window.type": "ever",
            "rb.rules.2.second": "did_not",
            "rb.rules.2.side2.event": "Charged",
            "rb.rules.2.side2.window.type": "ever",
        }
    )
    data.setlist("rb.rules.1.events[]", ["Charged", "Added To Cart"])
    assert validate_rules(builder.tree_from_controls(data)) == {
        "op": "or",
        "rules": [
            {
                "type": "did",
                "event": "Charged",
                "window": {"type": "last", "amount": 7, "unit": "days"},
                "filters": [{"property": "Amount", "operator": "greater_than", "value_type": "number", "value": 500}],
                "aggregate": {"function": "count", "include_zero": False, "operator": "at_least", "value": 3},
            },
            {"type": "did_any", "events": ["Added To Cart", "Charged"], "window": {"type": "ever"}},
            {
                "type": "constant_property",
                "property": "Product ID",
                "did": {"event": "Product Viewed", "window": {"type": "ever"}, "filters": []},
                "did_not": {"event": "Charged", "window": {"type": "ever"}, "filters": []},
            },
        ],
    }


def _options(content: str, select_id: str) -> list[str]:
    start = content.index(f'id="{select_id}"')
    end = content.index("</select>", start)
    chunk = content[start:end]
    return [html.unescape(part.split('"', 1)[0]) for part in chunk.split('<option value="')[1:]]


def test_add_and_remove_rows_return_the_partial(marketer_client, catalogue):
    tree = {"op": "and", "rules": [{"type": "did", "event": "Charged"}]}
    data = controls_of(render_builder(marketer_client, tree)).data
    data["rb_action"] = "add"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in content
    assert 'name="rb.rules.1.type"' in content
    assert _options(content, "id_rb-rules-1-event") == ["", "Added To Cart", "Charged", "Product Viewed"]
    assert "Rule 2: choose an event." not in content  # a fresh row is not scolded

    data = controls_of(content).data
    data["rb_action"] = "add_group"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="rb.rules.2.op"' in content and 'name="rb.rules.2.rules.0.type"' in content

    data = controls_of(content).data
    data["rb_action"] = "add_in:rb.rules.2"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="rb.rules.2.rules.1.type"' in content

    data = controls_of(content).data
    data["rb_action"] = "remove:rb.rules.0"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="rb.rules.2.type"' not in content and 'name="rb.rules.1.rules.1.type"' in content
    assert _options(content, "id_rb-rules-0-type")[0] == "did"

    data = controls_of(content).data
    data["rb_action"] = "add_filter:rb.rules.0"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="rb.rules.0.filters.0.property"' in content
    data = controls_of(content).data
    data["rb_action"] = "remove:rb.rules.0.filters.0"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="rb.rules.0.filters.0.property"' not in content


def test_changing_the_event_offers_that_events_properties(marketer_client, catalogue):
    tree = {
        "op": "and",
        "rules": [
            {"type": "did", "event": "Charged", "filters": [{"property": "Amount", "operator": "equals", "value": 5}]}
        ],
    }
    content = render_builder(marketer_client, tree)
    assert _options(content, "id_rb-rules-0-filters-0-property") == ["", "Amount", "Paid On", "Product ID"]
    data = controls_of(content).data
    data["rb.rules.0.event"] = "Product Viewed"
    data["rb_changed"] = "rb.rules.0.event"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in content
    assert _options(content, "id_rb-rules-0-filters-0-property") == ["", "Category", "Product ID"]
    # the old property does not belong to the new event, so it is cleared and its row says so
    assert "Rule 1 filter 1: choose a property." in content


def test_changing_a_property_sets_its_type_and_operators(marketer_client, catalogue):
    tree = {
        "op": "and",
        "rules": [{"type": "user_property", "property": "City", "operator": "contains", "value": "Pu"}],
    }
    content = render_builder(marketer_client, tree)
    assert _options(content, "id_rb-rules-0-operator") == ["equals", "not_equals", "contains", "exists", "not_exists"]
    data = controls_of(content).data
    data["rb.rules.0.property"] = "Age"
    data["rb_changed"] = "rb.rules.0.property"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert _options(content, "id_rb-rules-0-operator") == [
        "equals",
        "not_equals",
        "greater_than",
        "less_than",
        "between",
        "exists",
        "not_exists",
    ]
    assert 'type="number" step="any" name="rb.rules.0.value"' in content


def test_changing_the_rule_type_shows_that_types_controls(marketer_client, catalogue):
    data = controls_of(
        render_builder(marketer_client, {"op": "and", "rules": [{"type": "did", "event": "Charged"}]})
    ).data
    data["rb.rules.0.type"] = "in_custom_list"
    data["rb_changed"] = "rb.rules.0.type"
    content = marketer_client.post("/audience/rules/builder/", as_post(data), HTTP_HX_REQUEST="true").content.decode()
    assert 'name="rb.rules.0.custom_list_id"' in content and 'name="rb.rules.0.event"' not in content
    assert "Rule 1: choose an existing custom list." in content


def test_a_bad_row_shows_its_error_next_to_it(marketer_client, catalogue):
    tree = {
        "op": "and",
        "rules": [
            {"type": "did", "event": "Charged"},
            {"type": "did", "event": "Charged", "window": {"type": "last", "amount": 0, "unit": "days"}},
        ],
    }
    content = render_builder(marketer_client, tree)
    message = "Rule 2: the time window needs a whole number between 1 and 3650."
    assert message in content
    row2 = content[content.index('id="rb-rules-1"') :]
    row2 = row2[: row2.index("</li>")]
    assert message in row2
    row1 = content[content.index('id="rb-rules-0"') :]
    assert message not in row1[: row1.index("</li>")]


def test_bad_json_opens_the_json_editor_with_a_message(marketer_client, catalogue):
    content = marketer_client.post(
        "/audience/rules/builder/", {"rb_action": "json", "rb_json": "{oops", "rules": ""}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "The rules are not valid JSON." in content and '<details class="rb-json" open>' in content
    content = marketer_client.post(
        "/audience/rules/builder/",
        {"rb_action": "json", "rb_json": '{"op": "or", "rules": [{"type": "did", "event": "Charged"}]}'},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert 'name="rb.rules.0.event"' in content
    assert controls_of(content).data["rb.op"] == "or"


def test_segment_page_draws_the_builder_with_an_empty_first_row(marketer_client, catalogue):
    content = marketer_client.get("/audience/segments/new/").content.decode()
    assert 'name="rb.rules.0.type"' in content and 'name="rules"' in content
    assert "Time windows in (GMT" in content
    assert "segments/rule_builder.js" in content


def test_a_segment_saved_through_the_controls_matches_the_expected_profiles(marketer_client, catalogue):
    big = ProfileFactory(identity="big", properties={"City": "Pune"})
    EventFactory(profile=big, name="Charged", properties={"Amount": 900})
    small = ProfileFactory(identity="small", properties={"City": "Pune"})
    EventFactory(profile=small, name="Charged", properties={"Amount": 50})
    elsewhere = ProfileFactory(identity="elsewhere", properties={"City": "Goa"})
    EventFactory(profile=elsewhere, name="Charged", properties={"Amount": 900})
    ProfileFactory(identity="idle", properties={"City": "Pune"})

    content = marketer_client.get("/audience/segments/new/").content.decode()
    data = controls_of(content).data
    data.update(
        {
            "name": "Big spenders in Pune",
            "rb.rules.0.event": "Charged",
            "rb.rules.0.window.type": "last",
            "rb.rules.0.window.amount": "30",
            "rb.rules.0.window.unit": "days",
            "rb.rules.0.filters.0.property": "Amount",
            "rb.rules.0.filters.0.value_type": "number",
            "rb.rules.0.filters.0.operator": "greater_than",
            "rb.rules.0.filters.0.value": "500",
            "rb.rules.1.type": "user_property",
            "rb.rules.1.property": "City",
            "rb.rules.1.value_type": "string",
            "rb.rules.1.operator": "equals",
            "rb.rules.1.value": "Pune",
        }
    )
    data["rules"] = ""  # the server reads the controls, not a stale hidden input
    response = marketer_client.post("/audience/segments/new/", as_post(data))
    assert response.status_code == 302
    segment = Segment.objects.get(name="Big spenders in Pune")
    from segments.models import Profile
    from segments.selectors import segment_profile_ids

    ids = segment_profile_ids(rules=segment.rules)
    assert list(Profile.objects.filter(id__in=ids).values_list("identity", flat=True)) == ["big"]
    assert segment.audience_size == 1


def test_a_bad_row_on_the_segment_page_is_refused_and_shown_by_the_row(marketer_client, catalogue):
    content = marketer_client.get("/audience/segments/new/").content.decode()
    data = controls_of(content).data
    data.update({"name": "Nobody", "rb.rules.0.event": ""})
    response = marketer_client.post("/audience/segments/new/", as_post(data))
    assert response.status_code == 422
    body = response.content.decode()
    row = body[body.index('id="rb-rules-0"') :]
    assert "Rule 1: choose an event." in row[: row.index("</li>")]
    assert not Segment.objects.exists()


def test_editing_a_segment_shows_its_rules_as_controls(marketer_client, catalogue):
    rules = validate_rules(_trees()["nested_group"])
    segment = Segment.objects.get(name="Buyers")
    segment.rules = rules
    segment.save()
    content = marketer_client.get(f"/audience/segments/{segment.pk}/").content.decode()
    assert validate_rules(builder.tree_from_controls(controls_of(content).data)) == rules


def test_deeper_nesting_falls_back_to_the_json_editor(marketer_client, catalogue):
    deep = {
        "op": "and",
        "rules": [
            {
                "type": "group",
                "op": "or",
                "rules": [{"type": "group", "op": "and", "rules": [{"type": "did", "event": "Charged"}]}],
            }
        ],
    }
    content = render_builder(marketer_client, deep)
    assert 'name="rb.op"' not in content and "edit them as JSON below" in content
    assert json.loads(controls_of(content).rules) == deep


def test_live_estimate_puts_each_rows_messages_next_to_it(marketer_client, catalogue):
    from segments.views import MSG_ROWS_NEED_ATTENTION

    tree = {
        "op": "and",
        "rules": [
            {"type": "did", "event": "Charged"},
            {"type": "user_property", "property": "City", "operator": "equals", "value": ""},
        ],
    }
    response = marketer_client.post(
        "/audience/rules/estimate/", {"rules": json.dumps(tree), "rb_live": "1"}, HTTP_HX_REQUEST="true"
    )
    content = response.content.decode()
    assert (
        '<ul class="errorlist rb-row-errors" id="rb-rules-1-errors" hx-swap-oob="true">'
        "<li>Rule 2: City: enter a value.</li></ul>" in content
    )
    assert '<ul class="errorlist rb-row-errors" id="rb-rules-0-errors" hx-swap-oob="true"></ul>' in content
    assert MSG_ROWS_NEED_ATTENTION in content
    tree["rules"][1]["value"] = "Pune"
    content = marketer_client.post(
        "/audience/rules/estimate/", {"rules": json.dumps(tree), "rb_live": "1"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<ul class="errorlist rb-row-errors" id="rb-rules-1-errors" hx-swap-oob="true"></ul>' in content
    assert "≈ 0" in content


def test_rendering_many_rows_reads_the_catalogue_a_bounded_number_of_times(
    marketer_client, catalogue, django_assert_max_num_queries
):
    rule = {"type": "did", "event": "Charged", "filters": [{"property": "Amount", "operator": "equals", "value": 1}]}
    tree = {"op": "and", "rules": [rule] * 12 + [{"type": "group", "op": "or", "rules": [rule] * 5}]}
    with django_assert_max_num_queries(25):
        content = render_builder(marketer_client, tree)
    assert 'name="rb.rules.12.rules.4.filters.0.property"' in content


def test_a_new_blank_rule_is_not_an_error_while_building_only_when_saving(marketer_client, catalogue):
    """Issue #16: "Rule 1: choose an event." showed the moment the builder appeared."""
    from segments.views import MSG_CHOOSE_TO_ESTIMATE

    blank = {"op": "and", "rules": [{"type": "did", "event": "", "window": {"type": "ever"}, "filters": []}]}
    content = marketer_client.post(
        "/audience/rules/estimate/", {"rules": json.dumps(blank), "rb_live": "1"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "choose an event" not in content
    assert MSG_CHOOSE_TO_ESTIMATE in content
    # A real mistake in another row is still said at once, by that row.
    blank["rules"].append({"type": "user_property", "property": "City", "operator": "equals", "value": ""})
    content = marketer_client.post(
        "/audience/rules/estimate/", {"rules": json.dumps(blank), "rb_live": "1"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Rule 2: City: enter a value." in content and "Rule 1: choose an event." not in content
    # Saving is when a blank row is an error.
    page = marketer_client.get("/audience/segments/new/").content.decode()
    data = controls_of(page).data
    data.update({"name": "Nobody"})
    saved = marketer_client.post("/audience/segments/new/", as_post(data)).content.decode()
    assert "Rule 1: choose an event." in saved
