"""ComfyUI-StreamingT2V: registers the pack's nodes with ComfyUI."""
from typing_extensions import override

from comfy_api.latest import ComfyExtension, io

from .nodes.conditioning import StreamingT2VConditioning
from .nodes.converting import ConvertStreamingT2V
from .nodes.downloading import DownloadModels
from .nodes.enhancing import EnhanceSigmas, LoadEnhancer, StreamingT2VEnhance, StreamingT2VEnhanceAdvanced
from .nodes.extending import StreamingT2VExtend, StreamingT2VExtendAdvanced
from .nodes.latents import EmptyVideoLatent
from .nodes.loading import LoadModelScopeT2V, LoadStreamingT2V
from .nodes.measuring import VideoMetrics
from .nodes.paths import register_model_folder
from .nodes.schedulers import register_schedulers


class StreamingT2VExtension(ComfyExtension):
    @override
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [LoadModelScopeT2V, LoadStreamingT2V, ConvertStreamingT2V, StreamingT2VConditioning,
                StreamingT2VExtend, StreamingT2VExtendAdvanced, EmptyVideoLatent, DownloadModels,
                LoadEnhancer, StreamingT2VEnhance, StreamingT2VEnhanceAdvanced, EnhanceSigmas, VideoMetrics]


async def comfy_entrypoint() -> StreamingT2VExtension:
    register_model_folder()
    register_schedulers()
    return StreamingT2VExtension()
