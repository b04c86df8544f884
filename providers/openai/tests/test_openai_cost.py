"""Costs: the dated price table (DALL·E), token usage (GPT Image), labelled table estimates when usage is
missing, unknown prices as None with a warning, estimates for budgets, and user overrides."""

from __future__ import annotations

import asyncio
import json

import pytest
from imagegen_openai import builtin_prices, load_prices
from imagegen_openai.pricing import PROMPT_TOKEN_MARGIN

import imagegen
import imagegen.provider
from imagegen import BudgetExceeded, InvalidRequest


def run(provider, req):
    return asyncio.run(provider.generate(req))


@pytest.mark.parametrize(("size", "quality", "unit"), [
    ((1024, 1024), None, 0.04), ((1792, 1024), None, 0.08), ((1024, 1792), "standard", 0.08),
    ((1024, 1024), "hd", 0.08), ((1792, 1024), "hd", 0.12)])
def test_dall_e_3_costs_the_table_price_per_image(size, quality, unit, make, api, kit):
    result = run(make("dall-e-3"), kit.request(*size, quality=quality))
    assert result.cost.usd == pytest.approx(unit) and result.cost.source == "price-table"


@pytest.mark.parametrize(("side", "unit"), [(256, 0.016), (512, 0.018), (1024, 0.020)])
def test_dall_e_2_costs_the_table_price_times_the_images_returned(side, unit, make, api, kit):
    result = run(make("dall-e-2"), kit.request(side, side, n=3))
    assert result.cost.usd == pytest.approx(3 * unit)


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # images.create_variation
def test_dall_e_2_edits_and_variations_cost_the_same_per_image(make, api, kit):
    from imagegen.provider import ImageData

    result = run(make("dall-e-2"), kit.request(512, 512, n=2, operation="variation",
                                               image=ImageData.from_bytes(kit.png(64, 64))))
    assert result.cost.usd == pytest.approx(2 * 0.018)


def test_gpt_image_cost_comes_from_the_reported_token_usage(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(2, usage=kit.usage(
        text_in=120, image_in=0, image_out=8320))))
    result = run(make("gpt-image-1"), kit.request(n=2, quality="high"))
    expected = 120 * 5.00 / 1e6 + 8320 * 40.00 / 1e6
    assert result.cost.source == "usage" and result.cost.usd == pytest.approx(expected)
    assert [item.quantity for item in result.cost.items] == [120, 8320]
    assert not [w for w in result.warnings if w.startswith("cost:")]


def test_image_input_tokens_of_an_edit_are_priced_at_the_image_input_rate(make, api, kit):
    from imagegen.provider import ImageData

    api.script("/images/edits", kit.json_response(kit.images_body(1, usage=kit.usage(
        text_in=40, image_in=323, image_out=1056))))
    result = run(make("gpt-image-1-mini"), kit.request(operation="img2img", image=ImageData.from_bytes(kit.png(8, 8))))
    assert result.cost.usd == pytest.approx((40 * 2.00 + 323 * 2.50 + 1056 * 8.00) / 1e6)


def test_gpt_image_1_5_prices_text_output_tokens_at_its_text_output_rate(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(1, usage=kit.usage(
        text_in=10, image_out=272, text_out=30))))
    result = run(make("gpt-image-1.5"), kit.request(quality="low"))
    assert result.cost.usd == pytest.approx((10 * 5.00 + 272 * 32.00 + 30 * 10.00) / 1e6)


def test_the_usage_cost_of_a_split_request_is_the_sum_of_its_calls(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(10, usage=kit.usage(text_in=10,
                                                                                             image_out=1000))),
               kit.json_response(kit.images_body(2, usage=kit.usage(text_in=10, image_out=200))))
    result = imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox", n=12)
    assert sorted(c.json["n"] for c in api.requests) == [2, 10]
    assert result.cost.usd == pytest.approx((20 * 5.00 + 1200 * 40.00) / 1e6) and result.cost.source == "usage"


def test_result_usage_is_the_token_usage_the_calls_reported_summed(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(10, usage=kit.usage(text_in=10,
                                                                                             image_out=1000))),
               kit.json_response(kit.images_body(2, usage=kit.usage(text_in=10, image_out=200))))
    result = imagegen.Client(make("gpt-image-2"), retry=False).generate("a fox", n=12)
    assert result.usage["calls"] == 2 and result.usage["model"] == "gpt-image-2"
    assert result.usage["tokens"] == {"text_input": 20, "image_input": 0, "image_output": 1200, "text_output": 0}
    assert sum(item.quantity for item in result.cost.items) == 20 + 1200  # the cost lines add up to the usage
    assert result.to_dict()["usage"] == result.usage


