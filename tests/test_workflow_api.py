"""The browser-format -> API converter on small hand-made workflows and node definitions (no ComfyUI needed)."""
import random

import pytest

from st2v_modules.headless.conversion import ConversionError, node_layout, process_dynamic_prompt, ui_to_api
from helpers.ui_workflow import feed_widget_from_primitive, insert_node_on_link, node, set_mode, workflow

COMBO = "COMBO"
OBJECT_INFO = {  # the shape of /object_info entries, cut to what the converter reads
    "CheckpointLoaderSimple": {"display_name": "Load Checkpoint", "input": {"required": {"ckpt_name": [["a.safetensors", "b.safetensors"], {}]}},
                               "input_order": {"required": ["ckpt_name"]}, "output": ["MODEL", "CLIP", "VAE"]},
    "CLIPTextEncode": {"display_name": "CLIP Text Encode (Prompt)", "input": {"required": {
        "text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP", {}]}},
        "input_order": {"required": ["text", "clip"]}, "output": ["CONDITIONING"]},
    "KSampler": {"display_name": "KSampler", "input": {"required": {
        "model": ["MODEL", {}], "seed": ["INT", {"default": 0, "control_after_generate": True}], "steps": ["INT", {"default": 20}],
        "cfg": ["FLOAT", {"default": 8.0}], "sampler_name": [COMBO, {"options": ["euler", "ddim"]}], "positive": ["CONDITIONING", {}],
        "latent_image": ["LATENT", {}]}},
        "input_order": {"required": ["model", "seed", "steps", "cfg", "sampler_name", "positive", "latent_image"]}, "output": ["LATENT"]},
    "EmptyLatentImage": {"display_name": "Empty Latent Image", "input": {"required": {"width": ["INT", {}], "height": ["INT", {}]}},
                         "input_order": {"required": ["width", "height"]}, "output": ["LATENT"]},
    "LoadImage": {"display_name": "Load Image", "input": {"required": {"image": [["cat.png"], {"image_upload": True}]}},
                  "input_order": {"required": ["image"]}, "output": ["IMAGE", "MASK"]},
    "ImageInvert": {"display_name": "Invert Image", "input": {"required": {"image": ["IMAGE", {}]}},
                    "input_order": {"required": ["image"]}, "output": ["IMAGE"]},
    "PreviewAny": {"display_name": "Preview Any", "input": {"required": {"source": ["*", {}]}}, "input_order": {"required": ["source"]},
                   "output": []},
    "Extend": {"display_name": "Extend", "input": {
        "required": {"frames": ["IMAGE", {}], "frames_to_add": ["INT", {"default": 64}]},
        "optional": {"prompt_schedule": ["STRING", {"multiline": True}], "clip": ["CLIP", {}], "redo_from_chunk": ["INT", {"default": -1}]}},
        "input_order": {"required": ["frames", "frames_to_add"], "optional": ["prompt_schedule", "clip", "redo_from_chunk"]},
        "output": ["IMAGE", "STRING"]},
}


def text_to_image() -> dict:
    """Checkpoint -> prompt -> KSampler, as the browser saves it (links: id, from, slot, to, slot, type)."""
    nodes = [
        node(1, "CheckpointLoaderSimple", ["b.safetensors"], outputs=[("MODEL", "MODEL", [1]), ("CLIP", "CLIP", [2]), ("VAE", "VAE", [])]),
        node(2, "CLIPTextEncode", ["a cat"], inputs=[("clip", "CLIP", 2)], outputs=[("CONDITIONING", "CONDITIONING", [3])], title="Prompt"),
        node(3, "EmptyLatentImage", [256, 192], outputs=[("LATENT", "LATENT", [4])]),
        node(4, "KSampler", [33, "randomize", 2, 7.5, "ddim"],
             inputs=[("model", "MODEL", 1), ("positive", "CONDITIONING", 3), ("latent_image", "LATENT", 4)], outputs=[("LATENT", "LATENT", [])]),
        node(5, "MarkdownNote", ["# Read me"]),
    ]
    links = [[1, 1, 0, 4, 0, "MODEL"], [2, 1, 1, 2, 0, "CLIP"], [3, 2, 0, 4, 1, "CONDITIONING"], [4, 3, 0, 4, 2, "LATENT"]]
    return workflow(nodes, links, groups=[{"id": 1, "title": "Sampling", "bounding": [0, 0, 500, 400]}])


def test_widgets_follow_the_inputs_and_the_seed_control_value_is_not_sent():
    prompt = ui_to_api(text_to_image(), OBJECT_INFO)
    assert prompt == {
        "1": {"inputs": {"ckpt_name": "b.safetensors"}, "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Load Checkpoint"}},
        "2": {"inputs": {"text": "a cat", "clip": ["1", 1]}, "class_type": "CLIPTextEncode", "_meta": {"title": "Prompt"}},
        "3": {"inputs": {"width": 256, "height": 192}, "class_type": "EmptyLatentImage", "_meta": {"title": "Empty Latent Image"}},
        "4": {"inputs": {"seed": 33, "steps": 2, "cfg": 7.5, "sampler_name": "ddim", "model": ["1", 0], "positive": ["2", 0],
                         "latent_image": ["3", 0]}, "class_type": "KSampler", "_meta": {"title": "KSampler"}},
    }


def test_a_reroute_passes_its_link_through():
    wf = insert_node_on_link(text_to_image(), 1, "Reroute")
    assert ui_to_api(wf, OBJECT_INFO) == ui_to_api(text_to_image(), OBJECT_INFO)


