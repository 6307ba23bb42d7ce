"""The shipped workflows as tests run them: converted with the host's node definitions, the model files swapped
for the tiny test files and the sizes shrunk, both by table, so a new loader or node is one line here."""
from __future__ import annotations

import glob
import json
import os
import re
from typing import Any, Callable

from helpers.fake_models import CLIP_VISION, DIFFUSERS_UNET, ENHANCER, ENHANCER_VAE, TEXT_ENCODER, VAE
from helpers.official_checkpoint import COMPLETE_STREAMINGT2V
from st2v_modules.sampling.chunks import EXTEND_CHUNK_FRAMES, NEW_FRAMES_PER_CHUNK

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKFLOWS_DIR = os.path.join(REPO, "workflows")
TEST_VIDEO, TEST_VIDEO_FRAMES, TEST_VIDEO_SIZE = "stv_test_clip.mp4", 12, (80, 60)
TEST_IMAGE = "stv_test_image.png"
WIDTH, HEIGHT = 32, 16
FRAMES_TO_ADD = 2 * NEW_FRAMES_PER_CHUNK
TEST_PROMPT = "a test prompt"

# (node class, input) -> the tiny test file that replaces what a user downloads
MODEL_FILES: dict[tuple[str, str], str] = {
    ("STV_LoadModelScopeT2V", "unet_name"): DIFFUSERS_UNET,
    ("STV_LoadStreamingT2V", "ckpt_name"): COMPLETE_STREAMINGT2V,
    ("STV_ConvertStreamingT2V", "ckpt_name"): COMPLETE_STREAMINGT2V,
    ("STV_LoadEnhancer", "unet_name"): ENHANCER,
    ("STV_LoadEnhancer", "vae_name"): ENHANCER_VAE,
    ("CLIPLoader", "clip_name"): TEXT_ENCODER,
    ("VAELoader", "vae_name"): VAE,
    ("CLIPVisionLoader", "clip_name"): CLIP_VISION,
    ("LoadVideo", "file"): TEST_VIDEO,
    ("LoadImage", "image"): TEST_IMAGE,
}


def one_chunk_per_entry(schedule: str) -> str:
    """Entry k of a prompt schedule moved to the first new frame of chunk k, so a short run meets every prompt."""
    count = iter(range(len(schedule)))

    def move(match: re.Match) -> str:
        k = next(count)
        return f"{match.group(1)}{0 if k == 0 else EXTEND_CHUNK_FRAMES + NEW_FRAMES_PER_CHUNK * k}:"

    return re.sub(r"(^|[|\n]\s*)\d+\s*:", move, schedule)


# (node class, input) -> a small value, or a function of the shipped one
SHRINK: dict[tuple[str, str], Any | Callable[[Any], Any]] = {
    ("STV_EmptyVideoLatent", "width"): WIDTH,
    ("STV_EmptyVideoLatent", "height"): HEIGHT,
    ("ImageScale", "width"): WIDTH,
    ("ImageScale", "height"): HEIGHT,
    ("CLIPTextEncode", "text"): lambda text: text and TEST_PROMPT,  # one text: the host's cache encodes it once for all runs
    ("PrimitiveStringMultiline", "value"): lambda text: text and TEST_PROMPT,  # a prompt typed once for several encoders
    ("KSampler", "steps"): 1,
    ("STV_Extend", "steps"): 1,
    ("STV_Extend", "frames_to_add"): FRAMES_TO_ADD,
    ("STV_Extend", "prompt_schedule"): one_chunk_per_entry,
    ("STV_Enhance", "steps"): 1,
    ("STV_Enhance", "width"): 64,
    ("STV_Enhance", "height"): 80,
}


def shipped_workflows() -> list[str]:
    """Every workflow in workflows/, found by name so a new file is tested without touching the tests."""
    return sorted(glob.glob(os.path.join(WORKFLOWS_DIR, "*.json")))


def load(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def object_info(nodes) -> dict:
    """What the server's GET /object_info sends the browser, built in library mode (the fields the converter reads)."""
    info = {}
    for name, cls in nodes.NODE_CLASS_MAPPINGS.items():
        if hasattr(cls, "GET_NODE_INFO_V1"):
            info[name] = cls.GET_NODE_INFO_V1()
            continue
        inputs = cls.INPUT_TYPES()
        info[name] = {"input": inputs, "input_order": {group: list(specs) for group, specs in inputs.items()},
                      "output": list(cls.RETURN_TYPES), "display_name": nodes.NODE_DISPLAY_NAME_MAPPINGS.get(name, name)}
    return info


def for_tests(prompt: dict) -> dict:
    """A copy of the API prompt with tiny model files and small sizes."""
    small = json.loads(json.dumps(prompt))
    for node in small.values():
        for name, value in node["inputs"].items():
            key = (node["class_type"], name)
            if isinstance(value, list):  # a link: the value comes from the node it names
                continue
            if key in MODEL_FILES:
                node["inputs"][name] = MODEL_FILES[key]
            elif key in SHRINK:
                change = SHRINK[key]
                node["inputs"][name] = change(value) if callable(change) else change
    return small


def combo_options(info: dict, class_type: str, name: str) -> list | None:
    inputs = info[class_type]["input"]
    spec = {**inputs.get("required", {}), **inputs.get("optional", {})}.get(name)
    if spec is None:
        return None
    if isinstance(spec[0], list):
        return spec[0]
    return spec[1].get("options") if spec[0] == "COMBO" and len(spec) > 1 else None


def values_not_offered(prompt: dict, info: dict) -> list[str]:
    """Combo values the host would refuse (a model file without a test stand-in), each with the fix."""
    problems = []
    for node_id, node in prompt.items():
        for name, value in node["inputs"].items():
            options = combo_options(info, node["class_type"], name)
            if options is not None and not isinstance(value, list) and value not in options:
                problems.append(f"node {node_id} {node['class_type']}.{name} = {value!r} is not offered by the test host: "
                                f"add ({node['class_type']!r}, {name!r}): <tiny test file> to MODEL_FILES in tests/workflow_cases.py")
    return problems
