"""Prompts longer than 77 tokens are cut as the official tokenizers cut them (start, the first 75 tokens, end), in
every stage, and the log says so once per stage."""
import logging
import os

import pytest
import torch

pytestmark = pytest.mark.host
LONG_PROMPT = " ".join(["a corgi running along a sunny beach"] * 12)  # 85 tokens
END = 49407


def official_ids(text: str) -> list[int]:
    """The official stages' tokenizer call (`padding="max_length", max_length=77, truncation=True`), up to the end token."""
    transformers = pytest.importorskip("transformers")
    import comfy.sd1_clip
    tokenizer = transformers.CLIPTokenizer.from_pretrained(os.path.join(os.path.dirname(comfy.sd1_clip.__file__), "sd1_tokenizer"))
    ids = tokenizer(text, padding="max_length", max_length=77, truncation=True)["input_ids"]
    return ids[:ids.index(END) + 1]


def test_the_hosts_first_block_of_a_long_prompt_is_the_official_cut(host, models_dir):
    import comfy.sd
    from helpers.fake_models import TEXT_ENCODER
    clip = comfy.sd.load_clip([os.path.join(models_dir, "text_encoders", TEXT_ENCODER)])
    blocks = clip.tokenize(LONG_PROMPT)["h"]
    ids = [token for token, _ in blocks[0]]
    assert len(blocks) == 2 and ids[:ids.index(END) + 1] == official_ids(LONG_PROMPT)
    assert len(official_ids(LONG_PROMPT)) == 77


def test_every_stage_keeps_the_first_block_and_says_so_once(host, caplog):
    """Before: the first chunk's KSampler and the enhancer attended to all 154 tokens of a two-block prompt and the
    extension warned at every chunk. After: each keeps the official 77, one warning per stage."""
    from helpers.fake_models import ENHANCER, SINGLE_FILE_FP16
    two_blocks = torch.randn(1, 154, 1024, generator=torch.Generator().manual_seed(0))
    loader = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    first_chunk = loader.execute(unet_name=SINGLE_FILE_FP16, weight_dtype="default").result[0]
    enhancer = host.pack_module("nodes.enhancer_model").load_enhancer(
        os.path.join(host.folder_paths.get_folder_paths("streamingt2v")[0], ENHANCER))
    conditioning = host.pack_module("nodes.conditioning")
    host.pack_module("nodes.prompts")._said.clear()
    with caplog.at_level(logging.WARNING):
        for model in (first_chunk, enhancer, first_chunk, enhancer):
            conds = model.model.extra_conds(cross_attn=two_blocks, noise=torch.zeros(4, 4, 8, 8))
            assert torch.equal(conds["c_crossattn"].cond, two_blocks[:, :77])
        for chunk in range(2):
            ((context, _),) = conditioning.with_chunk_conditions([[two_blocks, {}]], torch.zeros(1, 16, 1024), torch.zeros(1))
            assert torch.equal(context[:, :77], two_blocks[:, :77]) and context.shape == (1, 93, 1024)
    for stage in ("the first chunk", "the enhancer", "the extension"):
        assert caplog.text.count(f"StreamingT2V: the prompt of {stage} is longer than 77 tokens (2 blocks)") == 1, stage