def test_a_token_kind_without_a_price_makes_the_cost_unknown_with_a_warning(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(1, usage=kit.usage(image_out=100,
                                                                                            text_out=5))))
    result = run(make("gpt-image-2"), kit.request())
    assert result.cost is not None and result.cost.usd is None
    assert any(w.startswith("cost: no token prices known for openai:gpt-image-2") for w in result.warnings)


def test_without_usage_a_gpt_image_cost_is_a_labelled_table_estimate(make, api, kit):
    result = run(make("gpt-image-1"), kit.request(1536, 1024, n=2, quality="medium"))
    assert result.cost.source == "estimate" and result.cost.usd == pytest.approx(2 * 0.063)
    assert "estimate from the per-image table" in result.cost.items[0].description
    assert any(w.startswith("cost: openai:gpt-image-1 reported no token usage") for w in result.warnings)


def test_without_usage_quality_auto_is_priced_at_the_quality_the_api_reports(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(1, quality="low")))
    result = run(make("gpt-image-1"), kit.request())
    assert result.cost.usd == pytest.approx(0.011)


def test_the_quality_the_api_reports_is_recorded_as_the_one_used(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(1, quality="low")))
    result = imagegen.generate("a fox", provider=make("gpt-image-1"), quality="auto")
    assert result.images[0].settings.quality == "low"


def test_without_usage_or_a_reported_quality_auto_is_priced_at_the_dearest(make, api, kit):
    result = run(make("gpt-image-1"), kit.request(1024, 1536, quality="auto"))
    assert result.cost.usd == pytest.approx(0.25) and "dearest" in result.cost.items[0].description


def test_an_unknown_model_has_an_unknown_cost_and_a_warning(make, api, kit):
    result = imagegen.Client(make("my-deployment"), retry=False).generate("a fox")
    assert result.cost.usd is None
    assert any(w.startswith("cost: no price known for openai:my-deployment") for w in result.warnings)


def test_gpt_image_2_at_a_size_outside_the_table_without_usage_has_an_unknown_cost(make, api, kit):
    result = run(make("gpt-image-2"), kit.request(2048, 1152, quality="high"))
    assert result.cost.usd is None and any(w.startswith("cost: no price known") for w in result.warnings)


@pytest.mark.parametrize(("model", "size", "quality", "n", "usd"), [
    ("dall-e-3", (1792, 1024), "hd", 1, 0.12), ("dall-e-2", (256, 256), None, 4, 4 * 0.016)])
def test_estimate_cost_of_a_dall_e_request_is_its_table_price(model, size, quality, n, usd, make, kit):
    estimate = make(model).estimate_cost(kit.request(*size, n=n, quality=quality))
    assert estimate.usd == pytest.approx(usd)


# (model, size, quality, n, output per image from the table, text input USD per 1M tokens)
GPT_BOUNDS = [("gpt-image-1", (1024, 1024), "low", 2, 0.011, 5.0),
              ("gpt-image-1", (1024, 1024), "auto", 1, 0.167, 5.0),
              ("gpt-image-1.5", (1536, 1024), None, 1, 0.2, 5.0),
              ("gpt-image-1-mini", (1024, 1536), "high", 3, 0.052, 2.0)]


@pytest.mark.parametrize(("model", "size", "quality", "n", "per_image", "text_rate"), GPT_BOUNDS)
def test_estimate_cost_of_a_gpt_image_request_bounds_its_output_and_its_prompt(model, size, quality, n, per_image,
                                                                               text_rate, make, kit):
    prompt = "a red fox in fresh snow, ünïcödé 狐"
    estimate = make(model).estimate_cost(kit.request(*size, n=n, quality=quality, prompt=prompt))
    tokens = (len(prompt.encode("utf-8")) + PROMPT_TOKEN_MARGIN) * n
    assert estimate.usd == pytest.approx(n * per_image + tokens * text_rate / 1e6)
    assert estimate.source == "estimate" and "text input tokens" in estimate.items[-1].description


