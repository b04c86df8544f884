"""Streaming the local provider: previews decoded from the latents during denoising, then the final image, whose
pixels are exactly those ``generate`` makes for the same seed (the previews read the latents, never change them)."""

from __future__ import annotations

import pytest
from imagegen_diffusers import DiffusersProvider

import imagegen


@pytest.fixture(scope="module")
def mini():
    return DiffusersProvider("imagegen-mini")


def test_the_embedded_model_streams_previews_then_the_same_pixels_generate_makes(mini):
    client = imagegen.Client(mini, retry=False)
    seen = list(client.stream("a red circle on a blue background", seed=11, steps=6, partial_images=2))
    previews = [e for e in seen if isinstance(e, imagegen.PartialImage)]
    assert [p.partial_index for p in previews] == [0, 1] and all(0 < p.step < p.total == 6 for p in previews)
    assert previews[0].image.size == (32, 32) and previews[0].provider == "diffusers:imagegen-mini"
    denoise = [e for e in seen if isinstance(e, imagegen.ProgressEvent) and e.stage == "denoise"]
    assert [e.step for e in denoise] == list(range(1, 7))
    streamed = seen[-1]
    assert isinstance(streamed, imagegen.GenerationResult)
    made = client.generate("a red circle on a blue background", seed=11, steps=6)
    assert streamed.images[0].to_pil().tobytes() == made.images[0].to_pil().tobytes()
    assert previews[0].image.to_pil().tobytes() != streamed.images[0].to_pil().tobytes()


def test_a_batch_streams_previews_for_each_image(mini):
    seen = list(imagegen.Client(mini, retry=False).stream("a green square", seed=3, steps=4, n=2, partial_images=1))
    assert sorted(p.index for p in seen if isinstance(p, imagegen.PartialImage)) == [0, 1]
    assert len(seen[-1].images) == 2


def test_output_format_webp_gives_a_webp_whose_metadata_reads_back(mini, tmp_path):
    result = imagegen.Client(mini, retry=False).generate("a red circle", seed=2, steps=3, output_format="webp",
                                                         output_compression=90)
    image = result.images[0]
    assert image.mime == "image/webp" and image.data[8:12] == b"WEBP"
    (path,) = result.save(tmp_path)
    meta = imagegen.read_metadata(path)
    assert path.endswith(".webp") and meta.prompt == "a red circle" and meta.seed == 2


def test_a_transparent_background_is_refused_locally_under_unsupported_error(mini):
    with pytest.raises(imagegen.UnsupportedFeature) as info:
        imagegen.Client(mini, retry=False).generate("x", background="transparent", unsupported="error")
    assert info.value.field == "background"
