"""Model downloads that survive a broken connection and never leave a wrong file behind.

A file streams into `<file>.part`. After an interruption the download continues from there with an
HTTP Range request, within the same call (a few retries) or the next time it is asked for; a server
that ignores Range sends the whole file again and we start over. The `.part` becomes the real file
only once its size and SHA-256 match the published values. A `.part` whose checksum is wrong is
deleted, since resuming it can never give the right file. `HF_ENDPOINT` (as in huggingface_hub)
points the Hugging Face downloads at a mirror.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from typing import Callable

from tqdm import tqdm

from .catalog import HF, ModelFile

log = logging.getLogger(__name__)

Progress = Callable[[int, "int | None"], None]
"""Called with (bytes done, total bytes or None) as data arrives; an exception it raises stops the
download and keeps the `.part` for later."""

CHUNK_BYTES = 1 << 20
USER_AGENT = "ComfyUI-StreamingT2V-downloader"


class DownloadError(RuntimeError):
    """A download that cannot finish; the message says why and what to do."""


class _Interrupted(Exception):
    """The connection ended early; worth another try from where it stopped."""


def source_url(url: str) -> str:
    """The URL to fetch: Hugging Face files go through `HF_ENDPOINT` when it is set."""
    mirror = os.environ.get("HF_ENDPOINT", "").rstrip("/")
    return mirror + url[len(HF):] if mirror and url.startswith(HF + "/") else url


def target_path(entry: ModelFile, folder_dir: str) -> str:
    return os.path.join(folder_dir, *entry.path.split("/"))


def download_model(entry: ModelFile, folder_dir: str, progress: Progress | None = None, **options) -> tuple[str, bool]:
    """Fetch one catalog file into its models folder; returns (path, whether it was downloaded now)."""
    target = target_path(entry, folder_dir)
    return target, download_file(source_url(entry.url), target, entry.sha256, entry.size_bytes, progress, **options)


def download_file(url: str, target: str, sha256: str | None = None, size_bytes: int | None = None,
                  progress: Progress | None = None, attempts: int = 5, retry_wait_s: float = 2.0,
                  timeout_s: float = 60.0) -> bool:
    """Download `url` to `target` unless it is there and checks out; True when it downloaded, False when it was there.

    A file at `target` whose size or SHA-256 is wrong (a download that stopped early and was renamed by hand, a
    browser's cut-off file) is not "there": the download continues from its end, and the usual checks decide."""
    part = target + ".part"
    if os.path.exists(target):
        problem = file_problem(target, sha256, size_bytes)
        if problem is None:
            return False
        log.warning("%s is there but %s; continuing its download from where it ends.", target, problem)
        if os.path.exists(part) and os.path.getsize(part) > os.path.getsize(target):
            os.remove(target)
        else:
            os.replace(target, part)
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    digest = _PartDigest(part)
    for attempt in range(1, attempts + 1):
        try:
            _fetch_once(url, part, digest, progress, timeout_s)
            break
        except _Interrupted as why:
            if attempt == attempts:
                raise DownloadError(_gave_up(url, part, str(why))) from None
            log.warning("%s: connection broken (%s); resuming (try %d of %d)", url, why, attempt + 1, attempts)
            time.sleep(retry_wait_s * attempt)
    _verify(part, digest, sha256, size_bytes, url)
    os.replace(part, target)
    return True


_verified: dict[tuple[str, int, int], str] = {}  # (path, size, mtime) -> SHA-256, so a file is hashed once per change


def file_problem(path: str, sha256: str | None, size_bytes: int | None, hash_it: bool = True) -> str | None:
    """Why the file at `path` is not the published one (wrong size, wrong SHA-256), or None when it is (or cannot be
    told: nothing published). `hash_it=False` checks the size only (a quick listing)."""
    stat = os.stat(path)
    if size_bytes is not None and stat.st_size != size_bytes:
        return f"has {stat.st_size:,} bytes, expected {size_bytes:,}"
    if sha256 is None or not hash_it:
        return None
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        digest = _PartDigest(path)
        digest.catch_up(stat.st_size)
        _verified[key] = digest.sha.hexdigest()
    if _verified[key] != sha256.lower():
        return f"its SHA-256 is {_verified[key]}, expected {sha256}"
    return None


def _gave_up(url: str, part: str, why: str) -> str:
    """What to do after the last try: continue the kept bytes later, or reach the server another way."""
    if os.path.exists(part):
        return (f"{url}: the connection kept breaking ({why}); {os.path.getsize(part):,} bytes are kept in {part} "
                f"and the next try continues from there.")
    return (f"{url}: the server could not be reached ({why}); nothing was downloaded. Check the internet connection, "
            f"set HF_ENDPOINT to a Hugging Face mirror, or download the file in a browser and put it at {part[:-5]}.")


class _PartDigest:
    """SHA-256 of the `.part` file, kept up to date as bytes are appended, so no second pass is needed."""

    def __init__(self, part: str):
        self.part, self.sha, self.covered = part, hashlib.sha256(), 0

    def restart(self) -> None:
        self.sha, self.covered = hashlib.sha256(), 0

    def catch_up(self, offset: int) -> None:
        """Hash what an earlier run left in the `.part` before appending to it."""
        with open(self.part, "rb") as f:
            f.seek(self.covered)
            while self.covered < offset:
                block = f.read(min(CHUNK_BYTES, offset - self.covered))
                if not block:
                    raise DownloadError(f"{self.part} shrank while being resumed; delete it and try again.")
                self.sha.update(block)
                self.covered += len(block)

    def add(self, block: bytes) -> None:
        self.sha.update(block)
        self.covered += len(block)


def _fetch_once(url: str, part: str, digest: _PartDigest, progress: Progress | None, timeout_s: float) -> None:
    start = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # the .part already holds the whole file
            digest.catch_up(start)
            return
        if error.code >= 500:
            raise _Interrupted(f"HTTP {error.code}") from None
        raise DownloadError(f"{url}: the server answered HTTP {error.code} {error.reason}.") from None
    except OSError as error:
        raise _Interrupted(str(error)) from None
    with response:
        resumed = start > 0 and response.status == 206
        if resumed:
            _check_range(response.headers.get("Content-Range", ""), start, url)
            digest.catch_up(start)
        else:
            start = 0
            digest.restart()
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        _check_disk_space(part, (total - start) if total else None)
        done = start
        with open(part, "ab" if resumed else "wb") as out:
            if progress:
                progress(done, total)
            while True:
                try:
                    block = response.read(CHUNK_BYTES)
                except (OSError, http.client.HTTPException) as error:
                    raise _Interrupted(str(error) or type(error).__name__) from None
                if not block:
                    break
                out.write(block)
                digest.add(block)
                done += len(block)
                if progress:
                    progress(done, total)
    if total is not None and done < total:
        raise _Interrupted(f"got {done:,} of {total:,} bytes")


def _check_range(content_range: str, start: int, url: str) -> None:
    match = re.match(r"bytes (\d+)-", content_range)
    if not match or int(match.group(1)) != start:
        raise DownloadError(f"{url}: asked to resume at byte {start:,} but the server sent {content_range!r}; "
                            "delete the .part file and try again.")


def _check_disk_space(part: str, needed: int | None) -> None:
    free = shutil.disk_usage(os.path.dirname(os.path.abspath(part))).free
    if needed is not None and needed > free:
        raise DownloadError(f"{os.path.basename(part)[:-5]} needs {_size(needed)} but only {_size(free)} "
                            f"are free in {os.path.dirname(os.path.abspath(part))}; free some space and try again "
                            "(the download continues where it stopped).")


def _verify(part: str, digest: _PartDigest, sha256: str | None, size_bytes: int | None, url: str) -> None:
    size = os.path.getsize(part)
    name = os.path.basename(part)[:-len(".part")]
    if size_bytes is not None and size != size_bytes:
        os.remove(part)
        raise DownloadError(f"{name} from {url} has {size:,} bytes, expected {size_bytes:,}; the broken download was "
                            "deleted. Try again; if it repeats, the file on the server changed.")
    if sha256 is None:
        log.warning("%s: no published SHA-256 to compare with; the download is NOT verified.", name)
        return
    digest.catch_up(size)
    actual = digest.sha.hexdigest()
    if actual != sha256.lower():
        os.remove(part)
        raise DownloadError(f"{name} from {url} is corrupt or not the expected file: SHA-256 {actual}, expected "
                            f"{sha256}. The broken download was deleted; try again.")


def _size(n: int) -> str:
    return tqdm.format_sizeof(n, "B", 1000)
