"""Video Metrics inside the real ComfyUI: a video file -> core Load Video -> our node -> Preview Any and Save Image.

RAFT here has random weights (written as torchvision saves raft_large_C_T_SKHT_V2-ff5fadd5.pth): its flow means
nothing, but the file goes through the node's real loading path; tests/test_metrics.py checks the numbers."""
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from helpers.fake_models import CLIP_VISION, TEXT_ENCODER
from helpers.host import HostExecutionError, HostValidationError
from st2v_modules.video_files.writer import MP4, VideoWriter

pytestmark = pytest.mark.host
RANDOM_RAFT = "raft_large_random_weights.pth"
NO_FLOW = "none (skip MAWE)"
SIDE = 128


@pytest.fixture(scope="module")
def flow_weights(host, models_dir) -> str:
    from torchvision.models.optical_flow import raft_large
    os.makedirs(os.path.join(models_dir, "optical_flow"), exist_ok=True)
    torch.save(raft_large(weights=None).state_dict(), os.path.join(models_dir, "optical_flow", RANDOM_RAFT))
    return RANDOM_RAFT


def input_video(host, name: str, frames: torch.Tensor) -> str:
    """An mp4 in the host's input folder, where Load Video finds it."""
    writer = VideoWriter(os.path.join(host.folder_paths.get_input_directory(), name), MP4, fps=8)
    writer.write(frames)
    return os.path.basename(writer.finish())


