"""`<video>.json`: what an extend run made, true at every moment, and read back (every field checked) for a resume.

Written before the first frame and after every chunk, whole or not at all (beside its name, then renamed): `status`
is 'running' while the run lives (and stays so when it is killed), then 'complete', 'cancelled' or 'failed' (with
`error`); `video` names the file from the start (the `.partial` one until the run completes); `chunk_log` lists the
chunks whose frames are in that file; `resume_frames` names the lossless anchor and last 8 frames beside it.

The resume contract: `resume_manifest` is this file's name relative to ComfyUI's output folder; a resume continues
after the last chunk its `chunk_log` records, whatever the status.
"""
from __future__ import annotations

import json
import math
import os
import time

import folder_paths

from ..st2v_modules.sampling.chunks import CONDITION_FRAMES, NEW_FRAMES_PER_CHUNK
from ..st2v_modules.video_files.durable import write_durably
from ..st2v_modules.video_files.writer import FORMATS, MP4

RUNNING, COMPLETE, CANCELLED, FAILED = "running", "complete", "cancelled", "failed"
STATUSES = (RUNNING, COMPLETE, CANCELLED, FAILED)


class Manifest:
    def __init__(self, path: str, data: dict):
        """`data`: the run's settings; status, progress and file names are kept here."""
        self.path = path
        self.data = {"status": RUNNING, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), **data, "chunk_log": [],
                     "chunks_done": 0}

    @property
    def chunks_done(self) -> int:
        return len(self.data["chunk_log"])

    def chunk_done(self, chunk: int, seed: int, prompt: str | None) -> None:
        """Called once the chunk's frames are on disk."""
        self.data["chunk_log"].append({"chunk": chunk, "seed": seed, "prompt": prompt})
        self.data["chunks_done"] = self.chunks_done
        self.save()

    def finish(self, status: str, video: str, error: str | None = None) -> None:
        self.data.update(status=status, video=os.path.basename(video), finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        if error is not None:
            self.data["error"] = error
        self.save()

    def save(self) -> None:
        text = json.dumps(self.data, indent=1).encode("utf-8")
        write_durably(self.path, lambda f: f.write(text))


class ManifestError(ValueError):
    """A resume_manifest that cannot be resumed; the message names the input and the field."""


def output_path(name: str, folder: str | None = None) -> str | None:
    """`name` (relative to `folder`, default the output folder) resolved with its links, if it lies inside the output
    folder; None otherwise."""
    output = os.path.realpath(folder_paths.get_output_directory())
    try:
        path = os.path.realpath(os.path.join(folder or output, name))
    except (ValueError, OSError):  # e.g. a NUL byte
        return None
    return path if path != output and os.path.commonpath([output, path]) == output else None


def _whole(minimum: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


def _name(v) -> bool:
    return isinstance(v, str) and bool(v)


# field -> (check, what is expected, required)
FIELDS = {
    "status": (lambda v: v in STATUSES, f"one of {', '.join(STATUSES)}", True),
    "video": (_name, "the name of the video written next to the manifest", True),
    "format": (lambda v: v in FORMATS, f"one of {', '.join(repr(f) for f in FORMATS)}", True),
    "start_frames": (_whole(CONDITION_FRAMES), f"a whole number of at least {CONDITION_FRAMES}", True),
    "frames_to_add": (_whole(1), "a whole number of at least 1", True),
    "chunks": (_whole(1), "a whole number of at least 1", True),
    "chunk_offset": (_whole(0), "a whole number of at least 0", True),
    "chunk_log": (lambda v: isinstance(v, list), "a list of {chunk, seed, prompt} entries", True),
    "seed": (_whole(0), "a whole number of at least 0", False),
    "chunks_done": (_whole(0), "a whole number of at least 0", False),
    "fps": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0,
            "a number above 0", False),
    "resume_frames": (lambda v: v is None or _name(v), "the name of the .resume.safetensors next to the manifest", False),
    "resumed_from": (lambda v: v is None or isinstance(v, str), "null or a manifest name", False),
    "prompt_schedule": (lambda v: v is None or isinstance(v, list), "null or a list of [frame, prompt]", False),
}


def read_manifest(name: str) -> tuple[str, dict]:
    """The manifest file `name` (under the output folder) with every field checked; raises ManifestError."""
    path = output_path(name)
    if path is None or not os.path.isfile(path):
        raise ManifestError(f"resume_manifest {name!r} is not a file in the output folder: give the .json written next to "
                            "the video, as its name under the output folder (e.g. 'StreamingT2V/video_00001_.json').")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"resume_manifest {name!r} is not valid JSON ({e}); give the .json that StreamingT2V Extend "
                            "wrote next to the video.") from None
    if not isinstance(data, dict):
        raise ManifestError(f"resume_manifest {name!r} holds a JSON {type(data).__name__}; a manifest is a JSON object "
                            "(the .json that StreamingT2V Extend wrote next to the video).")
    for field, (check, expected, required) in FIELDS.items():
        if field not in data:
            if required:
                raise ManifestError(f"resume_manifest {name!r} has no field {field!r} ({expected}); give the .json that "
                                    "StreamingT2V Extend wrote next to the video.")
        elif not check(data[field]):
            raise _field_error(name, field, data[field], expected)
    _check_progress(name, data)
    return path, data


def _field_error(name: str, field: str, value, expected: str) -> ManifestError:
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return ManifestError(f"resume_manifest {name!r}: field {field!r} is {shown}; expected {expected}.")


def _check_progress(name: str, data: dict) -> None:
    """The fields must agree: chunks numbered on from chunk_offset, no more than planned, frames the offset fits."""
    offset, log = data["chunk_offset"], data["chunk_log"]
    if data["start_frames"] - NEW_FRAMES_PER_CHUNK * offset < CONDITION_FRAMES:
        raise _field_error(name, "chunk_offset", offset, f"at most {(data['start_frames'] - CONDITION_FRAMES) // NEW_FRAMES_PER_CHUNK} "
                                                         f"(each earlier chunk is {NEW_FRAMES_PER_CHUNK} of its start_frames "
                                                         f"{data['start_frames']})")
    for i, entry in enumerate(log):
        if not (isinstance(entry, dict) and entry.get("chunk") == offset + i and _whole(0)(entry.get("seed"))
                and (entry.get("prompt") is None or isinstance(entry.get("prompt"), str))):
            raise _field_error(name, f"chunk_log[{i}]", entry, f"{{'chunk': {offset + i}, 'seed': a whole number, "
                                                                 "'prompt': null or text} (chunks count on from chunk_offset)")
    if len(log) > data["chunks"]:
        raise _field_error(name, "chunk_log", f"{len(log)} entries", f"at most 'chunks' = {data['chunks']} entries")


def manifest_file(name: str, manifest_path: str, field: str, data: dict, required: bool = True) -> str | None:
    """The file a manifest field names next to it, if it is inside the output folder (one message for missing and
    refused; a file that need not be there and is not gives None). A run killed between renaming its finished video
    and saving the manifest names the `.partial` one."""
    value = data[field]
    folder = os.path.dirname(manifest_path)
    wanted = os.path.isdir if field == "video" and data["format"] != MP4 else os.path.isfile
    inside = [path for path in (output_path(candidate, folder) for candidate in (value, value.replace(".partial", "", 1)))
              if path is not None]
    found = next((path for path in inside if wanted(path)), None)
    if found is None and (required or not inside):
        raise ManifestError(f"resume_manifest {name!r}: field {field!r} names {value!r}, which is not in the output folder "
                            "next to the manifest; the manifest must lie beside the files its run wrote.")
    return found
