"""Every shipped workflow, converted as the browser queues it and executed in the real ComfyUI on tiny models."""
import json
import os
import re

import numpy as np
import pytest

from helpers.graphs import newest_video, video_frames
from helpers.official_checkpoint import write_complete_streamingt2v
from st2v_modules.sampling.blending import fitting_length
from st2v_modules.sampling.chunks import NEW_FRAMES_PER_CHUNK
from st2v_modules.headless.conversion import ConversionError, node_layout, ui_to_api
from helpers.ui_workflow import edited_like_a_user
from helpers.workflow_cases import (FRAMES_TO_ADD, HEIGHT, TEST_IMAGE, TEST_VIDEO, TEST_VIDEO_FRAMES, TEST_VIDEO_SIZE, WIDTH,
                            for_tests, load, object_info, shipped_workflows, values_not_offered)

pytestmark = pytest.mark.host
WORKFLOWS = shipped_workflows()
IDS = [os.path.basename(p)[:-len(".json")] for p in WORKFLOWS]
SHIPPED = {"streamingt2v_text_to_video", "streamingt2v_extend_your_video", "streamingt2v_prompt_travel", "streamingt2v_low_vram"}
NOTE_TYPES = ("Note", "MarkdownNote")


@pytest.fixture(scope="module")
def info(host, models_dir) -> dict:
    """The host's node definitions once the test files are in place (combo options list the files)."""
    write_complete_streamingt2v(models_dir)
    write_start_media(host.folder_paths.get_input_directory())
    return object_info(host.nodes)


