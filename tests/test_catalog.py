"""``imagegen.catalog.compare``: each kind of difference between imagegen's data and a vendor's list."""

from __future__ import annotations

import datetime as dt

import pytest

import imagegen
from imagegen.catalog import LiveModel, ModelInfo, compare

KNOWN = [
    ModelInfo("acme", "a-1", "active"),
    ModelInfo("acme", "a-2", "retired", shutdown=dt.date(2026, 1, 1)),
    ModelInfo("acme", "a-3", "deprecated", shutdown=dt.date(2027, 1, 1)),
    ModelInfo("acme", "a-4", "active"),
]


def kinds(live: list[LiveModel]) -> set[tuple[str, str]]:
    return {(d.model, d.kind) for d in compare(KNOWN, live, provider="acme")}


def test_a_model_in_service_that_the_vendor_no_longer_lists_is_not_listed():
    assert ("a-4", "not-listed") in kinds([LiveModel("a-1"), LiveModel("a-3", dt.date(2027, 1, 1))])


def test_a_retired_model_the_vendor_does_not_list_is_no_difference():
    assert not [k for k in kinds([LiveModel("a-1")]) if k[0] == "a-2"]


def test_a_retired_model_the_vendor_still_lists_without_a_past_date_is_still_listed():
    assert ("a-2", "still-listed") in kinds([LiveModel("a-2")])
    assert ("a-2", "still-listed") not in kinds([LiveModel("a-2", dt.date(2026, 1, 1))])


def test_an_unknown_id_is_new_and_dates_are_compared():
    found = kinds([LiveModel("a-1", dt.date(2027, 6, 1)), LiveModel("a-3", dt.date(2027, 2, 1)), LiveModel("a-9")])
    assert {("a-1", "shutdown-added"), ("a-3", "shutdown-changed"), ("a-9", "new")} <= found


def test_each_difference_says_what_it_is_in_words():
    (diff,) = [d for d in compare(KNOWN, [LiveModel("a-3", dt.date(2027, 2, 1)), LiveModel("a-1"),
                                          LiveModel("a-4")], provider="acme")]
    assert diff.message == "acme:a-3: the vendor reports shutdown 2027-02-01; imagegen's data: 2027-01-01"
    assert diff.to_dict()["message"] == diff.message


def test_models_of_a_provider_that_is_not_installed_is_invalid_naming_the_installed_ones():
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.models("nosuch")
    assert info.value.field == "provider" and "installed:" in str(info.value)
