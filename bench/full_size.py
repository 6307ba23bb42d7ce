"""The whole pipeline at the real shapes with random weights: what loading, sampling and enhancing cost at full size.

Writes full-size random weights in the published layouts to a models folder (the official StreamingT2V file with its six
prefixes as an fp16 .safetensors or a Lightning .ckpt, the ModelScope T2V UNet as diffusers ships it, the MS-Vid2Vid-XL
UNet under its original key names, an SD VAE): the trained parts' shapes come from our modules, the frozen parts' from
the key manifests, and both are checked against the manifests. Then, in this process, ComfyUI's own nodes: Load
StreamingT2V, Load ModelScope T2V Model, Load Enhancer, a first chunk (core KSampler, VAE Decode), StreamingT2V Extend,
StreamingT2V Enhance for one window. Per stage: seconds, seconds per sampler step and per chunk, peak RSS (and on a GPU
peak VRAM, torch's and the driver's), the bytes of weights kept, memory_required beside the measured activation peak.
CPU defaults: 64x64 frames, 1 step. GPU defaults: the official sizes and steps, and projected times for 80/240/1200 frames.
`--dry-run` only builds the layouts on the meta device and checks them. Last line: `full_size: key=value ...`.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import struct
import sys
import tempfile
import threading
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "tests")]

from st2v_modules.checkpoints.modelscope import check_keys, modelscope_to_diffusers  # noqa: E402
from st2v_modules.checkpoints.enhancer import EXPECTED as ENHANCER_EXPECTED  # noqa: E402
from st2v_modules.checkpoints.reading import check_state_dict  # noqa: E402
from st2v_modules.checkpoints.modelscope import expected_shapes  # noqa: E402
from st2v_modules.checkpoints.streamingt2v import streamingt2v_from_state_dict  # noqa: E402
from st2v_modules.models.conditioner import StreamingT2VConditioner  # noqa: E402
from st2v_modules.models.config import MODELSCOPE_T2V, MS_VID2VID_XL  # noqa: E402
from st2v_modules.models.streaming_unet import StreamingUNet3D  # noqa: E402
from st2v_modules.models.unet3d import UNet3D  # noqa: E402
from st2v_modules.video_files.writer import PNG  # noqa: E402  (PNG: no encoder time in the per-stage figures)

SPEC = os.path.join(REPO, "..", "shared", "spec")
FRAME_ENCODER_CHANNELS, RESAMPLER_INNER_DIM = (32, 96, 256, 512), 1280  # the official CAM and APM
FROZEN_PREFIXES = ("text_encoder.", "vae.", "image_encoder.")
STREAMINGT2V_FILE = "streaming_t2v_fp16.safetensors"
MODELSCOPE_UNET = "text-to-video-ms-1.7b/unet/diffusion_pytorch_model.fp16.safetensors"
ENHANCER_UNET = "MS-Vid2Vid-XL/non_ema_0035000_fp16.safetensors"
ENHANCER_VAE = "MS-Vid2Vid-XL/vae_fp16.safetensors"
SAFETENSORS_NAMES = {torch.float16: "F16", torch.float32: "F32"}
OFFICIAL_A100 = {80: (110, 525), 240: (340, 1610), 1200: (1710, 10225)}  # seconds: preview / with the enhancer
DTYPE_CHOICES = {"fp32": "fp32", "fp16": "fp16", "bf16": "bf16", "fp8": "fp8_e4m3fn"}
GIB = 2**30


# ---------------------------------------------------------------- layouts


def read_manifest(path: str) -> dict[str, tuple[int, ...]]:
    shapes = {}
    with open(path) as f:
        for line in f:
            key, shape, _ = line.rstrip("\n").split("\t")
            shapes[key] = tuple(json.loads(shape))
    return shapes


def module_shapes(module: torch.nn.Module, prefix: str = "") -> dict[str, tuple[int, ...]]:
    return {prefix + k: tuple(v.shape) for k, v in module.state_dict().items()}


def streamingt2v_layout(manifest: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """base_model. (UNet), unet. (CAM), resampler. from our modules; the frozen parts as the manifest lists them."""
    trained = module_shapes(StreamingUNet3D(MODELSCOPE_T2V, device="meta"), "base_model.")
    conditioner = StreamingT2VConditioner(MODELSCOPE_T2V, FRAME_ENCODER_CHANNELS, RESAMPLER_INNER_DIM, device="meta")
    trained.update({("unet." + k[4:] if k.startswith("cam.") else k): s for k, s in module_shapes(conditioner).items()})
    official_trained = {k: s for k, s in manifest.items() if not k.startswith(FROZEN_PREFIXES)}
    mismatch(trained, official_trained, "our StreamingUNet3D + CAM + APM resampler", "streamingt2v_keys.tsv")
    return {**trained, **{k: s for k, s in manifest.items() if k.startswith(FROZEN_PREFIXES)}}


def modelscope_layout(manifest: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """Our UNet3D's names are the diffusers ones: the StreamingT2V UNet less its APM and merger additions."""
    ours = module_shapes(UNet3D(MODELSCOPE_T2V, device="meta"))
    base = {k[len("base_model."):]: s for k, s in manifest.items() if k.startswith("base_model.")}
    additions = {k for k in base if "cross_attention_merger" in k or ".attn2.conv" in k or k.endswith(".attn2.alpha")}
    mismatch(ours, {k: s for k, s in base.items() if k not in additions}, "our UNet3D", "the manifest's base_model.")
    return ours


