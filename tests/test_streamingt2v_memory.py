"""Loading the Lightning checkpoint costs at most 1.3x the bytes of the weights kept: the optimizer state is never read."""
import json
import os
import subprocess
import sys

import torch

from st2v_modules.models.conditioner import StreamingT2VConditioner
from st2v_modules.models.config import UNet3DConfig
from st2v_modules.models.streaming_unet import StreamingUNet3D

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PEAK_LIMIT = 1.3
MEASURE = """
import json, sys
import psutil, torch
sys.path.insert(0, {repo!r})
from st2v_modules.checkpoints.streamingt2v import read_streamingt2v
before = psutil.Process().memory_info().rss
weights = read_streamingt2v({path!r})
parts = [weights.unet, weights.cam, weights.resampler]
kept = sum(t.numel() * t.element_size() for part in parts for t in part.values())
checksum = sum(float(t.sum()) for part in parts for t in part.values())  # touch every kept byte
# VmHWM starts afresh at exec (ru_maxrss would still hold the forking pytest process's size)
high_water = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
peak = high_water - before
print(json.dumps({{"kept": kept, "peak": peak, "checksum": checksum}}))
"""


def test_peak_ram_while_loading_stays_within_1_3x_the_weights_kept(tmp_path):
    config = UNet3DConfig(block_out_channels=(256, 256), down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                          up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), attention_head_dim=64)
    unet = StreamingUNet3D(config).state_dict()
    conditioner = StreamingT2VConditioner(config, (32, 96, 256, 512), 1280).state_dict()
    state = {**{"base_model." + k: v for k, v in unet.items()}, **{k.replace("cam.", "unet.", 1): v for k, v in conditioner.items()}}
    kept = sum(t.numel() * t.element_size() for t in state.values())
    # Adam moments of the same size twice over, as in the real 25.6 GB file
    optimizer = {i: {"exp_avg": torch.randn_like(t), "exp_avg_sq": torch.randn_like(t)} for i, t in enumerate(state.values())}
    path = str(tmp_path / "streaming_t2v.ckpt")
    torch.save({"state_dict": state, "optimizer_states": [{"state": optimizer}]}, path)
    del optimizer
    done = subprocess.run([sys.executable, "-c", MEASURE.format(repo=REPO, path=path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kept"] == kept and kept > 200 * 2**20
    assert result["peak"] <= PEAK_LIMIT * kept, f"peak {result['peak'] / 2**20:.0f} MiB for {kept / 2**20:.0f} MiB kept"
