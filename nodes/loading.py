"""Loader nodes: model files from the `streamingt2v` models folder to host types."""
from __future__ import annotations

from comfy_api.latest import io

from . import paths
from .inputs import weight_dtype_input
from .model import load_modelscope_t2v
from .streamingt2v_model import StreamingT2VType, load_streamingt2v


class LoadModelScopeT2V(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_LoadModelScopeT2V",
            display_name="Load ModelScope T2V Model",
            category="StreamingT2V/loaders",
            description="Loads the ModelScope text-to-video UNet (the first-chunk model of StreamingT2V) as a MODEL for the "
                        "core samplers. Its text encoder and VAE load with the core Load CLIP (type stable_diffusion) and "
                        "Load VAE nodes.",
            inputs=[
                io.Combo.Input("unet_name", options=paths.model_files(),
                               tooltip="UNet weights in models/streamingt2v: text-to-video-ms-1.7b/unet/"
                                       "diffusion_pytorch_model.safetensors (diffusers), a single .safetensors, or "
                                       "ModelScope's text2video_pytorch_model.pth."),
                weight_dtype_input(),
            ],
            outputs=[io.Model.Output(tooltip="The ModelScope T2V UNet3D; latents hold the frames in the batch.")],
        )

    @classmethod
    def validate_inputs(cls, unet_name: str | None = None) -> bool | str:
        """Refuse before anything runs, naming the missing file with its size, URL and how to fetch it."""
        return paths.check_model_files(cls.define_schema().display_name, {"unet_name": unet_name})

    @classmethod
    def execute(cls, unet_name: str, weight_dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_modelscope_t2v(paths.model_path(unet_name), weight_dtype))


class LoadStreamingT2V(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_LoadStreamingT2V",
            display_name="Load StreamingT2V",
            category="StreamingT2V/loaders",
            description="Loads the official streaming_t2v.ckpt (or a .safetensors converted from it): the fine-tuned UNet, "
                        "its text encoder, VAE and OpenCLIP image encoder, and the CAM + APM that extend a video.",
            inputs=[
                io.Combo.Input("ckpt_name", options=paths.model_files(),
                               tooltip="streaming_t2v.ckpt from PAIR/StreamingT2V in models/streamingt2v, or its converted .safetensors."),
                weight_dtype_input(),
            ],
            outputs=[
                io.Model.Output(tooltip="The StreamingT2V UNet (not the stock ModelScope one: its spatial layers were fine-tuned)."),
                io.Clip.Output(tooltip="The checkpoint's OpenCLIP ViT-H text encoder (None if the file has none)."),
                io.Vae.Output(tooltip="The checkpoint's VAE (None if the file has none)."),
                io.ClipVision.Output(tooltip="The checkpoint's OpenCLIP ViT-H/14 image encoder for the APM (None if the file has none)."),
                StreamingT2VType.Output(tooltip="CAM + APM resampler; use with StreamingT2V Conditioning."),
            ],
        )

    @classmethod
    def validate_inputs(cls, ckpt_name: str | None = None) -> bool | str:
        """Refuse before anything runs, naming the missing file with its size, URL and how to fetch it."""
        return paths.check_model_files(cls.define_schema().display_name, {"ckpt_name": ckpt_name})

    @classmethod
    def execute(cls, ckpt_name: str, weight_dtype: str) -> io.NodeOutput:
        return io.NodeOutput(*load_streamingt2v(paths.model_path(ckpt_name), ckpt_name, weight_dtype))
