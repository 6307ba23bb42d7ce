"""Our MODELs attend through the host: every attention of the UNet3D, the CAM, the APM cross-attention, the mergers
and the enhancer runs ComfyUI's `optimized_attention`, so an attention-override patch in `transformer_options` sees
each call, and core's torch.compile wrapper compiles them."""
import pytest
import torch

from helpers.model_runs import MODELS, loaded, sample_once as sample

pytestmark = pytest.mark.host


def attention_layers(host, modules: list[torch.nn.Module]) -> list[torch.nn.Module]:
    Attention = host.pack_module("st2v_modules.models.layers").Attention
    return [m for module in modules for m in module.modules() if isinstance(m, Attention)]


@pytest.mark.parametrize("kind", MODELS)
@torch.inference_mode()
def test_an_attention_override_patch_sees_every_attention_call(host, kind):
    import comfy.ldm.modules.attention
    model, positive, negative, modules = loaded(host, kind)
    layers = attention_layers(host, modules)
    assert layers and all(layer.attend is comfy.ldm.modules.attention.optimized_attention for layer in layers)
    plain = sample(model, positive, negative)

    calls, forwards = [], []

    def override(attention, *args, transformer_options=None, **kwargs):
        calls.append(transformer_options is not None)
        return attention(*args, transformer_options=transformer_options, **kwargs)

    patched = model.clone()
    patched.model_options.setdefault("transformer_options", {})["optimized_attention_override"] = override
    hook = patched.model.diffusion_model.register_forward_pre_hook(lambda *_: forwards.append(1))
    try:
        through_patch = sample(patched, positive, negative)
    finally:
        hook.remove()
    assert forwards and len(calls) == len(layers) * len(forwards)  # each attention of UNet (and CAM) once per forward
    assert all(calls) and torch.equal(through_patch, plain)


@torch.inference_mode()
def test_core_torch_compile_wraps_the_streamingt2v_model(host):
    """core TorchCompileModel's wrapper (backend eager: dynamo traces our forward, CAM from transformer_options
    included, without a C++ toolchain) gives the uncompiled result."""
    from comfy_api.torch_helpers import set_torch_compile_wrapper
    model, positive, negative, _ = loaded(host, "streamingt2v")
    plain = sample(model, positive, negative)
    compiled = model.clone()
    set_torch_compile_wrapper(model=compiled, backend="eager")
    torch.testing.assert_close(sample(compiled, positive, negative), plain, rtol=1e-4, atol=1e-5)