def test_a_primitive_node_sets_the_widget_it_feeds():
    prompt = ui_to_api(feed_widget_from_primitive(text_to_image(), 4, "steps", 9), OBJECT_INFO)
    assert prompt["4"]["inputs"]["steps"] == 9
    assert set(prompt) == {"1", "2", "3", "4"}


def test_a_bypassed_node_hands_on_its_input_of_the_same_type():
    images = workflow([
        node(1, "LoadImage", ["cat.png", "image"], outputs=[("IMAGE", "IMAGE", [1]), ("MASK", "MASK", [])]),
        node(2, "ImageInvert", inputs=[("image", "IMAGE", 1)], outputs=[("IMAGE", "IMAGE", [2])], mode=4),
        node(3, "Extend", [16, "", -1], inputs=[("frames", "IMAGE", 2)], outputs=[("IMAGE", "IMAGE", []), ("STRING", "STRING", [])]),
    ], [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"]])
    prompt = ui_to_api(images, OBJECT_INFO)
    assert set(prompt) == {"1", "3"}
    assert prompt["3"]["inputs"]["frames"] == ["1", 0]
    assert prompt["1"]["inputs"] == {"image": "cat.png"}  # the upload button's value stays in the file only


def test_a_muted_node_is_dropped_with_the_links_it_feeds():
    prompt = ui_to_api(set_mode(text_to_image(), 2, 2), OBJECT_INFO)
    assert "2" not in prompt and "positive" not in prompt["4"]["inputs"]


def test_optional_widgets_come_after_the_required_ones():
    extend = workflow([node(1, "Extend", [24, "0: a cat | 24: a dog", 3], inputs=[("frames", "IMAGE", None), ("clip", "CLIP", None)])], [])
    assert ui_to_api(extend, OBJECT_INFO)["1"]["inputs"] == {"frames_to_add": 24, "prompt_schedule": "0: a cat | 24: a dog",
                                                              "redo_from_chunk": 3}


def test_links_are_found_by_id_not_by_the_saved_slot_index():
    wf = text_to_image()
    wf["links"][2][4] = 0  # the frontend renumbers target slots when it drops unlinked widget inputs
    assert ui_to_api(wf, OBJECT_INFO)["4"]["inputs"]["positive"] == ["2", 0]


def test_an_unknown_node_type_is_named():
    wf = text_to_image()
    wf["nodes"][3]["type"] = "KSamplerRenamed"
    with pytest.raises(ConversionError, match=r"Node 4 \(KSamplerRenamed\): node type 'KSamplerRenamed' is not installed"):
        ui_to_api(wf, OBJECT_INFO)


def test_widget_values_that_do_not_match_the_inputs_are_refused():
    wf = text_to_image()
    wf["nodes"][3]["widgets_values"] = [33, "randomize", 2, 7.5]  # an input added to the node since
    with pytest.raises(ConversionError, match=r"Node 4 \(KSampler\): 4 widget values saved but the node has 5 widgets "
                                            r"\(seed, control_after_generate, steps, cfg, sampler_name\)"):
        ui_to_api(wf, OBJECT_INFO)


def test_an_input_the_node_no_longer_has_is_named():
    wf = text_to_image()
    wf["nodes"][3]["inputs"][1]["name"] = "conditioning"
    with pytest.raises(ConversionError, match=r"Node 4 \(KSampler\): input 'conditioning' no longer exists on KSampler"):
        ui_to_api(wf, OBJECT_INFO)


def test_preview_any_sends_the_display_widget_the_frontend_adds():
    wf = workflow([node(1, "CheckpointLoaderSimple", ["a.safetensors"], outputs=[("MODEL", "MODEL", [1])]),
                   node(2, "PreviewAny", inputs=[("source", "*", 1)])], [[1, 1, 0, 2, 0, "*"]])
    wf["definitions"] = None  # as the frontend exports a workflow without subgraphs
    assert ui_to_api(wf, OBJECT_INFO)["2"]["inputs"] == {"preview": "", "source": ["1", 0]}


def test_subgraphs_are_refused_with_what_to_do():
    wf = text_to_image()
    wf["definitions"] = {"subgraphs": [{"id": "x"}]}
    with pytest.raises(ConversionError, match="Unpack Subgraph"):
        ui_to_api(wf, OBJECT_INFO)


def test_list_values_are_wrapped_so_the_server_does_not_read_them_as_links():
    wf = workflow([node(1, "EmptyLatentImage", [[1, 2], 64])], [])
    assert ui_to_api(wf, OBJECT_INFO)["1"]["inputs"]["width"] == {"__value__": [1, 2]}


def test_dynamic_prompts_lose_comments_and_pick_one_option():
    assert process_dynamic_prompt("a cat // a comment\n/* gone */on a {red|red} mat \\{x\\}", random.Random(0)) == "a cat \non a red mat {x}"
    picks = {process_dynamic_prompt("{a|b|c}", random.Random(seed)) for seed in range(40)}
    assert picks == {"a", "b", "c"}
    wf = text_to_image()
    wf["nodes"][1]["widgets_values"] = ["a {cat|cat} // note"]
    assert ui_to_api(wf, OBJECT_INFO)["2"]["inputs"]["text"] == "a cat "


def test_layout_of_a_node_with_an_upload_button_and_a_seed():
    assert [w.name for w in node_layout(OBJECT_INFO["LoadImage"]).widgets] == ["image", "upload"]
    layout = node_layout(OBJECT_INFO["KSampler"])
    assert [name for name, _ in layout.inputs] == ["model", "positive", "latent_image", "seed", "steps", "cfg", "sampler_name"]
    assert [w.sent for w in layout.widgets] == [True, False, True, True, True]
