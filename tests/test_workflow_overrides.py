"""Command-line overrides on API workflows: nodes named by id, title or class; aliases found through the graph."""
import pytest

from helpers.graphs import first_chunk_and_extend, streamingt2v_chunk, text_to_video
from st2v_modules.headless.overrides import OverrideError, apply_aliases, apply_set


def test_set_by_id_title_and_class_converts_to_the_input_type():
    prompt = text_to_video()
    prompt["7"]["_meta"] = {"title": "First chunk sampler"}
    changes = []
    apply_set(prompt, "7.steps=20", changes)
    apply_set(prompt, "First chunk sampler.cfg=6.5", changes)
    apply_set(prompt, "SaveVideo.filename_prefix=runs/a=b", changes)  # only the first '=' splits
    assert (prompt["7"]["inputs"]["steps"], prompt["7"]["inputs"]["cfg"]) == (20, 6.5)
    assert prompt["10"]["inputs"]["filename_prefix"] == "runs/a=b"
    assert changes[0] == "7 (First chunk sampler).steps = 20"


@pytest.mark.parametrize("assignment, message", [
    ("7.stepz=3", "has no input 'stepz'; it has: model, seed, steps"),
    ("Nope.steps=3", "no node 'Nope' in the workflow; its nodes are: 1 (STV_LoadModelScopeT2V)"),
    ("CLIPTextEncode.text=x", "2 nodes are called 'CLIPTextEncode' (ids 4, 5)"),
    ("7.steps=many", "7.steps: 'many' is not a number (int)"),
    ("7.positive=x", "positive of node 7 is wired to node 4 (CLIPTextEncode); set that node instead"),
    ("steps=3", "write node.input=value"),
])
def test_bad_set_says_what_exists(assignment, message):
    with pytest.raises(OverrideError, match=None) as error:
        apply_set(text_to_video(), assignment, [])
    assert message in str(error.value)


def test_prompt_and_negative_follow_conditioning_through_streamingt2v_conditioning():
    prompt = streamingt2v_chunk()  # CLIPTextEncode -> STV_Conditioning -> KSampler
    apply_aliases(prompt, prompt_text="a fox", negative="blurry")
    assert prompt["4"]["inputs"]["text"] == "a fox" and prompt["5"]["inputs"]["text"] == "blurry"


def test_prompt_set_on_a_primitive_that_feeds_the_text():
    prompt = text_to_video()
    prompt["30"] = {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "old"}}
    prompt["4"]["inputs"]["text"] = ["30", 0]
    apply_aliases(prompt, prompt_text="a heron")
    assert prompt["30"]["inputs"]["value"] == "a heron"


def test_seed_sets_every_sampler_and_frames_is_the_total_length():
    prompt = first_chunk_and_extend(frames_to_add=32)
    changes = apply_aliases(prompt, seed=9, frames=80)
    assert prompt["7"]["inputs"]["seed"] == 9 and prompt["20"]["inputs"]["seed"] == 9
    assert prompt["20"]["inputs"]["frames_to_add"] == 64  # 80 minus the 16-frame first chunk
    assert len(changes) == 3


def test_frames_without_an_extend_node_is_the_first_chunk_length():
    prompt = text_to_video()
    apply_aliases(prompt, frames=24)
    assert prompt["6"]["inputs"]["frames"] == 24


def test_frames_not_longer_than_the_first_chunk_is_refused():
    with pytest.raises(OverrideError, match="already has 16 frames"):
        apply_aliases(first_chunk_and_extend(), frames=16)


def test_prompt_sets_the_primitive_a_derived_caption_reads():
    """The enhanced workflow's wiring: one Prompt primitive, a Concatenate appending ', ' for the enhancer's caption."""
    prompt = text_to_video()
    prompt["30"] = {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "old"}}
    prompt["31"] = {"class_type": "StringConcatenate", "inputs": {"string_a": ["30", 0], "string_b": "", "delimiter": ", "}}
    prompt["32"] = {"class_type": "CLIPTextEncode", "inputs": {"text": ["31", 0], "clip": ["2", 0]}}
    prompt["33"] = {"class_type": "STV_Enhance", "inputs": {"positive": ["32", 0], "negative": ["5", 0]}}
    prompt["4"]["inputs"]["text"] = ["30", 0]
    changes = apply_aliases(prompt, prompt_text="a heron")
    assert prompt["30"]["inputs"]["value"] == "a heron" and changes == ["30 (PrimitiveStringMultiline).value = 'a heron'"]
    assert prompt["31"]["inputs"] == {"string_a": ["30", 0], "string_b": "", "delimiter": ", "}
