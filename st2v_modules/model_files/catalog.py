"""Every model file the pack uses: where it comes from, how big it is, its checksum and where it goes.

The one place these facts live: the downloader, the Download Models node and README's models table
all read this list. Sizes and SHA-256 values are the ones the hosting page publishes (Hugging Face
shows them as "Git LFS Details"); `sha256=None` means we found no published value, and the
downloader then warns and skips the check for that file instead of guessing.
"""
from __future__ import annotations

from dataclasses import dataclass

HF = "https://huggingface.co"


@dataclass(frozen=True)
class ModelFile:
    name: str
    """Short id for the command line and the node's combo."""
    purpose: str
    """Which node loads the file."""
    url: str
    folder: str
    """The ComfyUI models folder (a `folder_paths` key) the file goes into."""
    path: str
    """Where the file goes inside that folder (forward slashes)."""
    size: str
    """The size as the hosting page shows it."""
    size_bytes: int | None
    """The exact size, where the page gives it (the Git LFS pointer)."""
    sha256: str | None


CATALOG: tuple[ModelFile, ...] = (
    ModelFile(
        name="streamingt2v",
        purpose="Load StreamingT2V",
        url=f"{HF}/PAIR/StreamingT2V/resolve/main/streaming_t2v.ckpt",
        folder="streamingt2v", path="streaming_t2v.ckpt",
        size="25.6 GB", size_bytes=25_568_849_525,
        sha256="821f94e00bb9e25b0b03ab5a37ac01d31a24df4573f2b7809c34c54c9712aa5c"),
    ModelFile(
        name="modelscope_t2v_unet",
        purpose="Load ModelScope T2V Model (first chunk)",
        url=f"{HF}/ali-vilab/text-to-video-ms-1.7b/resolve/main/unet/diffusion_pytorch_model.fp16.safetensors",
        folder="streamingt2v", path="text-to-video-ms-1.7b/unet/diffusion_pytorch_model.fp16.safetensors",
        size="2.82 GB", size_bytes=None,
        sha256="f972e78d39735baa09aab1cf60dd19f213e32f1c5a89382385e1a7f647b2e537"),
    ModelFile(
        name="modelscope_t2v_text_encoder",
        purpose="core Load CLIP, type stable_diffusion (first chunk)",
        url=f"{HF}/ali-vilab/text-to-video-ms-1.7b/resolve/main/text_encoder/model.fp16.safetensors",
        folder="text_encoders", path="text-to-video-ms-1.7b/model.fp16.safetensors",
        size="681 MB", size_bytes=None,
        sha256="6ab158327d06ce861b5c78843672c78433ea82fcf03f142097ba204b81251cd2"),
    ModelFile(
        name="modelscope_t2v_vae",
        purpose="core Load VAE (first chunk)",
        url=f"{HF}/ali-vilab/text-to-video-ms-1.7b/resolve/main/vae/diffusion_pytorch_model.fp16.safetensors",
        folder="vae", path="text-to-video-ms-1.7b/diffusion_pytorch_model.fp16.safetensors",
        size="167 MB", size_bytes=None,
        sha256="c8b011e5a18c53888d51a81aa28223ddec87b450c14dc9650d9c3ebbcd17624e"),
    ModelFile(
        name="enhancer_unet",
        purpose="Load Enhancer: unet_name (MS-Vid2Vid-XL UNet)",
        url=f"{HF}/ali-vilab/MS-Vid2Vid-XL/resolve/main/non_ema_0035000.pth",
        folder="streamingt2v", path="MS-Vid2Vid-XL/non_ema_0035000.pth",
        size="5.65 GB", size_bytes=None, sha256=None),
    ModelFile(
        name="enhancer_text_encoder",
        purpose="core Load CLIP, type stable_diffusion (enhancer's OpenCLIP ViT-H/14 text encoder)",
        url=f"{HF}/ali-vilab/MS-Vid2Vid-XL/resolve/main/open_clip_pytorch_model.bin",
        folder="text_encoders", path="MS-Vid2Vid-XL/open_clip_pytorch_model.bin",
        size="3.94 GB", size_bytes=None, sha256=None),
    ModelFile(
        name="enhancer_vae",
        purpose="Load Enhancer: vae_name (the VAE inside this SD 2.1 checkpoint)",
        url=f"{HF}/ali-vilab/MS-Vid2Vid-XL/resolve/main/v2-1_512-ema-pruned.ckpt",
        folder="streamingt2v", path="MS-Vid2Vid-XL/v2-1_512-ema-pruned.ckpt",
        size="5.21 GB", size_bytes=None,
        sha256="88ecb782561455673c4b78d05093494b9c539fc6bfc08f3a9a4a0dd7b0b10f36"),
    ModelFile(
        name="raft_large",
        purpose="Video Metrics (RAFT-large optical flow for MAWE)",
        url="https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        folder="optical_flow", path="raft_large_C_T_SKHT_V2-ff5fadd5.pth",
        size="21.1 MB", size_bytes=21_106_607,
        sha256="ff5fadd56d26b40647388883af1547351ea17868b765c05b27231e72dd16a322"),
)

BY_NAME: dict[str, ModelFile] = {entry.name: entry for entry in CATALOG}


def find(name: str) -> ModelFile:
    if name not in BY_NAME:
        raise KeyError(f"no model named {name!r}; choose one of: {', '.join(BY_NAME)}")
    return BY_NAME[name]


def for_file(folder: str, path: str) -> ModelFile | None:
    """The entry of a file as a loader names it (folder key and path inside it), if the catalog has it."""
    return next((e for e in CATALOG if e.folder == folder and e.path == path.replace("\\", "/")), None)


DOWNLOAD_COMMAND = "python -m st2v_modules.download"
"""The terminal command that fetches catalog files by name (run in the pack's folder with ComfyUI's Python)."""


def markdown_table() -> str:
    """README's models table, rendered from the catalog so the two cannot disagree."""
    rows = ["| name | file | download | size | sha256 | folder | used by |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for e in CATALOG:
        size = f"{e.size} ({e.size_bytes:,} bytes)" if e.size_bytes else e.size
        sha = f"`{e.sha256}`" if e.sha256 else "not published; the download is not verified"
        rows.append(f"| `{e.name}` | `{e.path.rsplit('/', 1)[-1]}` | [{_host(e.url)}]({e.url}) | {size} | {sha} "
                    f"| `models/{e.folder}/{e.path}` | {e.purpose} |")
    return "\n".join(rows)


def _host(url: str) -> str:
    """`PAIR/StreamingT2V` for a Hugging Face file, else the server's name."""
    if url.startswith(HF + "/"):
        return "/".join(url[len(HF) + 1:].split("/")[:2])
    return url.split("/")[2]
