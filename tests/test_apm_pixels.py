"""The APM's image encoder sees the official pixels: kornia's bicubic resize with aligned corners and antialiasing,
in float, CLIP's normalisation (spec 1.5a, `image_embedder.py`), with kornia itself as the oracle."""
import os

import pytest
import torch

from helpers.official_pixels import official_preprocess
from helpers.tolerances import ulps_of_scale
from st2v_modules.models.clip_pixels import CLIP_MEAN, CLIP_STD, official_clip_pixels

pytest.importorskip("kornia", reason="kornia, the official preprocessing, is the test-only oracle (requirements-test.txt)")
FLOAT32_RESAMPLING = 16  # rounding steps at the output's scale: the blur, the 16-tap resize and the normalisation


@pytest.mark.parametrize("height, width", [(256, 256), (48, 64), (720, 1280), (224, 224), (300, 500)])
def test_pixels_equal_the_official_preprocessing(height, width):
    frames = torch.rand(2, height, width, 3, generator=torch.Generator().manual_seed(height + width))
    assert ulps_of_scale(official_clip_pixels(frames), official_preprocess(frames)) <= FLOAT32_RESAMPLING


def test_the_unconditional_image_is_exact_mid_grey():
    """The official all-zero image in [-1, 1]: 0.5 before normalisation, not the host's 128/255."""
    grey = official_clip_pixels(torch.full((1, 256, 256, 3), 0.5))
    expected = (0.5 - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    assert torch.allclose(grey, expected.view(1, 3, 1, 1).expand_as(grey), atol=1e-7, rtol=0)


@pytest.mark.host
def test_the_conditioning_feeds_the_vision_tower_the_official_pixels(host, models_dir):
    """Before: the host's `encode_image` (bicubic without aligned corners, rounded to 8 bits) was 0.011 mean, 0.063 max
    away from the official input on a 256-pixel frame, normalised units. After: float32 rounding."""
    import comfy.clip_vision
    from helpers.fake_models import CLIP_VISION
    clip_vision = comfy.clip_vision.load(os.path.join(models_dir, "clip_vision", CLIP_VISION))
    conditioning = host.pack_module("nodes.conditioning")
    coarse = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))  # a frame with detail, not pixel noise
    anchor = torch.nn.functional.interpolate(coarse, size=(256, 256), mode="bilinear").movedim(1, -1)
    seen = []
    hook = clip_vision.model.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["pixel_values"]),
                                                       with_kwargs=True)
    try:
        with torch.inference_mode():
            embeds = conditioning.image_embeds(clip_vision, torch.cat([anchor, torch.full_like(anchor, 0.5)]))
    finally:
        hook.remove()
    official = official_preprocess(torch.cat([anchor, torch.full_like(anchor, 0.5)]))
    host_pixels = comfy.clip_vision.clip_preprocess(anchor, crop=False)
    before = (host_pixels - official[:1]).abs()
    after = (seen[0].cpu() - official).abs()
    print(f"APM pixels vs official: host preprocessing mean {before.mean():.4f} max {before.max():.4f}; "
          f"ours max {after.max():.2e} (normalised units)")
    assert ulps_of_scale(seen[0].cpu(), official) <= FLOAT32_RESAMPLING and before.max() > 0.01
    assert embeds.shape == (2, 1024)
