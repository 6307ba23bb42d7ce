"""A models folder as a user has it after downloading ModelScope T2V, with random weights.

The UNet is tiny; the text encoder and VAE keep their real architecture (the host builds those
from fixed configs) with random fp16 weights.
"""
from __future__ import annotations

import os

import torch
from safetensors.torch import save_file

from helpers.tiny_models import (TINY_ENHANCER_CONFIG, TINY_ENHANCER_UNETSD_KWARGS, modelscope_unetsd_class, randomize, tiny_unet,
                                 write_diffusers_unet, write_modelscope_unet, write_single_file)
from st2v_modules.models.unet3d import UNet3D

DIFFUSERS_UNET = "text-to-video-ms-1.7b/unet/diffusion_pytorch_model.safetensors"
SINGLE_FILE_FP16 = "modelscope_t2v_unet_fp16.safetensors"
MODELSCOPE_PTH = "modelscope-t2v/text2video_pytorch_model.pth"
TEXT_ENCODER = "modelscope_text_encoder.safetensors"
VAE = "modelscope_vae.safetensors"
STREAMINGT2V_CKPT = "streaming_t2v_tiny.ckpt"
CLIP_VISION = "open_clip_vit_h14.safetensors"
ENHANCER = "ms_vid2vid_tiny.safetensors"
ENHANCER_VAE = "enhancer_sd_vae.safetensors"
NOT_A_UNET = "not_a_unet.safetensors"
TRUNCATED = "truncated_unet.safetensors"