def enhancer_layout(manifest: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """The published UNetSD names (non_ema_0035000.pth), checked through our renaming against our UNet3D."""
    renamed = modelscope_to_diffusers({k: torch.empty(s, device="meta") for k, s in manifest.items()})
    check_state_dict(renamed, expected_shapes(MS_VID2VID_XL), ENHANCER_EXPECTED, "enhancer_keys.tsv")
    return manifest


def mismatch(ours: dict, theirs: dict, what: str, where: str) -> None:
    missing, extra = sorted(theirs.keys() - ours.keys()), sorted(ours.keys() - theirs.keys())
    wrong = [k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k]]
    if missing or extra or wrong:
        raise SystemExit(f"{what} differs from {where}: {len(missing)} keys missing (e.g. {missing[:3]}), {len(extra)} extra "
                         f"(e.g. {extra[:3]}), {len(wrong)} shapes differ (e.g. {wrong[:3]})")


def layouts(spec: str) -> dict[str, dict[str, tuple[int, ...]]]:
    streamingt2v = read_manifest(os.path.join(spec, "streamingt2v_keys.tsv"))
    files = {STREAMINGT2V_FILE: streamingt2v_layout(streamingt2v), MODELSCOPE_UNET: modelscope_layout(streamingt2v),
             ENHANCER_UNET: enhancer_layout(read_manifest(os.path.join(spec, "enhancer_keys.tsv"))),
             ENHANCER_VAE: {k[len("vae."):]: s for k, s in streamingt2v.items() if k.startswith("vae.")}}
    # what the loaders do with them, on the meta device
    meta = lambda shapes: {k: torch.empty(s, device="meta") for k, s in shapes.items()}  # noqa: E731
    weights = streamingt2v_from_state_dict(meta(files[STREAMINGT2V_FILE]), STREAMINGT2V_FILE)
    if weights.unet_config != MODELSCOPE_T2V or len(files[STREAMINGT2V_FILE]) != len(streamingt2v):
        raise SystemExit("the StreamingT2V layout does not read back as the official model")
    check_keys(meta(files[MODELSCOPE_UNET]), MODELSCOPE_T2V, MODELSCOPE_UNET)
    return files


def params(shapes: dict[str, tuple[int, ...]]) -> int:
    return sum(math.prod(s) for s in shapes.values())


# ---------------------------------------------------------------- writing


def random_tensor(key: str, shape: tuple[int, ...], dtype: torch.dtype, generator: torch.Generator) -> torch.Tensor:
    """Norm scales 1, biases 0, the rest small Gaussian noise: activations stay finite through the real depth. Drawn on
    the generator's device (a GPU draws 6 B numbers in seconds), returned on the CPU."""
    if key.endswith("bias"):
        return torch.zeros(shape, dtype=dtype)
    if len(shape) == 1 and ("norm" in key or "ln_" in key):
        return torch.ones(shape, dtype=dtype)
    return (torch.randn(shape, generator=generator, device=generator.device) * 0.02).to(dtype).cpu()


