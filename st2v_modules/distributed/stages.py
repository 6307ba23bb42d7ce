"""The API prompt rewritten for what a worker runs: an item's files in its own folder, a run resumed from its manifest,
the extension and the enhancement as two stages (the second reading the first one's video), and one segment of an
enhancement. Pure functions over API prompts; the graph is followed by its links, not by node ids."""
from __future__ import annotations

import copy
import os
from collections.abc import Iterable

from ..headless.overrides import EXTEND_NODES, Prompt, is_link, title
from ..video_files.writer import MP4, PNG

ENHANCE_NODES = ("STV_Enhance", "STV_EnhanceAdvanced")
PLACEHOLDER_START = "stv_resumed_start"
LOADED_VIDEO, LOADED_FRAMES, LOADED_PATH = "stv_video", "stv_video_frames", "stv_video_path"
SEGMENT_FRAMES = "stv_segment_frames"
EXTENDED_PATH, ENHANCED_PATH = "stv_extended_path", "stv_enhanced_path"


class StageError(ValueError):
    """A workflow that cannot be split as asked; the message says what it has and what is needed."""


def the_node(prompt: Prompt, classes: tuple[str, ...], what: str) -> str | None:
    """The one node of these classes; None without one, refused with several."""
    found = [i for i, n in prompt.items() if n["class_type"] in classes]
    if len(found) > 1:
        names = ", ".join(f"{i} ({title(prompt, i)})" for i in found)
        raise StageError(f"the workflow has {len(found)} {what} nodes ({names}); a distributed run follows one.")
    return found[0] if found else None


def extend_node(prompt: Prompt) -> str | None:
    return the_node(prompt, EXTEND_NODES, "StreamingT2V Extend")


def enhance_node(prompt: Prompt) -> str | None:
    return the_node(prompt, ENHANCE_NODES, "StreamingT2V Enhance")


def descendants(prompt: Prompt, node: str) -> set[str]:
    """Every node that uses `node`'s outputs, directly or through others."""
    found: set[str] = set()
    frontier = {node}
    while frontier:
        users = {i for i, n in prompt.items() if i not in found and any(is_link(v) and str(v[0]) in frontier for v in n["inputs"].values())}
        found |= users
        frontier = users
    return found


def output_nodes(prompt: Prompt, output_classes: set[str]) -> set[str]:
    """The nodes ComfyUI runs the workflow for (`output_classes`: the classes /object_info marks output_node)."""
    return {i for i, n in prompt.items() if n["class_type"] in output_classes}


def without(prompt: Prompt, nodes: Iterable[str]) -> Prompt:
    dropped = set(nodes)
    return {i: n for i, n in prompt.items() if i not in dropped}


def in_folder(prompt: Prompt, folder: str) -> Prompt:
    """Every file the workflow saves goes to `folder` (under the output folder), keeping its own name."""
    prompt = copy.deepcopy(prompt)
    for node in prompt.values():
        prefix = node["inputs"].get("filename_prefix")
        if isinstance(prefix, str):
            node["inputs"]["filename_prefix"] = f"{folder}/{os.path.basename(prefix.rstrip('/')) or 'video'}"
    return prompt


def resumed(prompt: Prompt, extend: str, manifest: str, frames_to_add: int, output_classes: set[str]) -> Prompt:
    """Go on from `manifest` (relative to the output folder) for `frames_to_add` more frames. The start frames are
    read back from the manifest's video, so the first chunk is not made again: its inputs get a placeholder and
    the output nodes that only show it (not fed by the extension; the extension itself is one too) are left out."""
    prompt = copy.deepcopy(prompt)
    inputs = prompt[extend]["inputs"]
    inputs.update(resume_manifest=manifest, redo_from_chunk=-1, frames_to_add=frames_to_add, start_frames=[PLACEHOLDER_START, 0])
    prompt[PLACEHOLDER_START] = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 8, "color": 0},
                                 "_meta": {"title": "replaced by the resumed video's frames"}}
    return without(prompt, output_nodes(prompt, output_classes) - descendants(prompt, extend) - {extend})