def random_like_shapes(shapes: dict[str, torch.Size], seed: int, std: float = 0.02) -> dict[str, torch.Tensor]:
    """Norm scales 1, biases 0, everything else small Gaussian noise, stored as fp16."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for key, shape in shapes.items():
        if key.endswith("bias"):
            out[key] = torch.zeros(shape, dtype=torch.float16)
        elif ("norm" in key or "ln_" in key) and len(shape) == 1:
            out[key] = torch.ones(shape, dtype=torch.float16)
        else:
            out[key] = (torch.randn(shape, generator=g) * std).half()
    return out


def text_encoder_shapes() -> dict[str, torch.Size]:
    """OpenCLIP ViT-H text tower as the diffusers folder ships it (transformers CLIPTextModel, 23 layers)."""
    from transformers import CLIPTextConfig, CLIPTextModel
    config = CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16, num_hidden_layers=23,
                            hidden_act="gelu", projection_dim=1024, vocab_size=49408, max_position_embeddings=77)
    with torch.device("meta"):
        shapes = CLIPTextModel(config).state_dict()
    # the published file names keys `text_model.*`, which transformers 5 no longer prints
    return {k if k.startswith("text_model.") else "text_model." + k: v.shape for k, v in shapes.items()}


def vae_shapes() -> dict[str, torch.Size]:
    """The SD VAE in diffusers layout (the folder's vae/diffusion_pytorch_model.safetensors)."""
    from diffusers import AutoencoderKL
    with torch.device("meta"):
        vae = AutoencoderKL(down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4)
        return {k: v.shape for k, v in vae.state_dict().items()}


def write_models_folder(models_dir: str, with_modelscope_pth: bool = True) -> None:
    t2v = os.path.join(models_dir, "streamingt2v")
    unet = tiny_unet()
    write_diffusers_unet(os.path.join(t2v, "text-to-video-ms-1.7b"), unet)
    write_single_file(os.path.join(t2v, SINGLE_FILE_FP16), unet, torch.float16)
    if with_modelscope_pth:
        write_modelscope_unet(os.path.join(t2v, os.path.dirname(MODELSCOPE_PTH)))
    save_file({"encoder.down.0.block.0.conv1.weight": torch.zeros(8, 8, 3, 3)}, os.path.join(t2v, NOT_A_UNET))
    with open(os.path.join(t2v, SINGLE_FILE_FP16), "rb") as f:
        head = f.read(4096)
    with open(os.path.join(t2v, TRUNCATED), "wb") as f:
        f.write(head)
    for folder, name, shapes, seed in [("text_encoders", TEXT_ENCODER, text_encoder_shapes(), 1), ("vae", VAE, vae_shapes(), 2),
                                       ("streamingt2v", ENHANCER_VAE, vae_shapes(), 5)]:
        os.makedirs(os.path.join(models_dir, folder), exist_ok=True)
        save_file(random_like_shapes(shapes, seed), os.path.join(models_dir, folder, name))
    write_streamingt2v_files(models_dir)
    write_enhancer(os.path.join(t2v, ENHANCER))


def open_clip_vit_h14_shapes() -> dict[str, torch.Size]:
    """OpenCLIP ViT-H/14 in open_clip layout as streaming_t2v.ckpt keeps it (`image_encoder.model.*`): the vision
    tower (`visual.*`: 32 blocks of width 1280, 14-pixel patches at 224, projected to 1024) and what is left of the
    text tower once its transformer is deleted."""
    width, mlp, out = 1280, 5120, 1024
    shapes = {"positional_embedding": (77, out), "text_projection": (out, out), "logit_scale": (),
              "token_embedding.weight": (49408, out), "ln_final.weight": (out,), "ln_final.bias": (out,),
              "visual.class_embedding": (width,), "visual.positional_embedding": ((224 // 14) ** 2 + 1, width),
              "visual.proj": (width, out), "visual.conv1.weight": (width, 3, 14, 14),
              "visual.ln_pre.weight": (width,), "visual.ln_pre.bias": (width,),
              "visual.ln_post.weight": (width,), "visual.ln_post.bias": (width,)}
    for i in range(32):
        block = f"visual.transformer.resblocks.{i}."
        shapes.update({block + "ln_1.weight": (width,), block + "ln_1.bias": (width,),
                       block + "attn.in_proj_weight": (3 * width, width), block + "attn.in_proj_bias": (3 * width,),
                       block + "attn.out_proj.weight": (width, width), block + "attn.out_proj.bias": (width,),
                       block + "ln_2.weight": (width,), block + "ln_2.bias": (width,),
                       block + "mlp.c_fc.weight": (mlp, width), block + "mlp.c_fc.bias": (mlp,),
                       block + "mlp.c_proj.weight": (width, mlp), block + "mlp.c_proj.bias": (width,)})
    return {k: torch.Size(s) for k, s in shapes.items()}


def clip_vision_shapes() -> dict[str, torch.Size]:
    """OpenCLIP ViT-H/14's vision tower in open_clip layout (`visual.*`), as core Load CLIP Vision reads it."""
    return {k: s for k, s in open_clip_vit_h14_shapes().items() if k.startswith("visual.")}


def write_streamingt2v_files(models_dir: str) -> None:
    """A tiny official-layout StreamingT2V as a Lightning checkpoint, and a random image encoder for the APM."""
    from helpers.official_checkpoint import tiny_official_weights
    torch.save({"state_dict": tiny_official_weights(), "epoch": 0}, os.path.join(models_dir, "streamingt2v", STREAMINGT2V_CKPT))
    os.makedirs(os.path.join(models_dir, "clip_vision"), exist_ok=True)
    save_file(random_like_shapes(clip_vision_shapes(), seed=3), os.path.join(models_dir, "clip_vision", CLIP_VISION))


def tiny_enhancer_published(seed: int = 0) -> dict[str, torch.Tensor]:
    """A tiny MS-Vid2Vid-XL UNet under the published keys (`UNetSD` layout, as in non_ema_0035000.pth), random and
    seeded; `TINY_ENHANCER_CONFIG` is its config in our names."""
    torch.manual_seed(seed)
    return randomize(modelscope_unetsd_class()(**TINY_ENHANCER_UNETSD_KWARGS), seed).state_dict()


def write_enhancer(path: str) -> None:
    """A tiny random MS-Vid2Vid-XL UNet as a converted .safetensors that names its own config."""
    from st2v_modules.checkpoints.enhancer import enhancer_safetensors_metadata
    torch.manual_seed(5)
    unet = randomize(UNet3D(TINY_ENHANCER_CONFIG), seed=5)
    save_file({k: v.contiguous() for k, v in unet.state_dict().items()}, path,
              metadata=enhancer_safetensors_metadata(TINY_ENHANCER_CONFIG))


def random_taesd(seed: int = 4) -> dict[str, torch.Tensor]:
    """Random TAESD encoder and decoder weights under the keys the host's VAE class recognises: a VAE cheap enough
    for 720p-style runs. Needs the booted host (it reads the shapes off the host's TAESD)."""
    import comfy.taesd.taesd
    taesd = comfy.taesd.taesd.TAESD()
    sd = {}
    for part in ("taesd_encoder", "taesd_decoder"):
        shapes = {k: v.shape for k, v in getattr(taesd, part).state_dict().items()}
        sd.update({f"{part}.{k}": v.float() for k, v in random_like_shapes(shapes, seed=seed, std=0.1).items()})
    return sd


def write_taesd(folder: str) -> None:
    """`random_taesd` as the two files core Load VAE offers as "taesd"."""
    os.makedirs(folder, exist_ok=True)
    sd = random_taesd()
    for part in ("taesd_encoder", "taesd_decoder"):
        save_file({k[len(part) + 1:]: v for k, v in sd.items() if k.startswith(part + ".")}, os.path.join(folder, f"{part}.safetensors"))
