"""Download Models: fetches a catalog file into the right ComfyUI models folder, only when asked."""
from __future__ import annotations

import os

import comfy.model_management
import comfy.utils
import folder_paths
from comfy_api.latest import io, ui

from ..st2v_modules.model_files.catalog import CATALOG, ModelFile, find
from ..st2v_modules.model_files.downloader import DownloadError, download_file, file_problem, source_url, target_path
from .paths import folder_dir

PROGRESS_STEPS = 1000


def existing_path(entry: ModelFile) -> str | None:
    """The file, if it is in any of the folder's paths (extra_model_paths.yaml included)."""
    found = folder_paths.get_full_path(entry.folder, entry.path)
    if found is None and os.path.isfile(target_path(entry, folder_dir(entry))):
        found = target_path(entry, folder_dir(entry))
    return found


class DownloadModels(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="STV_DownloadModels",
            display_name="Download Models (StreamingT2V)",
            category="StreamingT2V/loaders",
            description="Downloads one of the files the pack needs into the right ComfyUI models folder, resuming an "
                        "interrupted download and checking the published SHA-256. Nothing is fetched unless download "
                        "is switched on; off, it only says whether the file is there. Press R afterwards so the "
                        "loaders list the new file.",
            inputs=[
                io.Combo.Input("model", options=[e.name for e in CATALOG], default=CATALOG[0].name,
                               tooltip="Which file: " + "; ".join(f"{e.name} = {e.purpose}, {e.size}" for e in CATALOG) + "."),
                io.Boolean.Input("download", default=False,
                                 tooltip="Off (default): only report where the file is or would go; no network access. "
                                         "On: download it now if it is missing (large files take long; cancel keeps "
                                         "the partial download and the next run continues it)."),
            ],
            outputs=[io.String.Output(display_name="path", tooltip="Where the file is (or will be once downloaded).")],
            is_output_node=True,
        )

    @classmethod
    def fingerprint_inputs(cls, model: str, download: bool) -> tuple:
        """Run again when the file appears, disappears or changes, not only when the inputs change."""
        found = existing_path(find(model))
        return (None,) if found is None else (found, os.path.getsize(found), os.path.getmtime(found))

    @classmethod
    def execute(cls, model: str, download: bool) -> io.NodeOutput:
        entry = find(model)
        found = existing_path(entry)
        problem = file_problem(found, entry.sha256, entry.size_bytes) if found is not None else None
        if found is not None and problem is None:
            return io.NodeOutput(found, ui=ui.PreviewText(f"{entry.name} is present: {found}"))
        target = found or target_path(entry, folder_dir(entry))
        if not download:
            state = f"is at {found} but {problem}: a download that stopped early or a damaged file" if problem else "is missing"
            return io.NodeOutput(target, ui=ui.PreviewText(
                f"{entry.name} ({entry.size}) {state}. Switch download on and run again to fetch it to {target}."))
        try:
            download_file(source_url(entry.url), target, entry.sha256, entry.size_bytes, _HostProgress())
        except DownloadError as error:
            raise RuntimeError(f"Download Models: {error}") from None
        note = "" if entry.sha256 else " (no published checksum: not verified)"
        return io.NodeOutput(target, ui=ui.PreviewText(f"{entry.name} downloaded to {target}{note}. Press R to refresh the loaders."))


class _HostProgress:
    """Download progress on the node's bar; the host's cancel button stops the download (the .part is kept)."""

    def __init__(self):
        self.bar, self.shown = comfy.utils.ProgressBar(PROGRESS_STEPS), -1

    def __call__(self, done: int, total: int | None) -> None:
        comfy.model_management.throw_exception_if_processing_interrupted()
        step = done * PROGRESS_STEPS // total if total else 0
        if step != self.shown:
            self.shown = step
            self.bar.update_absolute(step)
