"""Many prompts on many GPUs: a prompt list run on a Ray cluster, one headless ComfyUI with the pack per GPU, lost
workers replaced and their videos continued from the manifest, the enhancement on a second pool and split into
segments. Needs Ray (requirements-distributed.txt); nothing else in the pack imports this package."""
