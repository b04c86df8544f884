"""The provider SPI and the rules that have one home: typed warnings and errors, the one secret
scrubber, atomic writes, money, timeouts, prompts, scoring, the spec version."""

from __future__ import annotations

import asyncio
import os
import pickle
import typing

import pytest

import imagegen
from imagegen import provider as spi
from imagegen.checks import check_timeout
from imagegen.files import atomic_write
from imagegen.result import ATTEMPT_STATUSES, COST_SOURCES, WARNING_KINDS, Attempt, Cost, format_usd
from imagegen.scoring import score
from imagegen.scrub import redact, scrub, scrub_error
from imagegen.testing import FakeProvider

CAPS = imagegen.Capabilities(default_size=(64, 64), max_images_per_call=2, supports=frozenset({"seed"}))


def test_the_spi_exports_everything_a_provider_needs():
    needed = {"Provider", "Capabilities", "ProviderRequest", "ProviderResponse", "ProgressEvent", "gather_calls",
              "GeneratedImage", "ImageData", "sniff", "encode_png", "Cost", "CostItem", "GenerationWarning",
              "OPERATIONS", "SPEC_VERSION", "scrub", "scrub_error", "retry_after_seconds", "check_timeout",
              "InvalidRequest", "UnsupportedFeature", "AuthenticationError", "ContentPolicyError", "RateLimited",
              "TransientError", "ProviderUnavailable", "ImageGenError", "LoRA"}
    assert needed <= set(spi.__all__) and all(hasattr(spi, name) for name in spi.__all__)


def test_a_warning_is_its_text_with_a_kind_and_a_field():
    w = imagegen.GenerationWarning("size: 16:9 resolved to 1792x1024", kind="size", field="size")
    assert isinstance(w, str) and w == "size: 16:9 resolved to 1792x1024" and (w.kind, w.field) == ("size", "size")
    assert pickle.loads(pickle.dumps(w)).kind == "size" and str(imagegen.GenerationWarning.of("x").kind) == "other"
    with pytest.raises(ValueError, match="kind"):
        imagegen.GenerationWarning("x", kind="sizes")  # type: ignore[arg-type]


def test_result_warnings_carry_kinds_so_nothing_parses_their_text():
    fake = FakeProvider(capabilities=CAPS, price_per_image=None)
    result = imagegen.Client(fake, retry=False).generate("a fox", size="100x100", steps=3)
    kinds = {w.kind: w for w in result.warnings}
    assert kinds["size"].field == "size" and kinds["unsupported"].field == "steps" and kinds["cost"].startswith("cost:")


def test_the_literal_types_list_what_the_client_writes():
    assert set(typing.get_args(typing.get_type_hints(Attempt)["status"])) == set(ATTEMPT_STATUSES) == {
        "ok", "error", "skipped", "refused", "cancelled"}
    assert {"price-table", "usage", "gpu-seconds", "estimate"} <= set(COST_SOURCES)
    assert "lifecycle" in WARNING_KINDS and "compatibility" in WARNING_KINDS


def test_errors_carry_typed_attributes_and_survive_pickling():
    error = imagegen.RateLimited("slow down", retry_after=7.0, provider="x:y", status=429, code="rate_limit")
    error.request_id = "r1"
    back = pickle.loads(pickle.dumps(error))
    assert (back.retry_after, back.status, back.code, back.request_id, str(back)) == (
        7.0, 429, "rate_limit", "r1", "[x:y] slow down")
    assert not hasattr(error, "details")
    budget = pickle.loads(pickle.dumps(imagegen.BudgetExceeded("no", limit_usd=1.0, spent_usd=0.5)))
    assert (budget.limit_usd, budget.spent_usd) == (1.0, 0.5)


def test_a_failed_request_says_its_attempts_and_request_id():
    fake = FakeProvider(capabilities=CAPS, script=[imagegen.AuthenticationError("no")])
    with pytest.raises(imagegen.AuthenticationError) as info:
        imagegen.Client(fake, retry=False).generate("a fox")
    assert [a.status for a in info.value.attempts] == ["error"] and info.value.request_id


@pytest.mark.parametrize("key", ["sk-proj-abcdefgh12", "AIzaSyA-0123456789abcdefghijklmnopqrstu",
                                 "Bearer ya29.tok-en12"])
def test_one_scrubber_knows_every_key_shape(key):
    assert scrub(f"failed with {key} here") == "failed with [redacted] here"


