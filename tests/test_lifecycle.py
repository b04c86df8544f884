"""The lifecycle rule (``imagegen.lifecycle``): retired on the vendor's endpoint is refused, deprecated warns
with the days left, other endpoints are left alone."""

from __future__ import annotations

import datetime as dt

import pytest

from imagegen import InvalidRequest, ProviderUnavailable
from imagegen.lifecycle import Lifecycle, check_lifecycle, in_service, parse_date

DAY = dt.date(2026, 12, 2)
SOON = Lifecycle("deprecated", dt.date(2026, 12, 3), "model-b")
GONE = Lifecycle("retired", dt.date(2026, 5, 12), "model-b")


def test_a_passed_shutdown_date_makes_a_deprecated_model_retired():
    assert SOON.status_on(dt.date(2026, 12, 2)) == "deprecated"
    assert SOON.status_on(dt.date(2026, 12, 3)) == "retired"
    assert Lifecycle().status_on(DAY) == "active"


def test_an_announced_shutdown_makes_an_active_row_deprecated_until_its_day():
    assert Lifecycle("active", dt.date(2027, 1, 1)).status_on(DAY) == "deprecated"


def test_deprecated_warns_with_date_days_left_and_replacement():
    note = check_lifecycle("acme", "model-a", SOON, vendor="Acme", vendor_endpoint=True, day=DAY)
    assert note == "model: acme:model-a is deprecated: Acme shuts it down on 2026-12-03 (1 day left); use acme:model-b"
    assert (note.kind, note.field) == ("lifecycle", "model")


def test_retired_on_the_vendors_endpoint_raises_provider_unavailable_naming_date_and_replacement():
    with pytest.raises(ProviderUnavailable) as info:
        check_lifecycle("acme", "model-a", GONE, vendor="Acme", vendor_endpoint=True, day=DAY)
    assert str(info.value).startswith(
        "[acme:model-a] acme:model-a was shut down by Acme on 2026-05-12; use acme:model-b")


def test_a_provider_can_name_a_newer_replacement_than_the_row():
    with pytest.raises(ProviderUnavailable, match="use acme:model-c"):
        check_lifecycle("acme", "model-a", GONE, vendor="Acme", vendor_endpoint=True, replacement="model-c", day=DAY)


def test_allow_retired_turns_the_refusal_into_a_lifecycle_warning():
    note = check_lifecycle("acme", "model-a", GONE, vendor="Acme", vendor_endpoint=True, allow_retired=True, day=DAY)
    assert note is not None and note.kind == "lifecycle" and "allow_retired=True" in note


@pytest.mark.parametrize("lifecycle", [SOON, GONE])
def test_other_endpoints_are_left_alone(lifecycle):
    assert check_lifecycle("acme", "model-a", lifecycle, vendor="Acme", vendor_endpoint=False, day=DAY) is None


def test_a_deprecated_row_needs_its_shutdown_date():
    with pytest.raises(ValueError, match="shutdown date"):
        Lifecycle("deprecated")


def test_parse_date_names_the_field_of_a_bad_date():
    assert parse_date("2026-05-12") == dt.date(2026, 5, 12)
    with pytest.raises(InvalidRequest) as info:
        parse_date("12/05/2026", field="shutdown_date")
    assert info.value.field == "shutdown_date"


def test_a_refusal_points_past_a_replacement_that_is_itself_shut_down():
    chain = {"old": GONE, "model-b": Lifecycle("retired", dt.date(2026, 6, 1), "model-c"), "model-c": Lifecycle()}
    assert in_service("model-b", chain, "best", DAY) == "model-c"
    assert in_service("model-c", chain, "best", DAY) == "model-c"
    assert in_service("unknown", chain, "best", DAY) == "unknown"


def test_a_replacement_loop_ends_at_the_recommendation():
    loop = {"a": Lifecycle("retired", dt.date(2026, 1, 1), "b"), "b": Lifecycle("retired", dt.date(2026, 1, 1), "a")}
    assert in_service("a", loop, "best", DAY) == "best"
