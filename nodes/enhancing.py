"""Load Enhancer and StreamingT2V Enhance: MS-Vid2Vid-XL refines any video at 720p on the user's own sampler."""
from __future__ import annotations

import comfy.samplers
import comfy_extras.nodes_custom_sampler as custom_sampler
from comfy_api.latest import io

from ..st2v_modules.sampling.blending import BLEND_CHUNK_FRAMES, BLEND_OVERLAP_FRAMES, LENGTH_MODES
from ..st2v_modules.sampling.canvas import FIT_MODES, OFFICIAL_CANVAS, check_canvas_size
from ..st2v_modules.sampling.enhancer_schedule import OFFICIAL_NOISE_LEVEL, OFFICIAL_STEPS, TRAIN_TIMESTEPS, official_sigmas
from ..st2v_modules.video_files.writer import FORMATS
from . import paths
from .enhance_engine import EnhanceRequest, enhance, enhancer_model
from .enhancer_model import load_enhancer, load_vae
from .guiding import GuiderFactory, cfg_guider, guider_conds, like_guider
from .inputs import cfg_input, fps_input, weight_dtype_input
from .video_output import file_metadata, finished, video_output
from .video_run import ALL_FRAMES, OUTPUT_FRAMES

OFFICIAL_SAMPLER = "dpmpp_2m_sde"
OFFICIAL_SCHEDULE = "official (trailing)"
OFFICIAL_RESCALE = 0.2
OFFICIAL_STRENGTH = OFFICIAL_NOISE_LEVEL / TRAIN_TIMESTEPS
NO_VAE = "none"


class LoadEnhancer(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_LoadEnhancer",
            display_name="Load Enhancer (MS-Vid2Vid-XL)",
            category="StreamingT2V/loaders",
            description="Loads the MS-Vid2Vid-XL video-to-video UNet that StreamingT2V uses to enhance its videos to 720p. "
                        "Its text encoder loads with core Load CLIP (open_clip_pytorch_model.bin, type stable_diffusion) "
                        "or use the CLIP of Load StreamingT2V (the same OpenCLIP ViT-H text tower).",
            inputs=[
                io.Combo.Input("unet_name", options=paths.model_files(),
                               tooltip="non_ema_0035000.pth from damo/Video-to-Video (MS-Vid2Vid-XL) in models/streamingt2v, "
                                       "or a .safetensors of it."),
                io.Combo.Input("vae_name", options=[NO_VAE] + paths.model_files(), default=NO_VAE,
                               tooltip="Optional: the enhancer's v2-1_512-ema-pruned.ckpt (its VAE is read out of it) or any "
                                       "SD VAE file. 'none': wire a VAE from elsewhere (Load StreamingT2V's works)."),
                weight_dtype_input(),
            ],
            outputs=[io.Model.Output(tooltip="The MS-Vid2Vid-XL UNet (v-prediction); use with StreamingT2V Enhance."),
                     io.Vae.Output(tooltip="The VAE from vae_name (None if 'none').")],
        )

    @classmethod
    def validate_inputs(cls, unet_name: str | None = None, vae_name: str | None = None) -> bool | str:
        """Refuse before anything runs, naming every missing file with its size, URL and how to fetch it."""
        return paths.check_model_files(cls.define_schema().display_name,
                                       {"unet_name": unet_name, "vae_name": None if vae_name == NO_VAE else vae_name})

    @classmethod
    def execute(cls, unet_name: str, vae_name: str, weight_dtype: str) -> io.NodeOutput:
        # the VAE first: the host copies it into its own module (briefly held twice) before the UNet is held
        vae = None if vae_name == NO_VAE else load_vae(paths.model_path(vae_name))
        return io.NodeOutput(load_enhancer(paths.model_path(unet_name), weight_dtype), vae)


def vae_input() -> io.Vae.Input:
    return io.Vae.Input("vae", tooltip="An SD VAE (Load StreamingT2V's or Load Enhancer's).")


def frames_input() -> io.Image.Input:
    return io.Image.Input("frames", tooltip="The video to enhance, any length and size (e.g. StreamingT2V Extend's frames).")