def fed_by_video(prompt: Prompt, extend: str) -> Prompt:
    """The workflow with the extension's outputs taken from its finished video (`video_file` set later): its frames
    through core Load Video, its path as a text."""
    prompt = copy.deepcopy(prompt)
    prompt[LOADED_VIDEO] = {"class_type": "LoadVideo", "inputs": {"file": ""}, "_meta": {"title": "the extended video"}}
    prompt[LOADED_FRAMES] = {"class_type": "GetVideoComponents", "inputs": {"video": [LOADED_VIDEO, 0]}}
    prompt[LOADED_PATH] = {"class_type": "PrimitiveString", "inputs": {"value": ""}}
    replacement = {0: [LOADED_FRAMES, 0], 1: [LOADED_PATH, 0]}
    for node in prompt.values():
        for name, value in node["inputs"].items():
            if is_link(value) and str(value[0]) == extend:
                node["inputs"][name] = replacement[value[1]]
    del prompt[extend]
    return prompt


def video_file(prompt: Prompt, video: str, path: str) -> Prompt:
    """Point the loader of `fed_by_video` at `video` (relative to the output folder; `path` as the worker sees it)."""
    prompt = copy.deepcopy(prompt)
    prompt[LOADED_VIDEO]["inputs"]["file"] = f"{video} [output]"
    prompt[LOADED_PATH]["inputs"]["value"] = path
    return prompt


def shown_path(prompt: Prompt, node: str, display: str) -> Prompt:
    """The workflow with core Preview Any showing `node`'s video path: a stage always has an output, and the runner
    reports the path with the stage's files."""
    return {**prompt, display: {"class_type": "PreviewAny", "inputs": {"source": [node, 1]}, "_meta": {"title": "video file"}}}


def extension_stage(prompt: Prompt, extend: str, enhance: str) -> tuple[Prompt, list[str]]:
    """The workflow up to the extension: the enhancer and what follows it left out, the video written as mp4 (the
    enhancement stage reads it with core Load Video). Returns the prompt and a line per change."""
    stage = shown_path(copy.deepcopy(without(prompt, {enhance} | descendants(prompt, enhance))), extend, EXTENDED_PATH)
    changes = []
    if stage[extend]["inputs"].get("video_format") != MP4:
        stage[extend]["inputs"]["video_format"] = MP4
        changes.append(f"{extend} ({title(prompt, extend)}).video_format = {MP4!r}: the enhancement stage reads an mp4")
    return stage, changes


def enhancement_stage(prompt: Prompt, extend: str, enhance: str, output_classes: set[str]) -> Prompt:
    """The workflow from the extended video on: only the outputs fed by the enhancer, the extension replaced by its video."""
    if enhance not in descendants(prompt, extend):
        raise StageError(f"node {enhance} ({title(prompt, enhance)}) does not read the video of node {extend} "
                         f"({title(prompt, extend)}); --enhance-on needs an enhancer fed by the extension.")
    kept = descendants(prompt, enhance) | {enhance, extend}  # both are output nodes too (they play their videos)
    return shown_path(fed_by_video(without(prompt, output_nodes(prompt, output_classes) - kept), extend), enhance, ENHANCED_PATH)


def segment_stage(prompt: Prompt, enhance: str, context: tuple[int, int], name: str) -> Prompt:
    """The enhancement of frames [start, end) of the video alone, written losslessly as PNGs named `name` for the
    stitching; what follows the enhancer is left out (it would see one segment), its video path aside."""
    prompt = copy.deepcopy(without(prompt, descendants(prompt, enhance) - {ENHANCED_PATH}))
    inputs = prompt[enhance]["inputs"]
    start, end = context
    prompt[SEGMENT_FRAMES] = {"class_type": "ImageFromBatch", "inputs": {"image": inputs["frames"], "batch_index": start, "length": end - start}}
    prefix = inputs["filename_prefix"]
    inputs.update(frames=[SEGMENT_FRAMES, 0], video_format=PNG,
                  filename_prefix=f"{os.path.dirname(prefix)}/{name}" if os.path.dirname(prefix) else name)
    return prompt


def enhance_setting(prompt: Prompt, enhance: str, name: str):
    """A setting of the enhancer that the segment plan needs; it must be a value, not a link."""
    value = prompt[enhance]["inputs"].get(name)
    if value is None or is_link(value):
        raise StageError(f"node {enhance} ({title(prompt, enhance)}): {name} must be set on the node (not wired) to split "
                         "the enhancement into segments.")
    return value
