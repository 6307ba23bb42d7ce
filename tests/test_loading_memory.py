"""Load StreamingT2V and Load Enhancer peak at most 1.3x the bytes of the weights they keep, in every weight dtype and
from both file formats: each part is read from its memory-mapped file in the dtype it is kept in and the file's pages
are released as it is copied (before, the mapped file stayed resident beside the copies: 2.11x and 1.62x at full size).

The nodes run in one fresh process with the real host (memory returned to the OS between loads). The UNets are
mid-sized (large enough for the figures not to be lost in noise) and outweigh the frozen parts (a random TAESD VAE, a
two-layer text tower) as at full size, where the VAE is 5% of the weights. That the optimizer state of a .ckpt is never
read: test_streamingt2v_memory."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from helpers.fake_models import random_like_shapes, random_taesd
from helpers.host import REPO, find_comfyui
from st2v_modules.checkpoints.enhancer import enhancer_safetensors_metadata
from st2v_modules.models.conditioner import StreamingT2VConditioner
from st2v_modules.models.config import UNet3DConfig
from st2v_modules.models.streaming_unet import StreamingUNet3D
from st2v_modules.models.unet3d import UNet3D

pytestmark = pytest.mark.host

PEAK_LIMIT = 1.3
DTYPES = ("default", "fp16", "bf16")
CONFIG = UNet3DConfig(block_out_channels=(320, 320), down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                      up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), attention_head_dim=64)
ENHANCER_CONFIG = UNet3DConfig(**{**CONFIG.to_dict(), "block_out_channels": (320, 640), "row_padded_resampling": True})
MEASURE = """
import ctypes, gc, json, os, sys
sys.path[:0] = [{tests!r}, {repo!r}]
from helpers.host import Host, find_comfyui, make_base_directory
base = make_base_directory()
os.rmdir(os.path.join(base, "models"))
os.symlink({models!r}, os.path.join(base, "models"))
nodes = Host(find_comfyui(), base).nodes.NODE_CLASS_MAPPINGS

def rss():
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmRSS"))

def high_water():
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))

def kept(modules):
    storages = {{}}
    for module in modules:
        for t in module.state_dict().values():
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())

results = []
for node, inputs in {cases!r}:
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    before = rss()
    open("/proc/self/clear_refs", "w").write("5")  # the high-water mark starts again from here
    outputs = nodes[node].execute(**inputs).result
    model, vae = outputs[0], outputs[1 if node == "STV_LoadEnhancer" else 2]
    modules = [model.model.diffusion_model, vae.first_stage_model]
    if node == "STV_LoadStreamingT2V":
        modules += [outputs[1].cond_stage_model, outputs[4].conditioner]
    results.append({{"case": [node, *inputs.values()], "kept": kept(modules), "peak": high_water() - before}})
    del outputs, model, vae, modules
print(json.dumps(results))
"""


def text_tower_shapes() -> dict[str, torch.Size]:
    """A two-layer, 128-wide CLIP text tower under the checkpoint's names (the loader reads the size off the weights)."""
    from transformers import CLIPTextConfig, CLIPTextModel
    config = CLIPTextConfig(hidden_size=128, intermediate_size=512, num_attention_heads=2, num_hidden_layers=2,
                            vocab_size=49408, max_position_embeddings=77)
    with torch.device("meta"):
        sd = CLIPTextModel(config).state_dict()
    return {"text_encoder." + (k if k.startswith("text_model.") else "text_model." + k): v.shape for k, v in sd.items()
            if not k.endswith("position_ids")}


def streamingt2v_files(folder) -> list[str]:
    """The same weights as an fp16 .safetensors and as an fp32 Lightning .ckpt."""
    unet = {"base_model." + k: v.shape for k, v in StreamingUNet3D(CONFIG, device="meta").state_dict().items()}
    cond = StreamingT2VConditioner(CONFIG, (32, 96, 256, 512), 1280, device="meta").state_dict()
    cond = {k.replace("cam.", "unet.", 1): v.shape for k, v in cond.items()}
    state = {k: v.float() for k, v in random_like_shapes({**unet, **cond, **text_tower_shapes()}, seed=5).items()}
    state.update({"vae." + k: v for k, v in random_taesd().items()})
    safetensors = os.path.join(folder, "streaming_t2v_fp16.safetensors")
    save_file({k: v.half() for k, v in state.items()}, safetensors)
    ckpt = os.path.join(folder, "streaming_t2v.ckpt")
    torch.save({"state_dict": state, "epoch": 0}, ckpt)
    return [safetensors, ckpt]


def enhancer_files(folder) -> list[tuple[str, str]]:
    """The UNet as fp16 and fp32 .safetensors, and an SD checkpoint (pickle) whose VAE is all that is read of it."""
    config = ENHANCER_CONFIG
    unet = random_like_shapes({k: v.shape for k, v in UNet3D(config, device="meta").state_dict().items()}, seed=6)
    fp16, fp32 = os.path.join(folder, "enhancer_fp16.safetensors"), os.path.join(folder, "enhancer.safetensors")
    save_file(unet, fp16, metadata=enhancer_safetensors_metadata(config))
    save_file({k: v.float() for k, v in unet.items()}, fp32, metadata=enhancer_safetensors_metadata(config))
    sd = os.path.join(folder, "v2-1_512-ema-pruned.ckpt")
    vae = {"first_stage_model." + k: v for k, v in random_taesd(seed=7).items()}
    torch.save({"state_dict": {**vae, "model.diffusion_model.unread": torch.zeros(100 * 2**20)}}, sd)
    return [(fp16, sd), (fp32, sd)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="measures /proc/self's resident-set high-water mark")
@pytest.mark.skipif(find_comfyui() is None, reason="needs the ComfyUI host")
def test_both_loaders_peak_within_1_3x_the_weights_kept_in_every_dtype(host, tmp_path):
    folder = tmp_path / "streamingt2v"
    folder.mkdir()
    safetensors, ckpt = streamingt2v_files(str(folder))
    (fp16_unet, vae), (fp32_unet, _) = enhancer_files(str(folder))
    load = lambda name, dtype: ("STV_LoadStreamingT2V", {"ckpt_name": os.path.basename(name), "weight_dtype": dtype})  # noqa: E731
    enhance = lambda name, dtype: ("STV_LoadEnhancer", {"unet_name": os.path.basename(name), "vae_name": os.path.basename(vae),  # noqa: E731
                                                        "weight_dtype": dtype})
    cases = [load(safetensors, dtype) for dtype in DTYPES] + [load(ckpt, "bf16")]
    cases += [enhance(fp32_unet, dtype) for dtype in DTYPES] + [enhance(fp16_unet, "default")]
    script = MEASURE.format(tests=os.path.join(REPO, "tests"), repo=REPO, models=str(tmp_path), cases=cases)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(results) == len(cases)
    for result in results:
        assert result["kept"] > 280 * 2**20, result
        ratio = result["peak"] / result["kept"]
        print(result["case"], f"peak {result['peak'] / 2**20:.0f} MiB, kept {result['kept'] / 2**20:.0f} MiB, ratio {ratio:.2f}")
        assert ratio <= PEAK_LIMIT, f"{result['case']}: peak {result['peak'] / 2**20:.0f} MiB for {result['kept'] / 2**20:.0f} MiB kept"
