"""API-format graphs the way a user wires them: our loader and latent, everything else core nodes."""
from __future__ import annotations

import os

from helpers.fake_models import DIFFUSERS_UNET, TEXT_ENCODER, VAE


def text_to_video(unet_name: str = DIFFUSERS_UNET, frames: int = 16, width: int = 64, height: int = 48, steps: int = 2,
                  sampler: str = "euler", scheduler: str = "normal", seed: int = 7, prefix: str = "stv_test") -> dict:
    """ModelScope T2V first chunk: load, encode prompts, KSampler, VAE Decode, Create Video, Save Video (mp4)."""
    return {
        "1": {"class_type": "STV_LoadModelScopeT2V", "inputs": {"unet_name": unet_name, "weight_dtype": "default"}},
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": TEXT_ENCODER, "type": "stable_diffusion", "device": "default"}},
        "3": {"class_type": "VAELoader", "inputs": {"vae_name": VAE}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat walks on the beach", "clip": ["2", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "6": {"class_type": "STV_EmptyVideoLatent", "inputs": {"frames": frames, "width": width, "height": height}},
        "7": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": 7.5, "sampler_name": sampler, "scheduler": scheduler,
            "positive": ["4", 0], "negative": ["5", 0], "latent_image": ["6", 0], "denoise": 1.0}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["7", 0], "vae": ["3", 0]}},
        "9": {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "fps": 8.0}},
        "10": {"class_type": "SaveVideo", "inputs": {"video": ["9", 0], "filename_prefix": prefix, "format": "mp4", "codec": "h264"}},
    }


def sample_only(unet_name: str = DIFFUSERS_UNET, sampler: str = "euler", scheduler: str = "normal", steps: int = 3) -> dict:
    """The graph up to the sampled latent, saved with the core SaveLatent node."""
    graph = text_to_video(unet_name=unet_name, sampler=sampler, scheduler=scheduler, steps=steps)
    for node in ("3", "8", "9", "10"):
        del graph[node]
    graph["11"] = {"class_type": "SaveLatent", "inputs": {"samples": ["7", 0], "filename_prefix": f"latents/{sampler}_{scheduler}"}}
    return graph


def newest_video(host, filename_prefix: str) -> str:
    """The most recent mp4 a node saved under `filename_prefix` (a subfolder included) in the host's output folder."""
    folder, name = os.path.split(os.path.join(host.folder_paths.get_output_directory(), filename_prefix))
    videos = [os.path.join(folder, f) for f in os.listdir(folder) if f.startswith(name + "_") and f.endswith(".mp4")]
    assert videos, f"no {filename_prefix}_*.mp4 in the output folder"
    return max(videos, key=os.path.getmtime)


def video_frames(path: str) -> tuple[int, int, int]:
    """(frames, width, height) of a video file, decoded with PyAV."""
    import av
    with av.open(path) as container:
        frames = [f for f in container.decode(video=0)]
    return len(frames), frames[0].width, frames[0].height


def video_tags(path: str) -> tuple[dict[str, str], float]:
    """A video file's container tags (where ComfyUI embeds the prompt and workflow) and its frame rate."""
    import av
    with av.open(path) as container:
        return dict(container.metadata), float(container.streams.video[0].average_rate)


def streamingt2v_chunk(frame_color: int = 0x808080, anchor_color: int = 0x4080C0, condition_frames: int = 8,
                       frame_size: tuple[int, int] = (64, 48), width: int = 64, height: int = 48, steps: int = 2,
                       seed: int = 3, prefix: str = "stv_chunk", weight_dtype: str = "default") -> dict:
    """One StreamingT2V chunk: Load StreamingT2V, condition on 8 frames and an anchor, core KSampler, SaveLatent.

    The tiny test checkpoint holds only the trained parts, so text encoder, VAE and image encoder come from
    the core loaders (a user with the official file wires the loader's own CLIP and CLIP_VISION outputs instead).
    """
    from helpers.fake_models import CLIP_VISION, STREAMINGT2V_CKPT
    return {
        "1": {"class_type": "STV_LoadStreamingT2V", "inputs": {"ckpt_name": STREAMINGT2V_CKPT, "weight_dtype": weight_dtype}},
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": TEXT_ENCODER, "type": "stable_diffusion", "device": "default"}},
        "3": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": CLIP_VISION}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red panda climbs a tree", "clip": ["2", 0]}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "6": {"class_type": "EmptyImage", "inputs": {"width": frame_size[0], "height": frame_size[1], "batch_size": condition_frames, "color": frame_color}},
        "7": {"class_type": "EmptyImage", "inputs": {"width": frame_size[0], "height": frame_size[1], "batch_size": 1, "color": anchor_color}},
        "8": {"class_type": "STV_Conditioning", "inputs": {
            "model": ["1", 0], "streamingt2v": ["1", 4], "positive": ["4", 0], "negative": ["5", 0], "clip_vision": ["3", 0],
            "anchor_image": ["7", 0], "condition_frames": ["6", 0]}},
        "9": {"class_type": "STV_EmptyVideoLatent", "inputs": {"frames": 16, "width": width, "height": height}},
        "10": {"class_type": "KSampler", "inputs": {
            "model": ["8", 0], "seed": seed, "steps": steps, "cfg": 7.5, "sampler_name": "ddim", "scheduler": "ddim_uniform",
            "positive": ["8", 1], "negative": ["8", 2], "latent_image": ["9", 0], "denoise": 1.0}},
        "11": {"class_type": "SaveLatent", "inputs": {"samples": ["10", 0], "filename_prefix": f"latents/{prefix}"}},
    }


