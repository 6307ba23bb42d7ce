"""What the extend benchmarks share: ComfyUI booted in this process on a models folder, the StreamingT2V pieces
(tiny official-layout weights built at run time, with a random TAESD VAE and ViT-H image encoder, or a real checkpoint),
and an extend request on the official sampler settings."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]
SIZE = 256  # the official frame size


def high_water_bytes() -> int:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from a forking parent)."""
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))


def write_tiny_models(models_dir: str) -> None:
    from helpers.fake_models import write_streamingt2v_files
    os.makedirs(os.path.join(models_dir, "streamingt2v"), exist_ok=True)
    write_streamingt2v_files(models_dir)


def boot_host(models_dir: str):
    """ComfyUI in library mode (COMFYUI_PATH) whose models folder is `models_dir`."""
    from helpers import host as test_host
    base = test_host.make_base_directory()
    os.rmdir(os.path.join(base, "models"))
    os.symlink(models_dir, os.path.join(base, "models"))
    return test_host.Host(test_host.find_comfyui(), base)


@dataclass
class Pieces:
    engine: object  # the pack's nodes.extend_engine as the host imported it
    guiding: object  # and its nodes.guiding
    model: object
    streamingt2v: object
    clip_vision: object
    vae: object
    clip: object = None  # the checkpoint's text encoder; None for the tiny weights


def load_tiny(h, models_dir: str) -> Pieces:
    import comfy.clip_vision
    import comfy.sd
    from helpers.fake_models import CLIP_VISION, STREAMINGT2V_CKPT, random_taesd
    model, _, _, _, stv = h.pack_module("nodes.streamingt2v_model").load_streamingt2v(
        os.path.join(models_dir, "streamingt2v", STREAMINGT2V_CKPT), STREAMINGT2V_CKPT)
    clip_vision = comfy.clip_vision.load(os.path.join(models_dir, "clip_vision", CLIP_VISION))
    return Pieces(h.pack_module("nodes.extend_engine"), h.pack_module("nodes.guiding"), model, stv, clip_vision, comfy.sd.VAE(sd=random_taesd()))


def load_checkpoint(h, path: str) -> Pieces:
    """The official streaming_t2v.ckpt (or its converted .safetensors): every piece comes from the one file."""
    model, clip, vae, clip_vision, stv = h.pack_module("nodes.streamingt2v_model").load_streamingt2v(path, os.path.basename(path))
    return Pieces(h.pack_module("nodes.extend_engine"), h.pack_module("nodes.guiding"), model, stv, clip_vision, vae, clip)


def extend_request(pieces: Pieces, start, total_frames: int, steps: int, output_frames: str, prefix: str,
                   positive: list | None = None, negative: list | None = None, seed: int = 33):
    """An extend from `start` to `total_frames` frames on the official sampling (DDIM eta 1, cfg 7.5, fresh noise
    per chunk); the prompts default to a zero text embedding."""
    import comfy.samplers
    import torch
    engine = pieces.engine
    zero = [[torch.zeros(1, 77, 1024), {}]]
    sigmas = comfy.samplers.calculate_sigmas(pieces.model.get_model_object("model_sampling"), "streamingt2v_ddim", steps)
    sampling = engine.Sampling(comfy.samplers.sampler_object("euler_ancestral"), sigmas,
                               pieces.guiding.cfg_guider(7.5), engine.seeded_noise(seed, shared=False), official_ddim=True)
    return engine.Request(model=pieces.model, streamingt2v=pieces.streamingt2v,
                          conds={"positive": positive or zero, "negative": negative or zero}, clip_vision=pieces.clip_vision, vae=pieces.vae, start=start,
                          frames_to_add=total_frames - len(start), sampling=sampling, filename_prefix=prefix,
                          output_frames=output_frames, seed=seed)