def test_the_scrubber_leaves_ordinary_words_and_short_placeholders_alone():
    assert scrub("the disk-partitioning task", secrets=["x"]) == "the disk-partitioning task"


def test_scrub_error_cleans_the_error_its_causes_and_sdk_bodies():
    cause = RuntimeError("Authorization: Bearer abcdefgh-123")
    cause.body = {"error": {"message": "key sk-abcdefghijk1"}}  # type: ignore[attr-defined]
    error = imagegen.TransientError("echo my-own-secret-value")
    error.__cause__ = cause
    scrub_error(error, ["my-own-secret-value"])
    assert "my-own" not in str(error) and "abcdefgh" not in str(cause) and "sk-" not in str(cause.body)  # type: ignore[attr-defined]


def test_redact_drops_entries_named_like_secrets():
    assert redact({"api_key": "k", "style": {"bearer": "b", "ok": 1}}) == {"style": {"ok": 1}}


def test_the_metadata_writer_scrubs_key_shaped_text(tmp_path):
    result = imagegen.Client(FakeProvider(capabilities=CAPS), retry=False).generate("sk-abcdefghijklmnop a fox")
    path = result.images[0].save(tmp_path / "a.png")
    with open(path, "rb") as fh:
        assert b"sk-abcdefghijklmnop" not in fh.read()
    assert imagegen.read_metadata(path).prompt == "[redacted] a fox"


def test_atomic_write_replaces_the_file_whole_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "sub" / "report.html"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two" and os.listdir(target.parent) == ["report.html"]
    assert oct(target.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_money_is_formatted_in_one_way():
    assert (format_usd(0.04), format_usd(None)) == ("$0.0400", "unknown")
    assert "cost=$0.0400" in repr(imagegen.GenerationResult([], "p", "m", "x", cost=Cost(usd=0.04)))


@pytest.mark.parametrize("bad", [0, -1, True, "5", float("nan")])
def test_timeouts_are_checked_in_one_way(bad):
    with pytest.raises(imagegen.InvalidRequest, match="timeout: must be seconds > 0 or None"):
        check_timeout(bad)
    with pytest.raises(imagegen.InvalidRequest, match="timeout: must be seconds > 0 or None"):
        imagegen.Client(FakeProvider(), timeout=bad)


def test_min_pixels_is_a_capability():
    caps = imagegen.Capabilities(min_side=16, max_side=256, multiple_of=16, min_pixels=128 * 128)
    assert not caps.allows(64, 64) and caps.allows(128, 128) and "at least 16384 pixels" in caps.describe_sizes()
    with pytest.raises(ValueError, match="min_pixels"):
        imagegen.Capabilities(max_pixels=100 * 100, min_pixels=200 * 200, min_side=8)


def test_a_prompt_brings_its_params_to_generate_as_it_does_to_compare():
    prompt = imagegen.Prompt("a red fox", negative="default", params={"seed": 5})
    fake = FakeProvider(capabilities=imagegen.Capabilities(default_size=(64, 64), supports=frozenset(
        {"seed", "negative_prompt"})))
    result = imagegen.Client(fake, retry=False).generate(prompt)
    assert fake.calls[0].prompt == prompt.text and fake.calls[0].negative_prompt == prompt.negative_prompt
    assert result.seeds == [5]
    cmp = imagegen.Client(fake, retry=False).compare(prompt, providers=[fake], seeds=[5])
    assert fake.calls[-1].negative_prompt == prompt.negative_prompt and cmp.cells[0].ok


def test_a_scorer_is_called_the_same_way_plain_or_async():
    images = imagegen.generate("x", provider=FakeProvider(capabilities=CAPS), n=2).images

    async def async_scorer(imgs, prompt):
        return [1.0] * len(imgs)

    assert asyncio.run(score(lambda imgs, p: [2.0, 3.0], images, "x")) == [2.0, 3.0]
    assert asyncio.run(score(async_scorer, images, "x")) == [1.0, 1.0]
    with pytest.raises(imagegen.InvalidRequest, match="scorer: returned 1 scores for 2 images"):
        asyncio.run(score(lambda imgs, p: [1.0], images, "x"))


def test_a_provider_written_for_a_newer_contract_is_refused_before_any_call():
    class Future(FakeProvider):
        spec_version = spi.SPEC_VERSION + 1

    with pytest.raises(imagegen.ProviderUnavailable, match="newer than this imagegen"):
        imagegen.Client(Future(), retry=False).generate("x")
