"""Errors written for the person at the ComfyUI canvas."""


class CheckpointError(ValueError):
    """A weights file that cannot be used: says what the file looks like and what to do."""