def first_chunk_and_extend(frames_to_add: int = 32, sampler: str = "euler_ancestral", scheduler: str = "streamingt2v_ddim",
                           steps: int = 2, seed: int = 5, prefix: str = "stv_extend", video_format: str = "mp4 (h264)",
                           prompt_schedule: str = "", output_frames: str = "all", resume_manifest: str = "",
                           redo_from_chunk: int = -1, fps: float = 8.0) -> dict:
    """ModelScope first chunk (16 frames) -> StreamingT2V Extend -> video file, as the shipped workflow wires it."""
    graph = text_to_video(frames=16, width=64, height=48, steps=steps)
    del graph["9"], graph["10"]
    chunk = streamingt2v_chunk()
    graph.update({f"s{k}": v for k, v in chunk.items() if k in ("1", "3")})
    graph["20"] = {"class_type": "STV_Extend", "inputs": {
        "model": ["s1", 0], "streamingt2v": ["s1", 4], "positive": ["4", 0], "negative": ["5", 0], "clip_vision": ["s3", 0],
        "vae": ["3", 0], "start_frames": ["8", 0], "frames_to_add": frames_to_add, "seed": seed, "steps": steps, "cfg": 7.5,
        "sampler_name": sampler, "scheduler": scheduler, "noise_mode": "fresh per chunk (official)",
        "prompt_schedule": prompt_schedule, "clip": ["2", 0], "filename_prefix": prefix, "video_format": video_format,
        "fps": fps, "output_frames": output_frames, "resume_manifest": resume_manifest, "redo_from_chunk": redo_from_chunk}}
    graph["21"] = {"class_type": "PreviewImage", "inputs": {"images": ["20", 0]}}
    return graph


def with_extend_advanced(graph: dict, guider: dict, scheduler: str = "normal") -> dict:
    """The graph of `first_chunk_and_extend` with StreamingT2V Extend (Advanced) in place of Extend: `guider` (a core
    guider node on Load StreamingT2V's MODEL, node id "22") and Random Noise, KSamplerSelect and BasicScheduler
    with the simple node's seed, sampler and steps."""
    simple = graph["20"]["inputs"]
    graph["22"] = guider
    graph["23"] = {"class_type": "RandomNoise", "inputs": {"noise_seed": simple["seed"]}}
    graph["24"] = {"class_type": "KSamplerSelect", "inputs": {"sampler_name": simple["sampler_name"]}}
    graph["25"] = {"class_type": "BasicScheduler", "inputs": {"model": ["s1", 0], "scheduler": scheduler,
                                                              "steps": simple["steps"], "denoise": 1.0}}
    shared = {k: v for k, v in simple.items()
              if k not in ("model", "positive", "negative", "seed", "steps", "cfg", "sampler_name", "scheduler")}
    graph["20"] = {"class_type": "STV_ExtendAdvanced", "inputs": {
        **shared, "guider": ["22", 0], "noise": ["23", 0], "sampler": ["24", 0], "sigmas": ["25", 0]}}
    return graph



def enhance_frames(frames: int = 30, frame_size: tuple[int, int] = (64, 48), sampler: str = "dpmpp_2m_sde",
                   scheduler: str = "official (trailing)", steps: int = 2, width: int = 128, height: int = 80,
                   fit: str = "pad (official)", length: str = "trim (official)", prefix: str = "stv_enhanced",
                   output_frames: str = "all") -> dict:
    """Load Enhancer + StreamingT2V Enhance on a plain IMAGE batch (core EmptyImage), with the core CLIP and the
    TAESD VAE (the full SD VAE would spend minutes per test on CPU)."""
    from helpers.fake_models import ENHANCER
    return {
        "2": {"class_type": "CLIPLoader", "inputs": {"clip_name": TEXT_ENCODER, "type": "stable_diffusion", "device": "default"}},
        "5": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["2", 0]}},
        "20": {"class_type": "EmptyImage", "inputs": {"width": frame_size[0], "height": frame_size[1], "batch_size": frames, "color": 0x3070B0}},
        "30": {"class_type": "STV_LoadEnhancer", "inputs": {"unet_name": ENHANCER, "vae_name": "none", "weight_dtype": "default"}},
        "34": {"class_type": "VAELoader", "inputs": {"vae_name": "taesd"}},
        "31": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat walks on the beach, ", "clip": ["2", 0]}},
        "32": {"class_type": "STV_Enhance", "inputs": {
            "model": ["30", 0], "vae": ["34", 0], "positive": ["31", 0], "negative": ["5", 0], "frames": ["20", 0],
            "seed": 666, "steps": steps, "strength": 0.6, "cfg": 7.5, "guidance_rescale": 0.2, "sampler_name": sampler,
            "scheduler": scheduler, "width": width, "height": height, "fit": fit, "length": length, "chunk_frames": 24,
            "overlap_frames": 8, "filename_prefix": prefix, "video_format": "mp4 (h264)", "fps": 8.0, "output_frames": output_frames}},
        "33": {"class_type": "PreviewImage", "inputs": {"images": ["32", 0]}},
    }


def extend_and_enhance(frames_to_add: int = 32, prefix: str = "stv_enhanced", **enhance) -> dict:
    """First chunk -> StreamingT2V Extend -> StreamingT2V Enhance, the first chunk's text encoder and VAE reused."""
    graph = first_chunk_and_extend(frames_to_add=frames_to_add, steps=1)
    del graph["21"]
    graph.update({k: v for k, v in enhance_frames(prefix=prefix, **enhance).items() if k not in ("2", "5", "20")})
    return graph
