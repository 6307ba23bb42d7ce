"""The enhancer's canvas: which sizes MS-Vid2Vid-XL can process, and where frames land on it."""
import pytest
import torch

from st2v_modules.sampling.canvas import CROP_BARS, FILL, PAD, check_canvas_size, check_frame_sizes, crop_output, place, to_canvas


@pytest.mark.parametrize("width, height", [(1280, 720), (768, 720), (1024, 576 + 16), (64, 80)])
def test_sizes_the_unet_reassembles(width, height):
    check_canvas_size(width, height)


@pytest.mark.parametrize("width, height, message", [
    (720, 720, "width 720 -> use 704 or 768"),
    (1280, 704, "height 704 -> use 656 or 720"),
    (1284, 720, "multiples of 8"),
])
def test_sizes_it_cannot_are_refused_with_the_nearest_that_fit(width, height, message):
    with pytest.raises(ValueError, match=message):
        check_canvas_size(width, height)


def test_a_row_padded_unet_returns_the_size_it_was_given_exactly_for_the_accepted_sizes():
    """The arithmetic behind the check, against the real layers: 1280x720 -> latent 90x160 -> 46x80 -> 24x40 -> 13x20."""
    from st2v_modules.models.layers import Downsample, Upsample
    import torch.nn as nn
    down, up = Downsample(32, nn, {}, padding=(2, 1)), Upsample(32, nn, {}, crop_rows=True)
    sizes, x = [], torch.zeros(1, 32, 90, 160)
    for _ in range(3):
        x = down(x)
        sizes.append(tuple(x.shape[-2:]))
    assert sizes == [(46, 80), (24, 40), (13, 20)]
    for expected in [(24, 40), (46, 80), (90, 160)]:
        x = up(x, None)
        assert tuple(x.shape[-2:]) == expected


def test_the_official_placement_pads_256_squares_to_720_with_280_pixel_bars():
    placement = place((256, 256), (1280, 720), PAD)
    assert (placement.scaled, placement.offset, placement.output_size) == ((720, 720), (280, 0), (1280, 720))
    frames = torch.rand(3, 256, 256, 3)
    canvas = to_canvas(frames, placement)
    assert canvas.shape == (3, 720, 1280, 3)
    assert canvas[:, :, :280].abs().max() == 0 and canvas[:, :, 1000:].abs().max() == 0
    assert abs(canvas[:, :, 280:1000].mean() - frames.mean()) < 0.01


def test_crop_bars_keeps_the_picture_and_fill_leaves_no_bars():
    cropped = place((256, 256), (1280, 720), CROP_BARS)
    assert cropped.output_size == (720, 720)
    assert crop_output(torch.zeros(2, 720, 1280, 3), cropped).shape == (2, 720, 720, 3)
    filled = place((320, 240), (1280, 720), FILL)
    assert filled.scaled == (1280, 960) and filled.offset == (0, -120)
    canvas = to_canvas(torch.ones(1, 240, 320, 3), filled)
    assert canvas.min() > 0.99  # every canvas pixel comes from the picture


def test_frames_of_mixed_sizes_are_refused_naming_the_first_that_differs():
    frames = [torch.zeros(256, 256, 3)] * 3 + [torch.zeros(240, 320, 3)]
    with pytest.raises(ValueError, match="frame 3 is 320x240 but frame 0 is 256x256"):
        check_frame_sizes(frames)
    with pytest.raises(ValueError, match="resize them to one size"):
        to_canvas(frames, place((256, 256), (1280, 720)))
