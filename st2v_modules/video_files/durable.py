"""Files that are whole or absent after any crash: written beside their name, fsynced, then renamed into place."""
from __future__ import annotations

import os
from typing import BinaryIO, Callable


def write_durably(path: str, write: Callable[[BinaryIO], object]) -> None:
    """`write(file)` fills `<path>.tmp`; once it is on disk it replaces `path`. On an error `path` is left as it was."""
    temporary = path + ".tmp"
    try:
        with open(temporary, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
        fsync_directory(os.path.dirname(os.path.abspath(path)))
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def fsync_directory(folder: str) -> None:
    """Make a rename in `folder` survive a power cut (POSIX; Windows has no directory handles to sync)."""
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
