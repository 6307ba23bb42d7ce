"""The animated preview of what is being made: a chunk's new frames (the enhancer's current window), decoded by the
host's previewer at every sampler step and shown one after another at the video's frame rate through the host's
progress hook, the way a sampler's preview reaches the browser."""
import time

import pytest
import torch

from helpers.fake_models import DIFFUSERS_UNET
from helpers.graphs import first_chunk_and_extend
from st2v_modules.sampling.blending import BlendPlan

pytestmark = pytest.mark.host


@pytest.fixture
def previews(host):
    """What the host's progress hook receives, with Latent2RGB previews on (`--preview-method latent2rgb`)."""
    import comfy.utils
    from comfy.cli_args import LatentPreviewMethod, args
    seen, method, hook = [], args.preview_method, comfy.utils.PROGRESS_BAR_HOOK
    args.preview_method = LatentPreviewMethod.Latent2RGB
    comfy.utils.set_progress_bar_global_hook(lambda value, total, preview, **_: seen.append((value, total, preview)))
    yield seen
    comfy.utils.set_progress_bar_global_hook(hook)
    args.preview_method = method


def wait_for(condition, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the preview player did not keep up"
        time.sleep(0.01)


def test_the_preview_plays_the_picked_frames_in_turn_and_stops_with_the_sampler(host, previews):
    (model,) = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"].execute(unet_name=DIFFUSERS_UNET, weight_dtype="default").result
    progress = host.pack_module("nodes.video_run").Progress(model, total=2, fps=40)
    x0 = torch.linspace(-1, 1, 16).view(16, 1, 1, 1).expand(16, 4, 6, 8)  # every frame its own colour
    frames = [progress.previewer.decode_latent_to_preview(x0[i:i + 1]).tobytes() for i in range(16)]
    assert len(set(frames)) == 16
    with progress.sampling(lambda step, x0: x0[8:]) as step:
        step(0, x0, x0, 2)
        wait_for(lambda: len(previews) >= 17)  # between steps the player goes on: twice round the 8 frames
        step(1, x0, x0, 2)
    stopped = len(previews)
    time.sleep(0.2)
    assert len(previews) == stopped, "no preview after the sampler returned"
    assert all(kind == "JPEG" for _, _, (kind, _, _) in previews)
    shown = [image.tobytes() for _, _, (_, image, _) in previews]
    assert shown[:16] == frames[8:] * 2  # the new frames in order, never the conditioning half
    assert [value for value, _, _ in previews[:17]] == [1] * 17 and previews[-1][:2] == (2, 2)


def test_extend_previews_a_chunks_new_frames_and_enhance_a_window_that_moves_each_step(host):
    new_frames = host.pack_module("nodes.extend_engine").new_frames
    chunk = torch.arange(16)
    assert new_frames(8)(0, chunk).tolist() == list(range(8, 16))
    assert new_frames(3)(7, chunk).tolist() == [8, 9, 10]  # a trimmed last chunk: only the frames kept
    window = host.pack_module("nodes.enhance_engine").current_window(BlendPlan(40, 24, 8))  # windows at 0 and 16
    video = torch.arange(40)
    assert [window(step, video).tolist() for step in range(3)] == [list(range(24)), list(range(16, 40)), list(range(24))]


def test_extend_sends_its_previews_through_the_hosts_progress_hook(host, previews):
    graph = first_chunk_and_extend(frames_to_add=16, steps=2, prefix="stv_previews")
    graph["20"]["inputs"]["steps"] = 3  # 2 chunks x 3 steps: the Extend bar (total 6) apart from the first chunk's (2)
    host.run(graph)
    ours = [(value, preview) for value, total, preview in previews if total == 6]
    assert {value for value, _ in ours} == set(range(1, 7))  # every step of both chunks
    assert all(preview is not None and preview[1].size == (8, 6) for _, preview in ours)  # latent-sized Latent2RGB frames
