"""Videos on disk: written as they are made, read back for a resume or for metrics."""
