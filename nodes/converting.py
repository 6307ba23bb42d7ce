"""Convert StreamingT2V: the official .ckpt to a pickle-free .safetensors beside it, once."""
from __future__ import annotations

import os

from comfy_api.latest import io, ui

from ..st2v_modules.checkpoints.convert import convert
from . import paths


class ConvertStreamingT2V(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_ConvertStreamingT2V",
            display_name="Convert StreamingT2V to safetensors",
            category="StreamingT2V/loaders",
            description="Writes the weights of streaming_t2v.ckpt as a .safetensors next to it (no optimizer state, "
                        "nothing pickled), which loads faster. Press R afterwards to see it in Load StreamingT2V.",
            inputs=[
                io.Combo.Input("ckpt_name", options=paths.model_files(), tooltip="The checkpoint to convert, from models/streamingt2v."),
                io.Boolean.Input("fp16", default=True, tooltip="Store in half precision: half the size (about 6.5 GB)."),
                io.String.Input("filename", default="streaming_t2v_fp16.safetensors",
                                tooltip="Name of the new file in the same folder; must end in .safetensors."),
            ],
            outputs=[io.String.Output(display_name="path", tooltip="Where the converted file was written.")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, ckpt_name: str | None = None) -> bool | str:
        return paths.check_model_files(cls.define_schema().display_name, {"ckpt_name": ckpt_name})

    @classmethod
    def execute(cls, ckpt_name: str, fp16: bool, filename: str) -> io.NodeOutput:
        if os.path.basename(filename) != filename:
            raise ValueError(f"filename {filename!r} must be a plain file name; the file goes next to {ckpt_name}.")
        source = paths.model_path(ckpt_name)
        target = convert(source, os.path.join(os.path.dirname(source), filename), fp16)
        return io.NodeOutput(target, ui=ui.PreviewText(f"Converted to {target}"))
