"""The ComfyUI side of the pack: node classes and host types, thin over st2v_modules."""