def moving_texture(frames: int, brighten_per_chunk: float = 0.0) -> torch.Tensor:
    """A smooth texture drifting 3 px right per frame, optionally 'brighten_per_chunk' brighter every 8 frames after 16."""
    y, x = torch.meshgrid(torch.linspace(0, 6, SIDE), torch.linspace(0, 6, SIDE), indexing="ij")
    pattern = torch.stack([torch.sin(x + y), torch.cos(2 * x - y), torch.sin(3 * y)], dim=-1) * 0.2 + 0.4
    return torch.stack([torch.roll(pattern, 3 * t, dims=1) + brighten_per_chunk * max(0, (t - 8) // 8) for t in range(frames)])


def metrics_graph(video: str, flow_weights: str = NO_FLOW, mawe_size: int = SIDE, **inputs) -> dict:
    """Load Video -> Get Video Components -> Video Metrics -> Preview Any (numbers) and Save Image (plot)."""
    return {
        "1": {"class_type": "LoadVideo", "inputs": {"file": video}},
        "2": {"class_type": "GetVideoComponents", "inputs": {"video": ["1", 0]}},
        "3": {"class_type": "STV_VideoMetrics", "inputs": {
            "images": ["2", 0], "flow_weights": flow_weights, "mawe_size": mawe_size, "mawe_coeff": 9.5, **inputs}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["3", 1], "filename_prefix": "stv_metrics/plot"}},
    }


def with_clip_vision(graph: dict) -> dict:
    graph["6"] = {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": CLIP_VISION}}
    graph["3"]["inputs"]["clip_vision"] = ["6", 0]
    return graph


def results(host, outputs: dict) -> tuple[dict, np.ndarray]:
    report = json.loads(outputs["4"]["text"][0])
    (entry,) = outputs["5"]["images"]
    plot = np.asarray(Image.open(os.path.join(host.folder_paths.get_output_directory(), entry["subfolder"], entry["filename"])))
    return report, plot


def assert_is_a_drawn_plot(plot: np.ndarray, panels: int) -> None:
    assert plot.shape[1] == 640 and plot.shape[0] >= 90 * panels
    assert (plot < 250).mean() > 0.01 and plot.std() > 20  # text, panel frames and curves on white
    assert len(np.unique(plot.reshape(-1, 3), axis=0)) > 20  # several curve colours, anti-aliased text


def test_video_metrics_scores_a_video_with_raft(host, flow_weights):
    video = input_video(host, "stv_metrics_moving", moving_texture(3))
    report, plot = results(host, host.run(metrics_graph(video, flow_weights)))
    assert (report["frames"], report["width"], report["height"]) == (3, SIDE, SIDE)
    assert report["mawe_size"] == SIDE and report["mawe_coeff"] == 9.5
    assert len(report["per_pair"]["warp_error"]) == 2 and all(e >= 0 for e in report["per_pair"]["warp_error"])
    assert "clip_text_score" not in report and "anchor_clip_similarity" not in report["chunks"]
    assert_is_a_drawn_plot(plot, panels=len(report["drift"]))


def test_missing_flow_weights_are_refused_before_anything_runs(host):
    video = input_video(host, "stv_metrics_short", moving_texture(3))
    with pytest.raises(HostValidationError) as refused:
        host.run(metrics_graph(video, "raft_large_C_T_SKHT_V2-ff5fadd5.pth"))
    details = str(refused.value.node_errors)
    assert "Video Metrics: flow_weights: raft_large_C_T_SKHT_V2-ff5fadd5.pth is missing: 21.1 MB from https://download.pytorch.org/" in details
    assert "python -m st2v_modules.download raft_large. Then run the workflow again. Or choose 'none (skip MAWE)'." in details


def test_a_flow_size_raft_cannot_take_is_refused_with_one_that_works(host, flow_weights):
    video = input_video(host, "stv_metrics_short", moving_texture(3))
    with pytest.raises(HostValidationError, match="mawe_size is 100; .* use 128"):
        host.run(metrics_graph(video, flow_weights, mawe_size=100))


def test_the_streamingt2v_text_encoder_cannot_give_a_text_score_and_says_what_can(host):
    video = input_video(host, "stv_metrics_short", moving_texture(3))
    graph = with_clip_vision(metrics_graph(video, prompt="a drifting pattern"))
    graph["7"] = {"class_type": "CLIPLoader", "inputs": {"clip_name": TEXT_ENCODER, "type": "stable_diffusion", "device": "default"}}
    graph["3"]["inputs"]["clip"] = ["7", 0]
    with pytest.raises(HostExecutionError, match="text projection") as refused:
        host.run(graph)
    assert "SD 2.x" in str(refused.value) or "last layer" in str(refused.value)


def test_a_prompt_without_clip_is_refused(host):
    video = input_video(host, "stv_metrics_short", moving_texture(3))
    with pytest.raises(HostExecutionError, match="prompt is set but clip is not connected"):
        host.run(with_clip_vision(metrics_graph(video, prompt="a drifting pattern")))


@pytest.fixture(scope="module")
def full_text_encoder(models_dir) -> str:
    """The ModelScope text encoder plus the two parts it lacks (the 24th layer and the text projection), laid out as a
    complete OpenCLIP ViT-H/14 text tower (an SD 2.x CLIP) is: random weights, real names and shapes."""
    from safetensors.torch import load_file, save_file
    from helpers.fake_models import random_like_shapes
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection
    config = CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=24,
                            hidden_act="gelu", projection_dim=1024, vocab_size=49408, max_position_embeddings=77)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in CLIPTextModelWithProjection(config).state_dict().items()
                  if ".layers.23." in k or k == "text_projection.weight"}
    weights = load_file(os.path.join(models_dir, "text_encoders", TEXT_ENCODER))
    weights.update({("" if k.startswith("text") else "text_model.") + k: v for k, v in random_like_shapes(shapes, seed=9).items()})
    name = "open_clip_vit_h14_text_full.safetensors"
    save_file(weights, os.path.join(models_dir, "text_encoders", name))
    return name


def test_text_score_with_a_complete_vit_h_text_encoder(host, full_text_encoder):
    video = input_video(host, "stv_metrics_two", moving_texture(2))  # CLIP vision on CPU takes seconds per frame
    graph = with_clip_vision(metrics_graph(video, prompt="a drifting pattern"))
    graph["7"] = {"class_type": "CLIPLoader", "inputs": {"clip_name": full_text_encoder, "type": "stable_diffusion", "device": "default"}}
    graph["3"]["inputs"]["clip"] = ["7", 0]
    report, plot = results(host, host.run(graph))
    scores = report["per_frame"]["clip_text_score"]
    assert len(scores) == 2 and all(-100 <= s <= 100 for s in scores)
    assert report["clip_text_score"] == pytest.approx(sum(scores) / 2)
    assert report["chunks"]["clip_text_score"] == [pytest.approx(sum(scores) / 2)]
    assert -1 <= report["chunks"]["anchor_clip_similarity"][0] <= 1
    assert any("text projection" in note for note in report["notes"])
    assert_is_a_drawn_plot(plot, panels=len(report["drift"]))


def test_a_single_frame_is_refused_naming_the_input(host):
    graph = metrics_graph("unused")
    graph["2"] = {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0x808080}}
    del graph["1"]
    with pytest.raises(HostExecutionError, match="images has 1 frame; .* at least 2 frames"):
        host.run(graph)


def test_drift_curves_of_a_video_that_brightens_chunk_by_chunk(host):
    video = input_video(host, "stv_metrics_brightening", moving_texture(32, brighten_per_chunk=0.08))
    report, plot = results(host, host.run(metrics_graph(video)))
    brightness = report["chunks"]["brightness"]
    assert report["chunks"]["first_frame"] == [0, 16, 24] and len(brightness) == 3
    assert brightness[0] < brightness[1] < brightness[2] and report["drift"]["brightness"] > 0.1
    assert "mawe" not in report and report["notes"] == ["MAWE not measured: no optical flow weights given."]
    assert_is_a_drawn_plot(plot, panels=len(report["drift"]))


def test_the_node_is_registered_with_a_tooltip_on_every_input(host):
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_VideoMetrics"]
    info = node.GET_SCHEMA().get_v1_info(node)
    assert info.category == "StreamingT2V/metrics"
    inputs = {**info.input["required"], **info.input.get("optional", {})}
    assert set(inputs) == {"images", "flow_weights", "mawe_size", "mawe_coeff", "clip_vision", "prompt", "clip"}
    assert all(options[1].get("tooltip") for options in inputs.values())
    assert inputs["mawe_size"][1]["default"] == 720 and inputs["mawe_coeff"][1]["default"] == 9.5
