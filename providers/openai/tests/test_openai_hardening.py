"""Bad input never reaches OpenAI: the real ``openai`` client talks to a scripted server on 127.0.0.1, and the
server's record of requests proves that nothing was sent."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import imagegen
import imagegen.testing


@pytest.mark.parametrize(("model", "limit"), [("dall-e-2", 1000), ("dall-e-3", 4000), ("gpt-image-1", 32000),
                                              ("gpt-image-2", 32000)])
def test_a_prompt_over_the_models_limit_is_refused_before_anything_is_sent(model, limit, make, api):
    client = imagegen.Client(make(model), retry=False)
    with pytest.raises(imagegen.InvalidRequest, match=f"at most {limit} characters") as info:
        client.generate("a" * (limit + 1))
    assert info.value.field == "prompt" and api.count == 0
    client.generate("a" * limit)
    assert api.count == 1 and len(api.requests[0].json["prompt"]) == limit


def _corrupt_pngs(kit) -> dict[str, bytes]:
    good = kit.png(256, 256)
    at = good.index(b"IDAT") + 20
    return {"truncated": good[: len(good) // 2], "bad checksum": good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:],
            "header only": good[:33]}


@pytest.mark.parametrize("name", ["truncated", "bad checksum", "header only"])
@pytest.mark.parametrize(("model", "kwargs"), [("gpt-image-1", {}), ("gpt-image-1", {"mask": "good"}),
                                               ("dall-e-2", {"operation": "variation"})])
def test_a_corrupt_input_image_is_never_uploaded(name, model, kwargs, make, api, kit):
    image = _corrupt_pngs(kit)[name]
    if kwargs.get("mask") == "good":
        kwargs = {"mask": kit.png(256, 256)}
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.Client(make(model), retry=False).generate("a fox", image=image, **kwargs)
    assert info.value.field == "image" and api.count == 0


@pytest.mark.parametrize("name", ["truncated", "bad checksum", "header only"])
def test_a_corrupt_mask_is_never_uploaded(name, make, api, kit):
    with pytest.raises(imagegen.InvalidRequest) as info:
        imagegen.Client(make("gpt-image-1"), retry=False).generate("a fox", image=kit.png(256, 256),
                                                                    mask=_corrupt_pngs(kit)[name])
    assert info.value.field == "mask" and api.count == 0


# -- the budget cannot be bypassed -----------------------------------------------------------------------

def test_calls_whose_cost_cannot_be_bounded_are_refused_under_a_budget_even_all_at_once(make, api):
    client = imagegen.Client(make("gpt-image-2"), budget_usd=0.50, retry=False)  # 1280x720: no table price

    async def fifty():
        return await asyncio.gather(*(client.agenerate("a fox", size="1280x720") for _ in range(50)),
                                    return_exceptions=True)

    outcomes = asyncio.run(fifty())
    assert all(isinstance(o, imagegen.BudgetExceeded) for o in outcomes) and api.count == 0
    assert "unknown_cost='allow'" in str(outcomes[0]) and "1280x720" in str(outcomes[0])


def test_a_gpt_image_edit_is_refused_under_a_budget_unless_allowed(make, api, kit):
    image = kit.png(1024, 1024)
    with pytest.raises(imagegen.BudgetExceeded, match="input image tokens"):
        imagegen.Client(make("gpt-image-1"), budget_usd=0.50, retry=False).generate("a hat", image=image)
    assert api.count == 0
    api.script("/images/edits", kit.json_response(kit.images_body(1, usage=kit.usage(image_in=20_000))))
    client = imagegen.Client(make("gpt-image-1"), budget_usd=0.50, retry=False, unknown_cost="allow")
    result = client.generate("a hat", image=image)
    assert api.count == 1 and client.budget.spent == pytest.approx(result.cost.usd)
    assert any("no cost estimate" in w for w in result.warnings)


def test_a_call_that_costs_more_than_its_reservation_says_so_with_both_amounts(make, api, kit):
    api.script("/images/generations", kit.json_response(kit.images_body(1, usage=kit.usage(image_out=20_000))))
    client = imagegen.Client(make("gpt-image-1"), budget_usd=5.0, retry=False)
    reserved = make("gpt-image-1").estimate_cost(kit.request(quality="low", prompt="a fox")).usd
    result = client.generate("a fox", quality="low")
    assert result.cost.usd == pytest.approx(50 * 5 / 1e6 + 20_000 * 40 / 1e6)
    [warning] = [w for w in result.warnings if "more than" in w]
    assert warning.kind == "cost" and f"${result.cost.usd:.4f}" in warning and f"${reserved:.4f}" in warning
    assert client.budget.spent == pytest.approx(result.cost.usd)


def test_an_answer_that_cannot_be_used_is_counted_at_its_estimate_and_says_so(make, api, tmp_path):
    api.script("/images/generations", imagegen.testing.Reply.json({"created": 1, "data": [{"b64_json": "!!"}]}))
    client = imagegen.Client(make("dall-e-3"), budget_usd=1.0, ledger=tmp_path / "l.sqlite",
                             retry=imagegen.RetryPolicy(attempts=2, sleep=imagegen.testing.FakeClock().sleep))
    with pytest.raises(imagegen.TransientError) as info:
        client.generate("a fox")
    rows = client.ledger.entries()
    assert [(r.status, r.cost_usd, r.cost_source) for r in rows] == [("error", 0.04, "estimate")] * 2
    assert all("most likely billed" in (r.message or "") for r in rows)
    assert client.budget.spent == pytest.approx(0.08) and api.count == 2
    assert [a.cost_usd for a in info.value.attempts] == [0.04, 0.04]


# -- a property: whatever the input, nothing invalid reaches the server ------------------------------------

_GOOD = None


def _valid_png() -> bytes:
    global _GOOD
    if _GOOD is None:
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (256, 256), (10, 20, 30)).save(buf, format="PNG")
        _GOOD = buf.getvalue()
    return _GOOD


def _inputs() -> st.SearchStrategy[dict]:
    good = st.just("GOOD")
    sendable = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), min_size=1,
                       max_size=40).filter(str.strip)
    return st.fixed_dictionaries({
        "model": st.sampled_from(["dall-e-2", "dall-e-3", "gpt-image-1", "gpt-image-2"]),
        "prompt": st.one_of(sendable, sendable, st.sampled_from(["", " ", "a\x00b", "a\ud800b", b"bytes"]),
                            st.integers(999, 1001).map(lambda k: "a" * k),
                            st.integers(3999, 4001).map(lambda k: "b" * k)),
    }, optional={
        "size": st.one_of(st.sampled_from(["1024x1024", "1792x1024", "256x256", "1536x1024", "16:9", "1:1", "3:1",
                                           "1280x720", "0x0", "1" * 400 + ":1", "١٠٢٤x١٠٢٤", "big"]),
                          st.tuples(st.integers(-1, 2000), st.integers(-1, 2000))),
        "n": st.one_of(st.integers(1, 3), st.sampled_from([0, 11, "2", True, 2.5])),
        "quality": st.sampled_from(["standard", "hd", "low", "medium", "high", "auto", "ultra", ""]),
        "style": st.sampled_from(["vivid", "natural", "painterly"]),
        "image": st.one_of(good, st.sampled_from([b"\x89PNG\r\n\x1a\n", b"junk", "CUT"])),
        "unsupported": st.sampled_from(["warn", "error"]),
        "size_policy": st.sampled_from(["nearest", "strict"]),
    })


def _sent_is_valid(seen, model: str, caps) -> None:
    fields = seen.fields
    assert fields["model"] == model
    w, h = (int(v) for v in str(fields["size"]).split("x"))
    assert caps.allows(w, h), (w, h)
    assert 1 <= int(fields.get("n", 1)) <= caps.max_images_per_call
    if "prompt" in fields:
        assert fields["prompt"].strip() and "\x00" not in fields["prompt"]
        assert len(fields["prompt"]) <= caps.max_prompt_chars
    if "quality" in fields:
        assert caps.qualities is not None and fields["quality"] in caps.qualities
    for upload in seen.files.values():
        import io

        from PIL import Image

        with Image.open(io.BytesIO(upload.data)) as im:
            im.load()  # every uploaded file is a whole image


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(case=_inputs())
def test_whatever_the_input_the_server_only_ever_sees_valid_requests(make, api, case):
    case = dict(case)
    model, prompt = case.pop("model"), case.pop("prompt")
    if "image" in case:
        case["image"] = {"GOOD": _valid_png(), "CUT": _valid_png()[:60]}.get(case["image"], case["image"])
    provider = make(model)
    before = api.count
    try:
        imagegen.Client(provider, retry=False).generate(prompt, **case)
    except (imagegen.InvalidRequest, imagegen.UnsupportedFeature) as exc:
        event(f"refused: {type(exc).__name__}")
        assert api.count == before, "a refused request reached the server"
        assert exc.field, str(exc)
        return
    event("sent")
    assert api.count > before
    for seen in api.requests[before:]:
        _sent_is_valid(seen, model, provider.capabilities())