def seeded(seed: int) -> torch.Generator:
    return torch.Generator("cuda" if torch.cuda.is_available() else "cpu").manual_seed(seed)


def write_safetensors(path: str, shapes: dict[str, tuple[int, ...]], dtype: torch.dtype, seed: int, metadata: dict | None = None) -> None:
    """One tensor at a time (memory stays flat), under `<path>.part` until complete."""
    header, offset = {}, 0
    for key, shape in shapes.items():
        size = math.prod(shape) * dtype.itemsize
        header[key] = {"dtype": SAFETENSORS_NAMES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    if metadata:
        header["__metadata__"] = metadata
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    generator = seeded(seed)
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(encoded)) + encoded)
        for key, shape in shapes.items():
            f.write(random_tensor(key, shape, dtype, generator).reshape(-1).view(torch.uint8).numpy().tobytes())
    os.replace(path + ".part", path)


def write_ckpt(path: str, shapes: dict[str, tuple[int, ...]], dtype: torch.dtype, seed: int) -> None:
    """A Lightning checkpoint ({"state_dict": ...}); torch.save needs every tensor in memory at once."""
    generator = seeded(seed)
    state = {k: random_tensor(k, s, dtype, generator) for k, s in shapes.items()}
    torch.save({"state_dict": state, "epoch": 0, "global_step": 0}, path + ".part")
    os.replace(path + ".part", path)


def write_models(folder: str, files: dict, ckpt: bool, ckpt_dtype: torch.dtype) -> dict[str, str]:
    """The models folder the loaders read (`<folder>/streamingt2v/...`); returns each file's name there."""
    root = os.path.join(folder, "streamingt2v")
    os.makedirs(root, exist_ok=True)
    names = dict(zip(files, files))
    if ckpt:
        names[STREAMINGT2V_FILE] = "streaming_t2v.ckpt"
    need = sum(params(s) * 2 for s in files.values()) + (params(files[STREAMINGT2V_FILE]) * (ckpt_dtype.itemsize - 2) if ckpt else 0)
    present = [n for n in names.values() if os.path.isfile(os.path.join(root, n))]
    free = shutil.disk_usage(folder).free
    if len(present) < len(names) and free < need:
        raise SystemExit(f"the full-size weights need {need / 1e9:.1f} GB of disk, {folder} has {free / 1e9:.1f} GB free: "
                         "free some space or pass --models on a larger disk")
    for seed, (key, shapes) in enumerate(files.items()):
        path = os.path.join(root, names[key])
        if os.path.isfile(path):
            continue
        start = time.perf_counter()
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if key == STREAMINGT2V_FILE and ckpt:
            write_ckpt(path, shapes, ckpt_dtype, seed)
        else:
            write_safetensors(path, shapes, torch.float16, seed)
        if key == MODELSCOPE_UNET:
            with open(os.path.join(os.path.dirname(path), "config.json"), "w") as f:
                json.dump({"_class_name": "UNet3DConditionModel", **MODELSCOPE_T2V.to_dict()}, f)
        print(f"wrote {names[key]}: {params(shapes) / 1e9:.2f} B parameters, {os.path.getsize(path) / 1e9:.2f} GB, "
              f"{time.perf_counter() - start:.0f} s", flush=True)
    return names


# ---------------------------------------------------------------- measuring


def rss_bytes(field: str = "VmRSS") -> int:
    return next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith(field))


def reset_rss_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # VmHWM starts again from the current RSS


class DriverPeak:
    """The device's used memory as the driver counts it (cudaMemGetInfo), sampled every 10 ms."""

    def __init__(self):
        self.peak, self.running = 0, torch.cuda.is_available()
        if self.running:
            self.thread = threading.Thread(target=self._poll, daemon=True)
            self.thread.start()

    def _poll(self):
        while self.running:
            free, total = torch.cuda.mem_get_info()
            self.peak = max(self.peak, total - free)
            time.sleep(0.01)

    def take(self) -> int:
        peak, self.peak = self.peak, 0
        return peak