def test_a_longer_prompt_reserves_more(make, kit):
    short, long = (make("gpt-image-1").estimate_cost(kit.request(prompt=p)).usd for p in ("a fox", "a fox " * 5000))
    assert long is not None and short is not None and long - short == pytest.approx(5 * (6 * 5000 - 5) / 1e6)


def test_a_gpt_image_edit_has_no_bound_and_says_why(make, kit):
    image = imagegen.provider.ImageData.from_bytes(kit.png(1024, 1024))
    estimate = make("gpt-image-1").estimate_cost(kit.request(operation="img2img", image=image))
    assert estimate.usd is None and "input image tokens" in estimate.items[0].description


def test_estimate_cost_of_an_unpriced_request_is_unknown(make, kit):
    assert make("gpt-image-2").estimate_cost(kit.request(2048, 1152)).usd is None


def test_a_budget_refuses_a_call_it_cannot_afford_before_anything_is_sent(make, api, kit):
    client = imagegen.Client(make("dall-e-3"), budget_usd=0.10, retry=False)
    with pytest.raises(BudgetExceeded):
        client.generate("a fox", size="1792x1024", quality="hd")
    assert api.requests == []


def test_the_price_table_names_the_date_it_was_checked_and_its_sources():
    table = builtin_prices()
    assert table.checked.count("-") == 2 and table.checked[:2] == "20"
    assert any(s.startswith("https://developers.openai.com/api/docs/pricing") for s in table.sources)


def test_a_price_override_replaces_only_the_entries_it_names(make, api, kit):
    provider = make("dall-e-3", prices={"dall-e-3": {"per_image": {"hd": {"1792x1024": 0.5}}}})
    assert provider.estimate_cost(kit.request(1792, 1024, quality="hd")).usd == 0.5
    assert provider.estimate_cost(kit.request(1792, 1024)).usd == pytest.approx(0.08)


def test_a_price_override_prices_an_unknown_model(make, api, kit):
    provider = make("my-deployment", prices={"my-deployment": {"per_image": {"standard": {"1024x1024": 0.03}}}})
    result = imagegen.Client(provider, retry=False).generate("a fox", n=2)
    assert result.cost.usd == pytest.approx(0.06) and result.cost.source == "price-table"
    assert not [w for w in result.warnings if w.startswith("cost:")]


def test_like_prices_a_deployment_as_the_model_it_names(make, api, kit):
    provider = make("my-deployment", like="dall-e-3")
    result = imagegen.Client(provider, retry=False).generate("a fox", size="1792x1024", quality="hd")
    assert result.cost.usd == pytest.approx(0.12) and api.requests[0].json["model"] == "my-deployment"


def test_a_price_file_overrides_token_prices(make, api, kit, tmp_path):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"checked": "2030-01-01", "models": {
        "gpt-image-1": {"tokens_per_million": {"image_output": 1.0}}}}))
    api.script("/images/generations", kit.json_response(kit.images_body(1, usage=kit.usage(text_in=0,
                                                                                            image_out=1000))))
    provider = make("gpt-image-1", prices=str(path))
    result = run(provider, kit.request())
    assert result.cost.usd == pytest.approx(1000 * 1.0 / 1e6) and provider.prices.checked == "2030-01-01"


def test_the_price_file_can_come_from_the_environment(make, kit, tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"dall-e-2": {"per_image": {"standard": {"256x256": 0.001}}}}))
    monkeypatch.setenv("IMAGEGEN_OPENAI_PRICES", str(path))
    assert make("dall-e-2").estimate_cost(kit.request(256, 256)).usd == 0.001


@pytest.mark.parametrize("override", [
    {"dall-e-3": {"per_image": {"hd": {"1792x1024": -1}}}},
    {"dall-e-3": {"per_image": {"hd": {"wide": 0.1}}}},
    {"dall-e-3": {"tokens_per_million": {"audio_input": 1.0}}},
    {"dall-e-3": {"per_images": {}}},
    {"dall-e-3": 0.04},
    "/nonexistent/prices.json",
], ids=["negative", "bad-size", "token-kind", "unknown-key", "not-a-mapping", "missing-file"])
def test_a_bad_price_override_is_an_invalid_request_naming_prices(override):
    with pytest.raises(InvalidRequest) as info:
        load_prices(override)
    assert info.value.field == "prices" and "prices" in str(info.value)