def output_inputs() -> list:
    return [
        io.Int.Input("width", default=OFFICIAL_CANVAS[0], min=64, max=4096, step=8, tooltip="Canvas width (official: 1280)."),
        io.Int.Input("height", default=OFFICIAL_CANVAS[1], min=64, max=4096, step=8, tooltip="Canvas height (official: 720)."),
        io.Combo.Input("fit", options=list(FIT_MODES), default=FIT_MODES[0],
                       tooltip="pad: scale to fit and add black bars (official: 256x256 -> 720x720 in 1280x720); crop the bars: "
                               "the same, output only the picture; fill: scale to cover the canvas and crop, no bars."),
        io.Combo.Input("length", options=list(LENGTH_MODES), default=LENGTH_MODES[0],
                       tooltip="trim: keep the longest prefix of whole chunks (official: 80 -> 72 frames); pad: enhance every frame."),
        io.Int.Input("chunk_frames", default=BLEND_CHUNK_FRAMES, min=2, max=512, tooltip="Frames per chunk (official: 24)."),
        io.Int.Input("overlap_frames", default=BLEND_OVERLAP_FRAMES, min=0, max=511,
                     tooltip="Frames shared by neighbouring chunks, where randomized blending cuts (official: 8)."),
        io.String.Input("filename_prefix", default="StreamingT2V/enhanced", tooltip="Where the video goes, under the output folder."),
        io.Combo.Input("video_format", options=list(FORMATS), default=FORMATS[0], tooltip="mp4 (h264) or a lossless PNG sequence."),
        fps_input(),
        io.Combo.Input("output_frames", options=list(OUTPUT_FRAMES), default=ALL_FRAMES,
                       tooltip="all: every enhanced frame as IMAGE (about 11 MB a frame at 720p); last chunk: flat memory, "
                               "the file has them all."),
    ]


def steps_input() -> io.Int.Input:
    return io.Int.Input("steps", default=OFFICIAL_STEPS, min=1, max=1000, tooltip="Sampler steps (official: 30).")


def strength_input() -> io.Float.Input:
    return io.Float.Input("strength", default=OFFICIAL_STRENGTH, min=0.01, max=0.99, step=0.01,
                          tooltip="How far the video is re-noised: 0.6 = noise level 600 of 1000 (official).")


def official_grid(model, steps: int, strength: float):
    """The official trailing grid on a Load Enhancer MODEL's schedule."""
    sampling = model.get_model_object("model_sampling")
    if not hasattr(sampling, "vp_sigmas"):
        raise ValueError("The official enhancer grid needs the MODEL of Load Enhancer (MS-Vid2Vid-XL's noise schedule).")
    return official_sigmas(sampling.vp_sigmas.cpu(), steps, round(strength * TRAIN_TIMESTEPS))


def rescale_input() -> io.Float.Input:
    return io.Float.Input("guidance_rescale", default=OFFICIAL_RESCALE, min=0.0, max=1.0, step=0.01,
                          tooltip="Pulls the guided prediction's spread back towards the prompt's, per chunk (official: 0.2).")


OUTPUTS = [io.Image.Output(display_name="frames", tooltip="The enhanced frames (see output_frames)."),
           io.String.Output(display_name="video_path", tooltip="The finished video file (or PNG folder)."),
           video_output("The finished video as a VIDEO, for core Save Video, Get Video Components and other video nodes.")]


class EnhanceNode(io.ComfyNode):
    @classmethod
    def validate_inputs(cls, width: int = OFFICIAL_CANVAS[0], height: int = OFFICIAL_CANVAS[1], chunk_frames: int = BLEND_CHUNK_FRAMES,
                        overlap_frames: int = BLEND_OVERLAP_FRAMES, **_) -> bool | str:
        try:
            check_canvas_size(width, height)
        except ValueError as e:
            return f"width/height: {e}"
        if overlap_frames is not None and chunk_frames is not None and overlap_frames >= chunk_frames:
            return f"overlap_frames ({overlap_frames}) must be smaller than chunk_frames ({chunk_frames})."
        return True


def run(model, guider: GuiderFactory, conds: dict, noise, sampler, sigmas, guidance_rescale: float, seed: int, vae, frames,
        width: int, height: int, fit: str, length: str, chunk_frames: int, overlap_frames: int, hidden=None,
        **outputs) -> io.NodeOutput:
    request = EnhanceRequest(frames=frames, vae=vae, conds=conds, guider=guider, canvas=(width, height), fit=fit,
                             length_mode=length, chunk=chunk_frames, overlap=overlap_frames, seed=seed,
                             metadata=file_metadata(hidden), **outputs)
    enhanced, path = enhance(request, enhancer_model(model, guidance_rescale), noise, sampler, sigmas.cpu())
    return finished(enhanced, path, request.fps)


