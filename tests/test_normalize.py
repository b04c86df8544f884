from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagegen import Capabilities, GenerateParams, UnsupportedFeature
from imagegen.normalize import ASPECT_TOLERANCE, normalize

DALLE3 = Capabilities(sizes=frozenset({(1024, 1024), (1792, 1024), (1024, 1792)}), default_size=(1024, 1024),
                      max_images_per_call=1, supports=frozenset({"quality", "style"}),
                      qualities=frozenset({"standard", "hd"}), styles=frozenset({"vivid", "natural"}))
FREE = Capabilities(multiple_of=16, min_side=256, max_side=2048, max_pixels=2048 * 2048 // 2, max_aspect=3.0,
                    default_size=(1024, 1024), max_images_per_call=4,
                    supports=frozenset({"seed", "steps", "guidance", "negative_prompt"}),
                    operations=frozenset({"txt2img", "img2img"}))


def plan(caps=FREE, **fields):
    return normalize("a fox", GenerateParams(**fields), caps, provider="p:m")


def test_no_size_uses_the_provider_default_without_warning():
    result = plan()
    assert result.size == (1024, 1024) and result.warnings == []


def test_supported_size_is_sent_unchanged():
    result = plan(DALLE3, size="1792x1024")
    assert result.size == result.output_size == (1792, 1024) and result.warnings == []


def test_aspect_ratio_resolves_to_the_closest_fixed_size_with_a_warning():
    result = plan(DALLE3, size="16:9")
    assert result.size == (1792, 1024)
    assert [w for w in result.warnings if w.startswith("size: 16:9 resolved to 1792x1024")]


def test_aspect_ratio_resolves_to_a_free_size_near_the_default_area():
    result = plan(size="16:9")
    w, h = result.size
    assert FREE.allows(w, h)
    assert abs(math.log((w / h) / (16 / 9))) <= ASPECT_TOLERANCE
    assert 0.8 < w * h / (1024 * 1024) < 1.2
    assert result.warnings == []


def test_nearest_policy_picks_closest_aspect_then_area():
    result = plan(DALLE3, size="1000x560")
    assert result.size == result.output_size == (1792, 1024)
    assert result.warnings[0].startswith("size: p:m cannot make 1000x560; using 1792x1024")


def test_exact_policy_generates_nearest_then_delivers_the_requested_size():
    result = plan(DALLE3, size="1000x560", size_policy="exact")
    assert result.size == (1792, 1024) and result.output_size == (1000, 560) and result.needs_resize
    assert "resizing/cropping to 1000x560" in result.warnings[0]


def test_strict_policy_raises_listing_allowed_sizes():
    with pytest.raises(UnsupportedFeature, match="size: 1000x560 is not supported by p:m; allowed: 1024x1024") as info:
        plan(DALLE3, size="1000x560", size_policy="strict")
    assert info.value.field == "size"


def test_n_is_split_by_max_images_per_call_in_order():
    result = plan(n=10, seed=100)
    assert [(r.index, r.n) for r in result.requests] == [(0, 4), (4, 4), (8, 2)]
    assert [s for r in result.requests for s in r.seeds] == list(range(100, 110))


def test_n_above_one_per_call_becomes_one_request_per_image():
    result = plan(DALLE3, n=4)
    assert [r.n for r in result.requests] == [1, 1, 1, 1]


def test_without_seed_a_seed_is_drawn_and_reported_for_seeded_providers():
    seeds = plan(n=3).seeds
    assert all(isinstance(s, int) for s in seeds)
    assert seeds == [seeds[0], seeds[0] + 1, seeds[0] + 2]


def test_seed_on_a_provider_without_seeds_warns_and_reports_none():
    result = plan(DALLE3, seed=7, n=2)
    assert result.seeds == [None, None]
    assert any(w.startswith("seed: p:m does not take seeds") for w in result.warnings)


def test_seed_past_the_providers_range_wraps_with_a_warning():
    caps = Capabilities(default_size=(512, 512), supports=frozenset({"seed"}), max_seed=2**32 - 1,
                        max_images_per_call=4)
    result = normalize("x", GenerateParams(seed=2**32 - 1, n=2), caps)
    assert result.seeds == [2**32 - 1, 0]
    assert any(w.startswith("seed:") for w in result.warnings)


def test_unsupported_parameter_is_dropped_with_a_warning():
    result = plan(DALLE3, steps=30, negative_prompt="blurry")
    assert result.requests[0].steps is None and result.requests[0].negative_prompt is None
    assert {w.split(":")[0] for w in result.warnings} == {"steps", "negative_prompt"}


def test_unsupported_parameter_raises_under_error_policy():
    with pytest.raises(UnsupportedFeature, match="steps: p:m does not support steps") as info:
        plan(DALLE3, steps=30, unsupported="error")
    assert info.value.field == "steps"


def test_quality_outside_the_providers_values_is_reported_with_the_allowed_ones():
    result = plan(DALLE3, quality="ultra")
    assert result.requests[0].quality is None
    assert "allowed: hd, standard" in result.warnings[0]


def test_supported_quality_and_style_are_kept():
    req = plan(DALLE3, quality="hd", style="natural").requests[0]
    assert (req.quality, req.style) == ("hd", "natural")


def test_operation_the_provider_lacks_always_raises(png):
    with pytest.raises(UnsupportedFeature, match="operation: p:m cannot do img2img"):
        plan(DALLE3, image=png)


def test_provider_options_reach_every_request_untouched():
    options = {"background": "transparent"}
    assert all(r.provider_options == options for r in plan(n=6, provider_options=options).requests)


# -- properties --------------------------------------------------------------------------------