def write_start_media(folder: str) -> None:
    """A short clip and an image in ComfyUI's input folder, where Load Video and Load Image find uploads."""
    import av
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    width, height = TEST_VIDEO_SIZE
    with av.open(os.path.join(folder, TEST_VIDEO), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(TEST_VIDEO_FRAMES):
            pixels = np.full((height, width, 3), 20 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")))
        container.mux(stream.encode())
    Image.new("RGB", TEST_VIDEO_SIZE, (40, 90, 160)).save(os.path.join(folder, TEST_IMAGE))


def by_class(prompt: dict, class_type: str) -> dict:
    return {i: n for i, n in prompt.items() if n["class_type"] == class_type}


def test_the_four_workflows_are_shipped():
    assert SHIPPED <= set(IDS)


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_matches_the_hosts_nodes_and_explains_itself(path, info):
    """Strict conversion: every node type exists and its saved widgets fit its current inputs."""
    workflow = load(path)
    prompt = ui_to_api(workflow, info)
    assert by_class(prompt, "STV_Extend") or by_class(prompt, "STV_ExtendAdvanced")
    notes = [n["widgets_values"][0] for n in workflow["nodes"] if n["type"] in NOTE_TYPES]
    assert notes and all(word in "".join(notes) for word in ("models/streamingt2v", "streaming_t2v.ckpt", "## Change"))
    assert {"version", "links", "groups", "extra"} <= set(workflow) and workflow["groups"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_the_notes_name_nodes_as_the_canvas_shows_them(path, info):
    """A node named in bold in a note by its type's display name while every such node carries another title would
    send the reader looking for a node that is not on the canvas."""
    workflow = load(path)
    shown = {n.get("title") or info[n["type"]]["display_name"] for n in workflow["nodes"] if n["type"] in info}
    display_names = {info[n["type"]]["display_name"] for n in workflow["nodes"] if n["type"] in info}
    named = {m for n in workflow["nodes"] if n["type"] in NOTE_TYPES for m in re.findall(r"\*\*([^*]+)\*\*", n["widgets_values"][0])}
    assert not (named & display_names) - shown, "the note names these nodes by a title the canvas does not show"


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_shipped_settings_are_the_papers(path, info):
    prompt = ui_to_api(load(path), info)
    for node in by_class(prompt, "STV_Extend").values():
        inputs = node["inputs"]
        assert (inputs["steps"], inputs["cfg"], inputs["sampler_name"], inputs["scheduler"]) == (50, 7.5, "euler_ancestral", "streamingt2v_ddim")
        assert inputs["noise_mode"] == "fresh per chunk (official)" and inputs["fps"] == 8.0
        loader = inputs["model"][0]
        assert prompt[loader]["class_type"] == "STV_LoadStreamingT2V"
        assert [inputs[k] for k in ("model", "vae", "clip_vision", "streamingt2v")] == [[loader, 0], [loader, 2], [loader, 3], [loader, 4]]
    for node in by_class(prompt, "KSampler").values():  # the first chunk: DPM-Solver++ 2M on the official timesteps
        inputs = node["inputs"]
        assert (inputs["steps"], inputs["cfg"], inputs["sampler_name"], inputs["scheduler"]) == (50, 9, "dpmpp_2m", "streamingt2v_stage1")
    for node in list(by_class(prompt, "STV_EmptyVideoLatent").values()) + list(by_class(prompt, "ImageScale").values()):
        assert (node["inputs"]["width"], node["inputs"]["height"]) == (256, 256)
    for node in by_class(prompt, "STV_EmptyVideoLatent").values():
        assert node["inputs"]["frames"] == 16


def test_text_to_long_video_makes_1200_frames(info):
    prompt = ui_to_api(load(WORKFLOWS[IDS.index("streamingt2v_text_to_video")]), info)
    ((_, extend),) = by_class(prompt, "STV_Extend").items()
    assert 16 + extend["inputs"]["frames_to_add"] == 1200
    assert extend["inputs"]["output_frames"] == "last chunk"  # flat memory: the file has every frame
    assert prompt[extend["inputs"]["positive"][0]]["inputs"]["clip"][0] == extend["inputs"]["model"][0]  # the checkpoint's CLIP


def test_the_enhanced_workflow_feeds_every_frame_to_the_official_enhancer(info):
    prompt = ui_to_api(load(WORKFLOWS[IDS.index("streamingt2v_text_to_video_enhanced")]), info)
    ((_, extend),) = by_class(prompt, "STV_Extend").items()
    ((_, enhance),) = by_class(prompt, "STV_Enhance").items()
    assert 16 + extend["inputs"]["frames_to_add"] == 1200 and extend["inputs"]["output_frames"] == "all"
    inputs = enhance["inputs"]
    assert (inputs["steps"], inputs["strength"], inputs["cfg"], inputs["guidance_rescale"], inputs["sampler_name"]) == (30, 0.6, 7.5, 0.2, "dpmpp_2m_sde")
    assert (inputs["width"], inputs["height"], inputs["fit"], inputs["chunk_frames"], inputs["overlap_frames"]) == (1280, 720, "pad (official)", 24, 8)
    assert prompt[inputs["model"][0]]["class_type"] == "STV_LoadEnhancer" and inputs["vae"] == [inputs["model"][0], 1]


def caption_graph(prompt: dict, text_encoder: str) -> dict:
    """The enhanced workflow's nodes up to the enhancer's positive conditioning, with previews of the caption text and
    of the conditioning, its CLIP swapped for a core Load CLIP (the caption's wiring is what is tested)."""
    ((_, enhance),) = by_class(prompt, "STV_Enhance").items()
    encoder = enhance["inputs"]["positive"][0]
    needed, todo = set(), [encoder]
    while todo:
        node = todo.pop()
        needed.add(node)
        todo += [v[0] for k, v in prompt[node]["inputs"].items() if isinstance(v, list) and k != "clip"]
    graph = {i: json.loads(json.dumps(prompt[i])) for i in needed}
    graph["clip"] = {"class_type": "CLIPLoader", "inputs": {"clip_name": text_encoder, "type": "stable_diffusion", "device": "default"}}
    graph[encoder]["inputs"]["clip"] = ["clip", 0]
    graph["caption"] = {"class_type": "PreviewAny", "inputs": {"source": graph[encoder]["inputs"]["text"]}}
    graph["conditioning"] = {"class_type": "PreviewAny", "inputs": {"source": [encoder, 0]}}
    return graph


def test_the_enhancer_caption_follows_the_prompt(host, info):
    """The prompt is typed once: editing only it (in the browser, or with run_workflow --prompt) changes the enhancer's
    caption, the prompt followed by ', ' as the official video_to_video pipeline builds it, and so its conditioning.
    Before, the caption was a second text holding the old prompt; --prompt wrote the raw prompt there, dropping ', '."""
    from helpers.fake_models import TEXT_ENCODER
    from st2v_modules.headless.overrides import apply_aliases
    prompt = ui_to_api(load(WORKFLOWS[IDS.index("streamingt2v_text_to_video_enhanced")]), info)
    ((primitive, _),) = by_class(prompt, "PrimitiveStringMultiline").items()
    shown = {}
    for text in ("a red fox in the snow", "a blue whale under the sea"):
        prompt[primitive]["inputs"]["value"] = text  # what the user edits in the green Prompt
        outputs = host.run(caption_graph(prompt, TEXT_ENCODER))
        assert outputs["caption"]["text"] == [text + ", "]
        shown[text] = outputs["conditioning"]["text"][0]
    assert len(set(shown.values())) == 2, "the enhancer's conditioning changes with the prompt"
    apply_aliases(prompt, prompt_text="a heron")
    assert prompt[primitive]["inputs"]["value"] == "a heron"
    assert host.run(caption_graph(prompt, TEXT_ENCODER))["caption"]["text"] == ["a heron, "]
    first_chunk = [n for n in by_class(prompt, "CLIPTextEncode").values() if n["inputs"]["text"] == [primitive, 0]]
    assert first_chunk, "the first chunk's prompt encoder reads the same Prompt"


def test_low_vram_loads_fp8(info):
    prompt = ui_to_api(load(WORKFLOWS[IDS.index("streamingt2v_low_vram")]), info)
    loaders = {**by_class(prompt, "STV_LoadStreamingT2V"), **by_class(prompt, "STV_LoadModelScopeT2V")}
    assert len(loaders) == 2 and {n["inputs"]["weight_dtype"] for n in loaders.values()} == {"fp8_e4m3fn"}
    assert {n["inputs"]["output_frames"] for n in by_class(prompt, "STV_Extend").values()} == {"last chunk"}


def test_prompt_travel_encodes_its_schedule_with_the_clip(info):
    prompt = ui_to_api(load(WORKFLOWS[IDS.index("streamingt2v_prompt_travel")]), info)
    ((_, extend),) = by_class(prompt, "STV_Extend").items()
    assert len(extend["inputs"]["prompt_schedule"].strip().splitlines()) == 3
    assert prompt[extend["inputs"]["clip"][0]]["class_type"] == "STV_LoadStreamingT2V"


def test_a_changed_node_fails_the_workflows_that_use_it(info):
    """What a rename or a new input without updating workflows/ looks like: the conversion above refuses it."""
    workflow = load(WORKFLOWS[IDS.index("streamingt2v_text_to_video")])
    grown = json.loads(json.dumps(info))
    grown["STV_Extend"]["input"]["required"]["crf"] = ["INT", {"default": 17}]
    grown["STV_Extend"]["input_order"]["required"].append("crf")
    (saved,) = [len(n["widgets_values"]) for n in workflow["nodes"] if n["type"] == "STV_Extend"]
    with pytest.raises(ConversionError, match=rf"Node \d+ \(STV_Extend\): {saved} widget values saved but the node has {saved + 1}"):
        ui_to_api(workflow, grown)
    renamed = {k: v for k, v in info.items() if k != "STV_Extend"}
    with pytest.raises(ConversionError, match="node type 'STV_Extend' is not installed"):
        ui_to_api(workflow, renamed)


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_browser_edits_queue_the_same_prompt(path, info):
    """A Reroute, a bypassed node and a Primitive-driven seed change nothing that reaches the server."""
    workflow = load(path)
    layouts = {t: node_layout(info[t]) for t in {n["type"] for n in workflow["nodes"]} if t in info}
    assert ui_to_api(edited_like_a_user(workflow, layouts), info) == ui_to_api(workflow, info)


@pytest.mark.parametrize("path", WORKFLOWS, ids=IDS)
def test_workflow_runs_on_tiny_models(path, host, info):
    prompt = for_tests(ui_to_api(load(path), info))
    assert not values_not_offered(prompt, info)
    outputs = host.run(prompt)
    extends = by_class(prompt, "STV_Extend")
    for extend_id, extend in extends.items():
        video = newest_video(host, extend["inputs"]["filename_prefix"])
        (played,) = outputs[extend_id]["images"]  # the node's player shows the file
        assert os.path.join(played["subfolder"], played["filename"]) == os.path.relpath(video, host.folder_paths.get_output_directory())
        manifest = json.load(open(video[:-len(".mp4")] + ".json"))
        start = TEST_VIDEO_FRAMES if by_class(prompt, "LoadVideo") else 16
        assert manifest["status"] == "complete" and manifest["start_frames"] == start
        assert video_frames(video) == (start + FRAMES_TO_ADD, WIDTH, HEIGHT)
        schedule = extend["inputs"].get("prompt_schedule", "")
        if schedule:
            entries = [line.split(":", 1)[1].strip() for line in schedule.strip().splitlines()]
            assert [c["prompt"] for c in manifest["chunk_log"]] == entries[:len(manifest["chunk_log"])]
            assert len(set(entries[:len(manifest["chunk_log"])])) > 1
        held = NEW_FRAMES_PER_CHUNK if extend["inputs"]["output_frames"] == "last chunk" else start + FRAMES_TO_ADD
        previews = [i for i, n in prompt.items() if n["class_type"] == "PreviewImage" and n["inputs"]["images"] == [extend_id, 0]]
        assert all(len(outputs[i]["images"]) == held for i in previews)
    for enhance_id, enhance in by_class(prompt, "STV_Enhance").items():
        video = newest_video(host, enhance["inputs"]["filename_prefix"])
        assert outputs[enhance_id]["images"][0]["filename"] == os.path.basename(video)
        frames = fitting_length(16 + FRAMES_TO_ADD)  # the official trim to whole 24/8 chunks
        assert video_frames(video) == (frames, enhance["inputs"]["width"], enhance["inputs"]["height"])
