"""The prompt and workflow embedded in the files the pack writes, as core Save Video embeds them."""
import json
import os

import torch
from PIL import Image

from helpers.graphs import video_frames, video_tags
from st2v_modules.video_files.writer import MP4, PNG, VideoWriter

WORKFLOW = json.dumps({"nodes": [{"id": 1, "widgets_values": ["a = b; # c \\ d\nnext line"]}]})  # ffmpeg's special characters


def test_mp4_container_tags_hold_the_metadata(tmp_path):
    writer = VideoWriter(str(tmp_path / "clip"), MP4, fps=12, metadata={"workflow": WORKFLOW, "prompt": "{}"})
    writer.write(torch.rand(5, 16, 32, 3))
    path = writer.finish()
    tags, fps = video_tags(path)
    assert (tags["workflow"], tags["prompt"], fps) == (WORKFLOW, "{}", 12.0)
    assert video_frames(path) == (5, 32, 16)


def test_the_first_png_of_a_sequence_holds_the_metadata(tmp_path):
    writer = VideoWriter(str(tmp_path / "frames"), PNG, fps=8, metadata={"workflow": WORKFLOW})
    writer.write(torch.rand(3, 8, 8, 3))
    folder = writer.finish()
    first, second = (Image.open(os.path.join(folder, name)) for name in sorted(os.listdir(folder))[:2])
    assert first.text == {"workflow": WORKFLOW} and second.text == {}


def test_nodes_embed_the_prompt_and_workflow_unless_metadata_is_disabled(host):
    from comfy.cli_args import args
    from comfy_api.latest._io import Hidden, HiddenHolder
    file_metadata = host.pack_module("nodes.video_output").file_metadata
    hidden = HiddenHolder.from_dict({Hidden.prompt: {"1": {"class_type": "X"}}, Hidden.extra_pnginfo: {"workflow": {"nodes": []}}})
    assert file_metadata(hidden) == {"prompt": '{"1": {"class_type": "X"}}', "workflow": '{"nodes": []}'}
    assert file_metadata(None) is None  # execute() called outside a prompt
    args.disable_metadata = True
    try:
        assert file_metadata(hidden) is None
    finally:
        args.disable_metadata = False