fixed_caps = st.frozensets(
    st.tuples(st.integers(64, 2048), st.integers(64, 2048)), min_size=1, max_size=6
).map(lambda sizes: Capabilities(sizes=sizes, max_images_per_call=1))


@st.composite
def free_caps(draw):
    m = draw(st.sampled_from([1, 8, 16, 64]))
    min_side = draw(st.integers(16, 512))
    max_side = draw(st.integers(-(-min_side // m) * m, 4096))
    lo = -(-min_side // m) * m
    max_pixels = draw(st.none() | st.integers(lo * lo, max_side * max_side))
    max_aspect = draw(st.none() | st.floats(1.0, 8.0))
    per_call = draw(st.integers(1, 8))
    return Capabilities(multiple_of=m, min_side=min_side, max_side=max_side, max_pixels=max_pixels,
                        max_aspect=max_aspect, max_images_per_call=per_call, supports=frozenset({"seed"}))


sizes = st.none() | st.tuples(st.integers(1, 8000), st.integers(1, 8000)) | st.tuples(
    st.integers(1, 50), st.integers(1, 50)).map(lambda r: f"{r[0]}:{r[1]}")


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(caps=fixed_caps | free_caps(), size=sizes, n=st.integers(1, 20), seed=st.none() | st.integers(0, 2**64 - 1),
       policy=st.sampled_from(["nearest", "exact"]))
def test_every_planned_request_is_valid_for_the_capabilities(caps, size, n, seed, policy):
    result = normalize("x", GenerateParams(size=size, n=n, seed=seed, size_policy=policy), caps)
    assert sum(r.n for r in result.requests) == n
    for req in result.requests:
        assert caps.allows(req.width, req.height)
        assert 1 <= req.n <= caps.max_images_per_call
        assert len(req.seeds) == req.n
        assert all(s is None or 0 <= s <= caps.max_seed for s in req.seeds)
    assert [r.index for r in result.requests] == list(range(0, n, caps.max_images_per_call))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(caps=fixed_caps | free_caps(), size=sizes, policy=st.sampled_from(["nearest", "exact"]))
def test_every_size_change_appears_in_warnings(caps, size, policy):
    params = GenerateParams(size=size, size_policy=policy)
    result = normalize("x", params, caps)
    size_warned = any(w.startswith("size:") for w in result.warnings)
    if params.size is None:
        return
    if params.size.is_ratio:
        delivered = result.output_size[0] / result.output_size[1]
        changed = abs(math.log(delivered / params.size.aspect)) > ASPECT_TOLERANCE or result.needs_resize
    else:
        changed = result.size != (params.size.width, params.size.height)
    assert size_warned == changed
    if policy == "exact" and not params.size.is_ratio:
        assert result.output_size == (params.size.width, params.size.height)


@settings(max_examples=200, deadline=None)
@given(caps=fixed_caps | free_caps(), size=sizes)
def test_strict_policy_either_keeps_the_size_or_raises(caps, size):
    params = GenerateParams(size=size, size_policy="strict")
    try:
        result = normalize("x", params, caps)
    except UnsupportedFeature as exc:
        assert exc.field == "size"
        return
    assert not any(w.startswith("size:") for w in result.warnings)


LOCAL_ONLY = {"prompt_syntax": "a1111", "clip_skip": 2, "embeddings": ["/m/easynegative.safetensors"],
              "hires": {"scale": 2.0}, "refiner": "/m/refiner", "refiner_switch": 0.8, "vae": "/m/vae.safetensors",
              "tiling": True}


def test_a_provider_without_the_local_pipeline_features_drops_each_with_a_warning():
    result = plan(DALLE3, **LOCAL_ONLY)
    dropped = {w.field for w in result.warnings if w.kind == "unsupported"}
    assert dropped == set(LOCAL_ONLY)
    req = result.requests[0]
    assert (req.prompt_syntax, req.clip_skip, req.embeddings, req.hires, req.refiner, req.vae, req.tiling) == (
        None, None, (), None, None, None, False)


@pytest.mark.parametrize("field", sorted(LOCAL_ONLY))
def test_a_local_pipeline_feature_is_refused_under_unsupported_error(field):
    fields = {field: LOCAL_ONLY[field]}
    if field == "refiner_switch":
        fields["refiner"] = "/m/refiner"
    with pytest.raises(UnsupportedFeature) as err:
        plan(DALLE3, unsupported="error", **fields)
    assert err.value.field in (field, "refiner")


def test_plain_prompt_syntax_is_honoured_everywhere():
    result = plan(DALLE3, prompt_syntax="plain")
    assert result.warnings == [] and result.requests[0].prompt_syntax == "plain"


def test_a_supporting_provider_gets_every_local_pipeline_feature():
    caps = Capabilities(supports=frozenset({"prompt_syntax", "clip_skip", "embeddings", "hires", "refiner", "vae",
                                            "tiling"}), default_size=(512, 512))
    req = plan(caps, **LOCAL_ONLY).requests[0]
    assert req.clip_skip == 2 and req.embeddings == ("/m/easynegative.safetensors",) and req.tiling
    assert req.hires is not None and req.hires.scale == 2.0 and req.refiner_switch == 0.8


def test_an_edit_without_a_size_keeps_the_input_images_aspect():
    from PIL import Image

    image = Image.new("RGB", (96, 64))
    result = plan(FREE, image=image)
    w, h = result.size
    assert abs(w / h - 1.5) < 0.02 and result.warnings == []


def test_an_edit_with_a_size_uses_that_size():
    from PIL import Image

    assert plan(FREE, image=Image.new("RGB", (96, 64)), size="1024x1024").size == (1024, 1024)