class Stage:
    """Wall time, peak RSS and VRAM of one stage, and the UNet calls' time and activation peak (through the MODEL's
    unet wrapper: one call per sampler step with cond and uncond batched, two when the host splits them)."""

    def __init__(self, name: str, driver: DriverPeak):
        self.name, self.driver, self.unet_seconds, self.unet_calls, self.activation_peak = name, driver, 0.0, 0, 0
        self.rss_seen, self.vram_seen = 0, 0  # peaks before a UNet call reset the counters for its own peak

    def __enter__(self):
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        self.driver.take()
        self.rss_before = rss_bytes()
        reset_rss_peak()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = time.perf_counter() - self.start
        self.rss_peak = max(self.rss_seen, rss_bytes("VmHWM"))
        self.vram_peak = max(self.vram_seen, torch.cuda.max_memory_allocated()) if self.cuda else 0
        self.driver_peak = self.driver.take() if self.cuda else 0

    def wrap(self, model):
        """A clone of the MODEL whose UNet calls are timed and measured."""
        model = model.clone()

        def unet(apply, args):
            self.rss_seen = max(self.rss_seen, rss_bytes("VmHWM"))
            if self.cuda:
                torch.cuda.synchronize()
                self.vram_seen = max(self.vram_seen, torch.cuda.max_memory_allocated())
                before = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            else:
                before = rss_bytes()
                reset_rss_peak()
            start = time.perf_counter()
            out = apply(args["input"], args["timestep"], **args["c"])
            if self.cuda:
                torch.cuda.synchronize()
                self.activation_peak = max(self.activation_peak, torch.cuda.max_memory_allocated() - before)
            else:
                self.activation_peak = max(self.activation_peak, rss_bytes("VmHWM") - before)
            self.unet_seconds += time.perf_counter() - start
            self.unet_calls += 1
            return out

        model.set_model_unet_function_wrapper(unet)
        return model


def kept_bytes(*modules) -> int:
    storages = {}
    for module in modules:
        for t in module.state_dict().values():
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


# ---------------------------------------------------------------- the pipeline


def node_inputs(cls, **given) -> dict:
    """`given` plus the schema's defaults for every other input of a V3 node (first option for a combo)."""
    for item in cls.define_schema().inputs:
        if item.id in given or getattr(item, "optional", False):
            continue
        default = getattr(item, "default", None)
        given[item.id] = default if default is not None else item.options[0]
    return given


