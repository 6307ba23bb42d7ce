"""The finished file in ComfyUI's own terms: the prompt and workflow embedded as core Save Video embeds them, the file
as a VIDEO for core Save Video, Get Video Components and other packs' video nodes, and the player shown in the node."""
from __future__ import annotations

import json
import os
from fractions import Fraction

import folder_paths
from comfy.cli_args import args
from comfy_api.latest import Input, InputImpl, Types, io, ui
from PIL import Image

from ..st2v_modules.video_files.reader import read_video

def video_output(tooltip: str) -> io.Video.Output:
    return io.Video.Output(display_name="video", tooltip=tooltip)


def file_metadata(hidden) -> dict[str, str] | None:
    """The prompt and the workflow (`extra_pnginfo`), which the host hands every output node as hidden inputs, as JSON
    strings the way core Save Video writes them; none when ComfyUI runs with --disable-metadata."""
    if args.disable_metadata or hidden is None:
        return None
    metadata = {key: json.dumps(value) for key, value in (hidden.extra_pnginfo or {}).items()}
    if hidden.prompt is not None:
        metadata["prompt"] = json.dumps(hidden.prompt)
    return metadata or None


class FrameFolderVideo(Input.Video):
    """A PNG sequence as a VIDEO: its frames are read when a node asks for them."""

    def __init__(self, folder: str, fps: float):
        self.folder, self.fps = folder, fps

    def _names(self) -> list[str]:
        return sorted(f for f in os.listdir(self.folder) if f.endswith(".png"))

    def get_components(self) -> Types.VideoComponents:
        return Types.VideoComponents(images=read_video(self.folder), audio=None, frame_rate=Fraction(self.fps).limit_denominator())

    def get_dimensions(self) -> tuple[int, int]:
        with Image.open(os.path.join(self.folder, self._names()[0])) as first:
            return first.size

    def get_duration(self) -> float:
        return len(self._names()) / self.fps

    def save_to(self, path, format=Types.VideoContainer.AUTO, codec=Types.VideoCodec.AUTO, metadata: dict | None = None):
        InputImpl.VideoFromComponents(self.get_components()).save_to(path, format=format, codec=codec, metadata=metadata)


def finished(frames, path: str, fps: float) -> io.NodeOutput:
    """The node's outputs (frames, path, VIDEO) and, for an mp4, the player that core Save Video shows."""
    if os.path.isdir(path):
        return io.NodeOutput(frames, path, FrameFolderVideo(path, fps))
    subfolder = os.path.relpath(os.path.dirname(path), folder_paths.get_output_directory())
    shown = ui.PreviewVideo([ui.SavedResult(os.path.basename(path), "" if subfolder == "." else subfolder, io.FolderType.output)])
    return io.NodeOutput(frames, path, InputImpl.VideoFromFile(path), ui=shown)