class StreamingT2VEnhance(EnhanceNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_Enhance",
            display_name="StreamingT2V Enhance",
            category="StreamingT2V/sampling",
            description="Enhances a video with MS-Vid2Vid-XL on a 1280x720 canvas: re-noised to a strength, denoised in "
                        "overlapping chunks whose seams move at every step (randomized blending). Defaults are the official "
                        f"run: {OFFICIAL_SAMPLER}, 30 steps, strength 0.6, cfg 7.5 with rescale 0.2, chunks 24 / overlap 8.",
            inputs=[
                io.Model.Input("model", tooltip="The MODEL of Load Enhancer."),
                vae_input(),
                io.Conditioning.Input("positive", tooltip="The prompt followed by ', ' (the official caption), encoded by the OpenCLIP ViT-H CLIP."),
                io.Conditioning.Input("negative", tooltip="The negative prompt (official: empty)."),
                frames_input(),
                io.Int.Input("seed", default=666, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Seeds the noise and the blending cuts (the official model seeds 666)."),
                steps_input(),
                strength_input(),
                cfg_input(),
                rescale_input(),
                io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS, default=OFFICIAL_SAMPLER,
                               tooltip=f"Any core sampler (official: {OFFICIAL_SAMPLER})."),
                io.Combo.Input("scheduler", options=[OFFICIAL_SCHEDULE] + list(comfy.samplers.KSampler.SCHEDULERS),
                               default=OFFICIAL_SCHEDULE, tooltip="official: trailing spacing from the strength's noise level, "
                                                                  "penultimate step dropped; others: core schedulers with denoise = strength."),
            ] + output_inputs(),
            outputs=OUTPUTS,
            is_output_node=True,
        )

    @classmethod
    def execute(cls, model, positive, negative, seed: int, steps: int, strength: float, cfg: float, guidance_rescale: float,
                sampler_name: str, scheduler: str, **kwargs) -> io.NodeOutput:
        if scheduler == OFFICIAL_SCHEDULE:
            sigmas = official_grid(model, steps, strength)
        else:
            sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler,
                                                     int(steps / strength))[-(steps + 1):]
        return run(model, cfg_guider(cfg), {"positive": positive, "negative": negative}, custom_sampler.Noise_RandomNoise(seed),
                   comfy.samplers.sampler_object(sampler_name), sigmas, guidance_rescale, seed, hidden=cls.hidden, **kwargs)


class StreamingT2VEnhanceAdvanced(EnhanceNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_EnhanceAdvanced",
            display_name="StreamingT2V Enhance (Advanced)",
            category="StreamingT2V/sampling",
            description="StreamingT2V Enhance with the pieces of SamplerCustomAdvanced: any NOISE, GUIDER, SAMPLER and "
                        "SIGMAS (the first sigma sets the strength; Enhance Sigmas gives the official grid). Build the GUIDER "
                        "(CFGGuider, DualCFGGuider, PerpNegGuider, ...) on Load Enhancer's MODEL with the caption.",
            inputs=[
                io.Guider.Input("guider", tooltip="A GUIDER on the MODEL of Load Enhancer, e.g. core CFGGuider with the caption "
                                                  "(the prompt followed by ', ') and the negative prompt."),
                vae_input(),
                frames_input(),
                io.Noise.Input("noise", tooltip="Random Noise: one noise tensor for the whole video, so overlapping chunks share it."),
                rescale_input(),
                io.Sampler.Input("sampler", tooltip="Any SAMPLER, e.g. from KSamplerSelect."),
                io.Sigmas.Input("sigmas", tooltip="Any SIGMAS starting below the top noise level, e.g. from Enhance Sigmas."),
                io.Int.Input("blend_seed", default=666, min=0, max=0xFFFFFFFFFFFFFFFF, tooltip="Seeds the randomized cuts."),
            ] + output_inputs(),
            outputs=OUTPUTS,
            is_output_node=True,
        )

    @classmethod
    def execute(cls, guider, noise, guidance_rescale: float, sampler, sigmas, blend_seed: int, **kwargs) -> io.NodeOutput:
        return run(guider.model_patcher, like_guider(guider), guider_conds(guider), noise, sampler, sigmas, guidance_rescale,
                   blend_seed, hidden=cls.hidden, **kwargs)


class EnhanceSigmas(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_EnhanceSigmas",
            display_name="Enhance Sigmas (official)",
            category="StreamingT2V/sampling",
            description="The official enhancer grid for a MS-Vid2Vid-XL MODEL: trailing spacing from the strength's noise "
                        "level, the penultimate step dropped (30 steps at 0.6: 4.165 ... 0.123, 0).",
            inputs=[
                io.Model.Input("model", tooltip="The MODEL of Load Enhancer (its noise schedule)."),
                steps_input(),
                strength_input(),
            ],
            outputs=[io.Sigmas.Output()],
        )

    @classmethod
    def execute(cls, model, steps: int, strength: float) -> io.NodeOutput:
        return io.NodeOutput(official_grid(model, steps, strength))