def run_pipeline(args, models: str, names: dict[str, str]) -> dict:
    from helpers.host import Host, make_base_directory
    options = {"cpu": args.device == "cpu", "lowvram": args.lowvram}
    if args.vram_cap:
        total = torch.cuda.mem_get_info()[1]
        options["reserve_vram"] = max(0.0, total / GIB - args.vram_cap)
    base = make_base_directory()
    os.rmdir(os.path.join(base, "models"))
    os.symlink(models, os.path.join(base, "models"))
    host = Host(os.environ.get("COMFYUI_PATH") or os.path.join(REPO, ".gpu", "comfyui"), base, **options)
    if args.vram_cap:
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.vram_cap * GIB / torch.cuda.mem_get_info()[1]))
    import comfy.model_management as mm
    import nodes as core
    node = host.nodes.NODE_CLASS_MAPPINGS
    weight_dtype = DTYPE_CHOICES[args.dtype]
    if weight_dtype not in host.pack_module("nodes.model").WEIGHT_DTYPES:
        print(f"skipped: weight_dtype {weight_dtype} is not offered by this pack yet")
        return {"skipped": args.dtype}
    driver, stages, results = DriverPeak(), {}, {"device": args.device, "dtype": args.dtype}

    def stage(name):
        stages[name] = Stage(name, driver)
        return stages[name]

    def compiled(model):
        return node["TorchCompileModel"].execute(model=model, backend="inductor").result[0] if args.compile else model

    loaders, first_model, enhancer, model, clip, vae, clip_vision, stv = {}, None, None, None, None, None, None, None
    if not args.skip_extend:
        with stage("load_streamingt2v") as s:
            model, clip, vae, clip_vision, stv = node["STV_LoadStreamingT2V"].execute(ckpt_name=names[STREAMINGT2V_FILE],
                                                                                      weight_dtype=weight_dtype).result
        loaders[s.name] = (s, kept_bytes(model.model.diffusion_model, stv.conditioner, clip.cond_stage_model, vae.first_stage_model,
                                         clip_vision.model))
    if not args.skip_first_chunk:
        with stage("load_modelscope") as s:
            (first_model,) = node["STV_LoadModelScopeT2V"].execute(unet_name=MODELSCOPE_UNET, weight_dtype=weight_dtype).result
        loaders[s.name] = (s, kept_bytes(first_model.model.diffusion_model))
    if not args.skip_enhance:
        with stage("load_enhancer") as s:
            enhancer, enhancer_vae = node["STV_LoadEnhancer"].execute(unet_name=ENHANCER_UNET, vae_name=ENHANCER_VAE,
                                                                     weight_dtype=weight_dtype).result
        loaders[s.name] = (s, kept_bytes(enhancer.model.diffusion_model, enhancer_vae.first_stage_model))
    kept_total = max(1, sum(k for _, k in loaders.values()))
    if not args.loaders_only:
        sample(args, node, core, stage, compiled, model, clip, vae, clip_vision, stv, first_model,
               None if enhancer is None else (enhancer, enhancer_vae))

    for name, (s, kept) in loaders.items():
        growth = s.rss_peak - s.rss_before
        print(f"{name}: {s.seconds:.1f} s, peak RSS {s.rss_peak / GIB:.2f} GiB (+{growth / GIB:.2f} GiB while loading), "
              f"weights kept {kept / GIB:.2f} GiB, ratio {growth / kept:.2f}" + vram_text(s), flush=True)
        results[f"{name}_ratio"] = round(growth / kept, 3)
        results[f"{name}_kept_gib"] = round(kept / GIB, 2)
    for name in ("first_chunk", "extend", "enhance"):
        if name not in stages:
            continue
        s = stages[name]
        per_step = s.unet_seconds / s.steps
        print(f"{name}: {s.seconds:.1f} s, {per_step:.2f} s per sampler step ({s.unet_calls} UNet calls), "
              f"{s.seconds / s.chunks:.1f} s per chunk, peak RSS {s.rss_peak / GIB:.2f} GiB, memory_required "
              f"{s.estimate / GIB:.2f} GiB vs measured activation peak {s.activation_peak / GIB:.2f} GiB" + vram_text(s), flush=True)
        results[f"{name}_s_per_step"] = round(per_step, 3)
        results[f"{name}_s_per_chunk"] = round(s.seconds / s.chunks, 2)
        results[f"{name}_estimate_gib"] = round(s.estimate / GIB, 3)
        results[f"{name}_activation_gib"] = round(s.activation_peak / GIB, 3)
        if s.cuda:
            results[f"{name}_vram_gib"] = round(s.vram_peak / GIB, 2)
            results[f"{name}_driver_vram_gib"] = round(s.driver_peak / GIB, 2)
    peak = max(s.rss_peak for s in stages.values())  # RSS of the whole process: host, weights, activations
    results.update(peak_rss_gib=round(peak / GIB, 2), weights_kept_gib=round(kept_total / GIB, 2),
                   pipeline_ratio=round(peak / kept_total, 3))
    print(f"whole pipeline: peak RSS {peak / GIB:.2f} GiB for {kept_total / GIB:.2f} GiB of weights kept "
          f"(ratio {peak / kept_total:.2f}); compute device {mm.get_torch_device()}")
    if args.device == "gpu" and "extend" in stages:
        results.update(project(stages, args))
    return results


