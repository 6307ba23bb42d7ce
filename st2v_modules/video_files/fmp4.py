"""Fragmented MP4 (ISO/IEC 14496-12 and -15) for one H.264 track: an init segment, then one fragment per call.

A fragmented file is playable up to its last whole fragment, so a video written a chunk at a time survives a crash
with every finished chunk (an ordinary mp4 is unreadable until its index is written at the end). Samples are the
encoder's Annex B packets, stored length-prefixed; no B-frames, so decode and presentation order agree.
"""
from __future__ import annotations

import re
import struct

TRACK_ID = 1
MOVIE_TIMESCALE = 1000
IDENTITY_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
HIGH_PROFILES = (100, 110, 122, 144)  # their avcC also states chroma format and bit depth
SYNC_SAMPLE, NON_SYNC_SAMPLE = 0x02000000, 0x01010000  # depends on no other sample / depends on others, not sync
NAL_SPS, NAL_PPS = 7, 8
TFHD_DEFAULT_DURATION, TFHD_BASE_IS_MOOF = 0x8, 0x20000
TRUN_DATA_OFFSET, TRUN_SIZES, TRUN_FLAGS = 0x1, 0x200, 0x400


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags), *payload)


def nal_units(annex_b: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes 00 00 01 or 00 00 00 01)."""
    return [unit.rstrip(b"\0") for unit in re.split(b"\0\0\1", annex_b) if unit.rstrip(b"\0")]


def length_prefixed(annex_b: bytes) -> bytes:
    """A sample as MP4 stores it: each NAL unit after its 4-byte length."""
    return b"".join(struct.pack(">I", len(unit)) + unit for unit in nal_units(annex_b))


def avc_configuration(extradata: bytes) -> bytes:
    """The avcC box from the encoder's global header (its SPS and PPS in Annex B)."""
    units = nal_units(extradata)
    sps = [u for u in units if u[0] & 0x1F == NAL_SPS]
    pps = [u for u in units if u[0] & 0x1F == NAL_PPS]
    if not sps or not pps:
        raise ValueError("the H.264 encoder gave no SPS/PPS header")
    profile, compatibility, level = sps[0][1], sps[0][2], sps[0][3]
    body = struct.pack(">5B", 1, profile, compatibility, level, 0xFC | 3)  # 4-byte NAL lengths
    body += struct.pack(">B", 0xE0 | len(sps)) + b"".join(struct.pack(">H", len(u)) + u for u in sps)
    body += struct.pack(">B", len(pps)) + b"".join(struct.pack(">H", len(u)) + u for u in pps)
    if profile in HIGH_PROFILES:
        body += struct.pack(">4B", 0xFC | 1, 0xF8, 0xF8, 0)  # 4:2:0, 8-bit luma and chroma, no SPS extensions
    return box(b"avcC", body)


def init_segment(width: int, height: int, timescale: int, extradata: bytes, metadata: dict[str, str] | None = None) -> bytes:
    """ftyp + moov: the track's description and no samples (they come in fragments)."""
    ftyp = box(b"ftyp", b"iso5", struct.pack(">I", 512), b"iso5iso6avc1mp41")
    mvhd = full_box(b"mvhd", 0, 0, struct.pack(">5I", 0, 0, MOVIE_TIMESCALE, 0, 0x10000), struct.pack(">H10x", 0x100),
                    IDENTITY_MATRIX, bytes(24), struct.pack(">I", TRACK_ID + 1))
    tkhd = full_box(b"tkhd", 0, 3, struct.pack(">5I", 0, 0, TRACK_ID, 0, 0), bytes(8), struct.pack(">4H", 0, 0, 0, 0),
                    IDENTITY_MATRIX, struct.pack(">2I", width << 16, height << 16))
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">4I2H", 0, 0, timescale, 0, 0x55C4, 0))  # language 'und'
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), b"vide", bytes(12), b"VideoHandler\0")
    avc1 = box(b"avc1", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">2H2I", width, height, 0x480000, 0x480000),
               bytes(4), struct.pack(">H", 1), bytes(32), struct.pack(">Hh", 0x18, -1), avc_configuration(extradata))
    stbl = box(b"stbl", full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1), full_box(b"stts", 0, 0, bytes(4)),
               full_box(b"stsc", 0, 0, bytes(4)), full_box(b"stsz", 0, 0, bytes(8)), full_box(b"stco", 0, 0, bytes(4)))
    minf = box(b"minf", full_box(b"vmhd", 0, 1, bytes(8)), box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1),
                                                                                full_box(b"url ", 0, 1))), stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    mvex = box(b"mvex", full_box(b"trex", 0, 0, struct.pack(">5I", TRACK_ID, 1, 0, 0, 0)))
    return ftyp + box(b"moov", mvhd, trak, mvex, *([metadata_box(metadata)] if metadata else []))


def metadata_box(metadata: dict[str, str]) -> bytes:
    """udta/meta with `mdta` keys: the container tags ffmpeg and PyAV read back (core SaveVideo writes them so)."""
    keys = full_box(b"keys", 0, 0, struct.pack(">I", len(metadata)),
                    *(box(b"mdta", key.encode()) for key in metadata))
    items = (box(struct.pack(">I", index), box(b"data", struct.pack(">2I", 1, 0), value.encode()))  # type 1: UTF-8
             for index, value in enumerate(metadata.values(), start=1))
    hdlr = full_box(b"hdlr", 0, 0, bytes(4), b"mdta", bytes(12), b"\0")
    return box(b"udta", full_box(b"meta", 0, 0, hdlr, keys, box(b"ilst", *items)))


def fragment(sequence: int, decode_time: int, duration: int, samples: list[tuple[bytes, bool]]) -> bytes:
    """moof + mdat for `samples` (length-prefixed data, is it a keyframe), the first decoded at `decode_time`."""
    tfhd = full_box(b"tfhd", 0, TFHD_BASE_IS_MOOF | TFHD_DEFAULT_DURATION, struct.pack(">2I", TRACK_ID, duration))
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    entries = b"".join(struct.pack(">2I", len(data), SYNC_SAMPLE if key else NON_SYNC_SAMPLE) for data, key in samples)
    trun_size = 8 + 4 + 8 + len(entries)
    moof_size = 8 + 16 + 8 + len(tfhd) + len(tfdt) + trun_size
    trun = full_box(b"trun", 0, TRUN_DATA_OFFSET | TRUN_SIZES | TRUN_FLAGS,
                    struct.pack(">Ii", len(samples), moof_size + 8), entries)  # data starts after mdat's header
    moof = box(b"moof", full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), box(b"traf", tfhd, tfdt, trun))
    return moof + box(b"mdat", *(data for data, _ in samples))
