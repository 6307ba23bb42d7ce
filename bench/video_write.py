"""What crash-proof writing costs per chunk: the video writer on 8-frame chunks of 256x256 frames (encode, one mp4
fragment written and fsynced), the lossless resume frames and the manifest (each written beside its name, fsynced,
renamed), all in the folder given (default: a temporary folder; pass one on the disk the videos go to).

Frames are a drifting smooth texture with a little noise, which h264 keeps at about the size of real frames.
Last line: `video_write: chunk_ms=... video_ms=... resume_frames_ms=... manifest_ms=... bytes_per_frame=...`.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from st2v_modules.video_files.durable import write_durably  # noqa: E402
from st2v_modules.video_files.resume_frames import ResumeFrames, save_resume_frames  # noqa: E402
from st2v_modules.video_files.writer import MP4, PNG, VideoWriter  # noqa: E402

SIZE, CHUNK, START = 256, 8, 16


def frames(count: int) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 6, SIZE), torch.linspace(0, 6, SIZE), indexing="ij")
    pattern = torch.stack([torch.sin(x + y), torch.cos(2 * x - y), torch.sin(3 * y)], dim=-1) * 0.2 + 0.4
    noise = torch.rand(SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0)) * 0.1
    return torch.stack([torch.roll(pattern + noise, 2 * t, dims=1) for t in range(count)])


def median_ms(fn, repeats: int) -> float:
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=30)
    parser.add_argument("--format", choices=("mp4", "png"), default="mp4")
    parser.add_argument("--folder", help="where to write (default: a temporary folder)")
    args = parser.parse_args()
    video = frames(START + CHUNK * args.chunks)
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        writer = VideoWriter(os.path.join(folder, "video"), MP4 if args.format == "mp4" else PNG, fps=8)
        writer.write(video[:START])
        video_ms = median_ms(lambda i: writer.write(video[START + CHUNK * i:START + CHUNK * (i + 1)]), args.chunks)
        resume = os.path.join(folder, "video.resume.safetensors")
        resume_ms = median_ms(lambda i: save_resume_frames(resume, ResumeFrames(video[:1], video[-CHUNK:], i)), args.chunks)
        record = json.dumps({"chunk_log": [{"chunk": i, "seed": 2**40 + i, "prompt": None} for i in range(150)]}).encode()
        manifest_ms = median_ms(lambda i: write_durably(os.path.join(folder, "video.json"), lambda f: f.write(record)), args.chunks)
        path = writer.finish()
        size = os.path.getsize(path) if os.path.isfile(path) else sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path))
    print(f"{args.chunks} chunks of {CHUNK} frames at {SIZE}x{SIZE} ({args.format}): video {video_ms:.1f} ms, resume frames "
          f"{resume_ms:.1f} ms, manifest {manifest_ms:.1f} ms per chunk (medians)")
    print(f"video_write: chunk_ms={video_ms + resume_ms + manifest_ms:.1f} video_ms={video_ms:.1f} resume_frames_ms={resume_ms:.1f} "
          f"manifest_ms={manifest_ms:.1f} bytes_per_frame={size / len(video):.0f} format={args.format}")


if __name__ == "__main__":
    main()