def sample(args, node, core, stage, compiled, model, clip, vae, clip_vision, stv, first_model, enhancer_pair) -> None:
    """First chunk (core KSampler, ModelScope's official dpmpp_2m at cfg 9), StreamingT2V Extend, one Enhance window.
    Without StreamingT2V (--skip-extend) the prompts are zero text embeddings and the enhancer gets random frames."""
    zero = [[torch.zeros(1, 77, 1024), {}]]
    encode = lambda text: core.CLIPTextEncode().encode(clip, text)[0] if clip is not None else zero  # noqa: E731
    positive, negative = encode(args.prompt), encode("")
    size, steps = args.size, args.steps
    if enhancer_pair is not None and vae is None:
        vae = enhancer_pair[1]
    if first_model is None:
        start_frames = torch.rand(16, size, size, 3, generator=torch.Generator().manual_seed(0))
    else:
        with stage("first_chunk") as s:
            latent = node["STV_EmptyVideoLatent"].execute(frames=16, width=size, height=size).result[0]
            sampled = core.common_ksampler(compiled(s.wrap(first_model)), 3, args.first_steps, 9.0, "dpmpp_2m", "normal",
                                           positive, negative, latent)[0]
            start_frames = core.VAEDecode().decode(vae, sampled)[0] if vae is not None else torch.rand(16, size, size, 3)
        s.steps, s.chunks, s.estimate = args.first_steps, 1, first_model.model.memory_required([32, 4, size // 8, size // 8])
    frames = start_frames
    if model is not None:
        extend = node["STV_Extend"]
        with stage("extend") as s:
            frames = extend.execute(**node_inputs(extend, model=compiled(s.wrap(model)), streamingt2v=stv, positive=positive,
                                                     negative=negative, clip_vision=clip_vision, vae=vae, start_frames=start_frames,
                                                     frames_to_add=8 * args.chunks, seed=33, steps=steps,
                                                     filename_prefix="full_size/extend", video_format=PNG,
                                                     output_frames="last chunk")).result[0]  # frames, path, VIDEO
        s.steps, s.chunks, s.estimate = steps * args.chunks, args.chunks, model.model.memory_required([32, 4, size // 8, size // 8])
    if enhancer_pair is not None:
        enhancer, enhancer_vae = enhancer_pair
        width, height = args.enhance_size
        window = torch.cat([start_frames, frames])[-24:] if len(frames) < 24 else frames[-24:]
        caption = encode(args.prompt + ", ")
        enhance = node["STV_Enhance"]
        with stage("enhance") as s:
            enhance.execute(**node_inputs(enhance, model=compiled(s.wrap(enhancer)), vae=enhancer_vae, positive=caption,
                                          negative=negative, frames=window, steps=args.enhance_steps, width=width, height=height,
                                          filename_prefix="full_size/enhance", output_frames="last chunk",
                                          video_format=PNG))
        s.steps, s.chunks, s.frames = args.enhance_steps, 1, len(window)
        s.estimate = enhancer.model.memory_required([48, 4, height // 8, width // 8])


def vram_text(s: Stage) -> str:
    return f", peak VRAM {s.vram_peak / GIB:.2f} GiB (driver {s.driver_peak / GIB:.2f} GiB)" if s.cuda else ""


def project(stages: dict[str, Stage], args) -> dict:
    """Seconds for 80, 240 and 1200 frames at these sizes and steps, from the measured per-step and per-frame costs."""
    out = {}
    extend, first = stages["extend"], stages.get("first_chunk")
    chunk = extend.seconds / extend.chunks
    first_seconds = first.seconds if first else chunk
    for frames, (official, official_enhanced) in OFFICIAL_A100.items():
        preview = first_seconds + (frames - 16) / 8 * chunk
        line = f"projected {frames} frames: {preview:.0f} s (official A100: {official} s)"
        out[f"projected_{frames}_s"] = round(preview)
        if "enhance" in stages:
            e = stages["enhance"]
            trimmed = 16 * ((frames - 8) // 16) + 8
            windows = (trimmed - 8) // 16
            other = (e.seconds - e.unet_seconds) / e.frames  # VAE encode and decode per frame
            enhanced = preview + 30 * windows * e.unet_seconds / e.steps + other * trimmed
            line += f", {enhanced:.0f} s with the enhancer at 30 steps (official: {official_enhanced} s)"
            out[f"projected_{frames}_enhanced_s"] = round(enhanced)
        print(line)
    if "enhance" in stages:  # a long video: one 24-frame window per 16 new frames, 30 steps, plus VAE work per frame
        e = stages["enhance"]
        per_frame = 30 * e.unet_seconds / e.steps / 16 + (e.seconds - e.unet_seconds) / e.frames
        print(f"enhancer at 30 steps: {per_frame:.2f} s per frame of a long video (official A100: 7.1 s)")
        out["enhance_s_per_frame_30_steps"] = round(per_frame, 2)
    return out


# ---------------------------------------------------------------- command line


def parse(argv=None):
    gpu = torch.cuda.is_available()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="only build the layouts on the meta device and check them")
    parser.add_argument("--write-only", action="store_true", help="write the weights (into --models) and stop")
    parser.add_argument("--device", choices=["cpu", "gpu"], default="gpu" if gpu else "cpu")
    parser.add_argument("--dtype", choices=list(DTYPE_CHOICES), default="bf16" if not gpu else "fp16",
                        help="weight_dtype of the loaders (fp8: fp8_e4m3fn, once the pack offers it)")
    parser.add_argument("--lowvram", action="store_true", help="the host's --lowvram")
    parser.add_argument("--vram-cap", type=float, default=0.0, metavar="GB",
                        help="the run must fit in this much VRAM: the host reserves the rest, torch refuses more")
    parser.add_argument("--compile", action="store_true", help="core TorchCompileModel (inductor) on the three MODELs")
    parser.add_argument("--models", help="models folder to write to / reuse (default: a temporary one, deleted after)")
    parser.add_argument("--ckpt", action="store_true", help="the StreamingT2V file as a Lightning .ckpt (not .safetensors)")
    parser.add_argument("--ckpt-dtype", choices=["fp16", "fp32"], default="fp16",
                        help="tensors of the .ckpt (official: fp32; it is built in RAM before it is written)")
    parser.add_argument("--spec", default=SPEC, help="folder with streamingt2v_keys.tsv and enhancer_keys.tsv")
    parser.add_argument("--size", type=int, default=256 if gpu else 64, help="frame size of the first chunk and extension")
    parser.add_argument("--steps", type=int, default=50 if gpu else 1, help="sampler steps per extension chunk")
    parser.add_argument("--first-steps", type=int, default=50 if gpu else 1, help="sampler steps of the first chunk")
    parser.add_argument("--chunks", type=int, default=3 if gpu else 1, help="extension chunks of 8 frames")
    parser.add_argument("--enhance-size", type=int, nargs=2, default=[1280, 720] if gpu else [64, 80], metavar=("W", "H"))
    parser.add_argument("--enhance-steps", type=int, default=2, help="enhancer steps for its window of 24 frames")
    parser.add_argument("--skip-first-chunk", action="store_true", help="random start frames instead of ModelScope's chunk")
    parser.add_argument("--skip-enhance", action="store_true")
    parser.add_argument("--skip-extend", action="store_true", help="no StreamingT2V: zero prompts, random frames for the enhancer")
    parser.add_argument("--loaders-only", action="store_true", help="only the three loaders (peak RAM against weights kept)")
    parser.add_argument("--prompt", default="a cat surfing a wave")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse(argv)
    start = time.perf_counter()
    files = layouts(args.spec)
    sizes = {name: params(shapes) for name, shapes in files.items()}
    summary = {"streamingt2v_tensors": len(files[STREAMINGT2V_FILE]), **{
        key: round(sizes[name] / 1e9, 3) for key, name in (("streamingt2v_params_b", STREAMINGT2V_FILE),
                                                           ("modelscope_params_b", MODELSCOPE_UNET), ("enhancer_params_b", ENHANCER_UNET))}}
    for name, count in sizes.items():
        print(f"{name}: {len(files[name])} tensors, {count / 1e9:.3f} B parameters, {2 * count / 1e9:.2f} GB in fp16")
    if args.dry_run:
        print("full_size: dry_run=1 " + " ".join(f"{k}={v}" for k, v in summary.items()) +
              f" disk_gb_fp16={2 * sum(sizes.values()) / 1e9:.1f}")
        return
    folder = args.models or tempfile.mkdtemp(prefix="stv_full_size_")
    try:
        names = write_models(folder, files, args.ckpt, torch.float16 if args.ckpt_dtype == "fp16" else torch.float32)
        if args.write_only:
            print(f"full_size: written=1 models={folder}")
            return
        with torch.inference_mode():  # as the host's executor runs every node
            results = run_pipeline(args, folder, names)
    finally:
        if not args.models:
            shutil.rmtree(folder, ignore_errors=True)
    results.update(summary, lowvram=int(args.lowvram), vram_cap_gb=args.vram_cap, compile=int(args.compile),
                   size=args.size, steps=args.steps, chunks=args.chunks, seconds=round(time.perf_counter() - start))
    print("full_size: " + " ".join(f"{k}={v}" for k, v in results.items()))


if __name__ == "__main__":
    main()
