"""How a long video is sampled: chunk plans, timesteps, prompt schedules, randomized blending, the enhancer
canvas and frame checks. Plain arithmetic over ints and tensors."""
