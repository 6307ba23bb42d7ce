"""What a distributed run gives each worker, without a cluster: the prompt list read, and the workflow cut into the
stages the workers run (each item in its folder, a resumed extension, the enhancement reading the extended video,
one segment of it)."""
import pytest

from helpers.graphs import extend_and_enhance, first_chunk_and_extend
from st2v_modules.distributed import stages
from st2v_modules.distributed.items import Item, read_items
from st2v_modules.headless.runner import UsageError

OUTPUT_CLASSES = {"PreviewImage", "PreviewAny", "SaveVideo", "STV_Extend", "STV_Enhance"}  # as /object_info marks them


def test_a_plain_list_is_one_prompt_per_line():
    assert read_items("a cat surfing\n\n# later\n  a heron fishing  \n") == [Item(0, "a cat surfing"), Item(1, "a heron fishing")]


def test_json_lines_carry_each_videos_own_settings():
    (item,) = read_items('{"prompt": "a cat", "negative": "blur", "seed": 3, "frames": 80, "set": {"KSampler.steps": 20, "x.on": true}}')
    assert item == Item(0, "a cat", "blur", 3, 80, ("KSampler.steps=20", "x.on=true"))
    assert item.overrides(("STV_Extend.steps=5",)).sets == ("STV_Extend.steps=5", "KSampler.steps=20", "x.on=true")


@pytest.mark.parametrize("line, message", [
    ('{"prompt": "a cat", "seeds": 3}', 'line 1: unknown key\\(s\\) seeds; the keys are frames, negative, prompt, seed, set'),
    ('{"prompt": "a cat", "frames": "80"}', 'line 1: "frames" must be a whole number'),
    ('{"seed": 3}', 'line 1: each line needs a "prompt" text'),
    ('{"prompt": "a cat",}', "line 1 is not JSON"),
    ('{"prompt": "a cat", "set": "KSampler.steps=2"}', '"set" is a list of "node.input=value" texts or an object'),
])
def test_a_bad_json_line_is_refused_naming_the_line_and_the_fix(line, message):
    with pytest.raises(UsageError, match=message):
        read_items(line, "prompts.jsonl")


def test_every_file_of_an_item_goes_to_its_folder():
    prompt = stages.in_folder(extend_and_enhance(prefix="StreamingT2V/enhanced"), "run/007")
    assert prompt["20"]["inputs"]["filename_prefix"] == "run/007/stv_extend"
    assert prompt["32"]["inputs"]["filename_prefix"] == "run/007/enhanced"


def test_a_resumed_extension_reads_its_start_from_the_manifest_and_skips_the_first_chunks_outputs():
    graph = first_chunk_and_extend(frames_to_add=24)
    graph["30"] = {"class_type": "PreviewImage", "inputs": {"images": ["8", 0]}}  # shows the first chunk only
    prompt = stages.resumed(graph, "20", "run/001/stv_extend_00001_.json", 16, OUTPUT_CLASSES)
    extend = prompt["20"]["inputs"]
    assert (extend["resume_manifest"], extend["frames_to_add"], extend["redo_from_chunk"]) == ("run/001/stv_extend_00001_.json", 16, -1)
    assert prompt[extend["start_frames"][0]]["class_type"] == "EmptyImage"  # not the first chunk's decode
    assert "30" not in prompt and "21" in prompt  # the preview of the extended frames stays
    assert graph["20"]["inputs"]["frames_to_add"] == 24  # the workflow itself is untouched


def test_the_enhancement_stage_reads_the_extended_video_and_the_extension_stage_stops_before_the_enhancer():
    graph = extend_and_enhance(frames_to_add=24)
    graph["20"]["inputs"]["video_format"] = "png sequence (lossless)"
    extension, changes = stages.extension_stage(graph, "20", "32")
    assert not {"32", "33"} & set(extension) and extension[stages.EXTENDED_PATH]["inputs"]["source"] == ["20", 1]
    assert extension["20"]["inputs"]["video_format"] == "mp4 (h264)" and "the enhancement stage reads an mp4" in changes[0]
    enhancement = stages.video_file(stages.enhancement_stage(graph, "20", "32", OUTPUT_CLASSES), "run/001/v_00001_.mp4", "/out/run/001/v_00001_.mp4")
    assert "20" not in enhancement and enhancement["32"]["inputs"]["frames"] == [stages.LOADED_FRAMES, 0]
    assert enhancement[stages.LOADED_VIDEO]["inputs"]["file"] == "run/001/v_00001_.mp4 [output]"
    assert enhancement[stages.ENHANCED_PATH]["inputs"]["source"] == ["32", 1]


def test_a_segment_enhances_its_frames_alone_as_a_png_sequence():
    enhancement = stages.enhancement_stage(extend_and_enhance(frames_to_add=24), "20", "32", OUTPUT_CLASSES)
    segment = stages.segment_stage(enhancement, "32", (16, 72), "enhanced_segment2")
    window = segment[segment["32"]["inputs"]["frames"][0]]
    assert window == {"class_type": "ImageFromBatch", "inputs": {"image": [stages.LOADED_FRAMES, 0], "batch_index": 16, "length": 56}}
    assert segment["32"]["inputs"]["video_format"] == "png sequence (lossless)"
    assert segment["32"]["inputs"]["filename_prefix"] == "enhanced_segment2"
    assert "33" not in segment and stages.ENHANCED_PATH in segment  # what follows the enhancer would see one segment


def test_a_split_needs_one_extension_feeding_one_enhancer():
    graph = extend_and_enhance()
    graph["32"]["inputs"]["frames"] = ["8", 0]  # the enhancer reads the first chunk, not the extension
    with pytest.raises(stages.StageError, match="does not read the video of node 20"):
        stages.enhancement_stage(graph, "20", "32", OUTPUT_CLASSES)
    graph["40"] = dict(graph["20"])
    with pytest.raises(stages.StageError, match="the workflow has 2 StreamingT2V Extend nodes \\(20 \\(STV_Extend\\), 40"):
        stages.extend_node(graph)
