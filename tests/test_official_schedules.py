"""The official schedules as host schedulers: the first chunk's DPM-Solver (diffusers 0.27.2
`DPMSolverMultistepScheduler.from_config(<the damo-vilab DDIM config>)`) and the extension steps' DDIM, checked
against diffusers itself (a test-only dependency) in sigmas, in the integer timesteps the UNet sees and in the
sampled result."""
import numpy as np
import pytest
import torch

from helpers.fake_models import SINGLE_FILE_FP16
from st2v_modules.sampling.timesteps import official_stage1_timesteps

pytestmark = pytest.mark.host
STEPS = 50
DAMO_VILAB_DDIM = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                       clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


def diffusers_schedulers(steps: int):
    diffusers = pytest.importorskip("diffusers", reason="diffusers' schedulers are the reference (requirements-test.txt)")
    ddim = diffusers.DDIMScheduler(**DAMO_VILAB_DDIM)
    stage1 = diffusers.DPMSolverMultistepScheduler.from_config(ddim.config)  # what model_init.py does to the pipeline
    ddim.set_timesteps(steps)
    stage1.set_timesteps(steps)
    return stage1, ddim


@pytest.fixture(scope="module")
def model(host):
    node = host.nodes.NODE_CLASS_MAPPINGS["STV_LoadModelScopeT2V"]
    return node.execute(unet_name=SINGLE_FILE_FP16, weight_dtype="default").result[0]


# diffusers computes the noise schedule in float32, where 1 - alpha_bar near t = 0 keeps 5 digits (the host's
# float64 schedule differs from it by 1.3e-5 relative at t = 0, by 2.4e-6 elsewhere)
FLOAT32_SCHEDULE = 2e-5


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    nonzero = reference > 0
    return ((ours[nonzero] - reference[nonzero]).abs() / reference[nonzero]).max().item()


def test_stage1_timesteps_are_diffusers_linspace_for_every_step_count():
    for steps in range(1, 1001):
        expected = np.linspace(0, 999, steps + 1).round()[::-1][:-1].astype(np.int64).tolist()
        assert official_stage1_timesteps(steps) == expected, steps
    assert official_stage1_timesteps(STEPS)[:3] == [999, 979, 959] and official_stage1_timesteps(STEPS)[-2:] == [40, 20]


@pytest.mark.parametrize("steps", [STEPS, 25, 7])
def test_both_official_schedules_are_host_schedulers_with_diffusers_sigmas(model, steps):
    """Before: the shipped `normal` ended its model calls at t = 0 (79% off in sigma at the last step), `sgm_uniform`
    is 0.17% off. After: float32 rounding of the same noise schedule (2.4e-6)."""
    import comfy.samplers
    stage1, ddim = diffusers_schedulers(steps)
    sampling = model.get_model_object("model_sampling")
    assert {"streamingt2v_stage1", "streamingt2v_ddim"} <= set(comfy.samplers.KSampler.SCHEDULERS)
    ours = comfy.samplers.calculate_sigmas(sampling, "streamingt2v_stage1", steps)
    assert ours[-1] == 0 and torch.equal(sampling.timestep(ours[:-1]), stage1.timesteps)
    error = relative_error(ours, stage1.sigmas)
    before = {name: relative_error(comfy.samplers.calculate_sigmas(sampling, name, steps), stage1.sigmas)
              for name in ("normal", "sgm_uniform")}
    print(f"{steps} steps, first chunk: relative sigma error {error:.2e} (before: {before})")
    assert error < FLOAT32_SCHEDULE
    ddim_sigmas = comfy.samplers.calculate_sigmas(sampling, "streamingt2v_ddim", steps)
    alphas = ddim.alphas_cumprod
    expected = ((1 - alphas) / alphas).sqrt()[torch.cat([ddim.timesteps, torch.zeros(1, dtype=torch.long)])]
    assert relative_error(ddim_sigmas, expected) < FLOAT32_SCHEDULE  # ends at t = 0's sigma: set_alpha_to_one is false
    assert sampling.timestep(ddim_sigmas[:-1]).tolist() == ddim.timesteps.tolist()


def test_the_core_ksampler_runs_the_stage1_timesteps_on_our_model(host, model):
    """dpmpp_2m on streamingt2v_stage1 in the core KSampler: the UNet sees exactly diffusers' integer timesteps
    (8 steps without guidance keep it quick; the test above checks every schedule's timesteps at 50)."""
    steps = 8
    stage1, _ = diffusers_schedulers(steps)
    seen = []
    hook = model.model.diffusion_model.register_forward_pre_hook(lambda module, args: seen.append(int(args[1][0])))
    conditioning = [[torch.zeros(1, 77, 1024), {}]]
    try:
        host.nodes.common_ksampler(model, 0, steps, 1.0, "dpmpp_2m", "streamingt2v_stage1", conditioning, conditioning,
                                   {"samples": torch.zeros(2, 4, 4, 4)})
    finally:
        hook.remove()
    assert seen == stage1.timesteps.tolist()


def test_dpmpp_2m_on_stage1_reproduces_diffusers_dpm_solver():
    """The whole first-chunk trajectory on a toy epsilon model: the host's dpmpp_2m from sqrt(1 + sigma^2) * noise
    (its full-denoise start) against diffusers' scheduler loop from the same noise."""
    import comfy.k_diffusion.sampling as k_sampling
    stage1, _ = diffusers_schedulers(STEPS)
    alphas = stage1.alphas_cumprod
    train_sigmas = ((1 - alphas) / alphas).sqrt()
    sigmas = torch.cat([train_sigmas[official_stage1_timesteps(STEPS)], torch.zeros(1)])

    def epsilon(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return torch.tanh(0.3 * x + t.float().view(-1, 1, 1, 1) / 1000)

    noise = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    reference = noise.clone()
    for t in stage1.timesteps:
        reference = stage1.step(epsilon(reference, t.repeat(2)), t, reference).prev_sample

    def denoised(x, sigma, **_):
        t = (train_sigmas.log()[:, None] - sigma.log()).abs().argmin(dim=0)
        s = sigma.view(-1, 1, 1, 1)
        return x - s * epsilon(x / (1 + s**2).sqrt(), t)

    ours = k_sampling.sample_dpmpp_2m(denoised, noise * (1 + sigmas[0] ** 2).sqrt(), sigmas, disable=True)
    assert (ours - reference).abs().max() <= 1e-5 * reference.abs().max()
