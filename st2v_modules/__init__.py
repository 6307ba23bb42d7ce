"""Pure-PyTorch StreamingT2V building blocks; no ComfyUI imports here."""
