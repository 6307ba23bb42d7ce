"""Loader nodes: model files from the `streamingt2v` models folder to host types."""
from __future__ import annotations

from comfy_api.latest import io

from . import paths
from .model import WEIGHT_DTYPES, load_modelscope_t2v


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
                io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default",
                               tooltip="default: fp16/bf16 on GPU, fp32 on CPU, as ComfyUI decides. Force one to trade "
                                       "memory against precision."),
            ],
            outputs=[io.Model.Output(tooltip="The ModelScope T2V UNet3D; latents hold the frames in the batch.")],
        )

    @classmethod
    def execute(cls, unet_name: str, weight_dtype: str) -> io.NodeOutput:
        return io.NodeOutput(load_modelscope_t2v(paths.model_path(unet_name), weight_dtype))
