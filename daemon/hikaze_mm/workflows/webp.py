"""The EXIF texts of a WebP, where ComfyUI's SaveAnimatedWEBP puts the workflow (`workflow:{...}` in Make and the
tags below it, `prompt:{...}` in Model). The RIFF chunks are walked to the EXIF one and only that is handed to
Pillow: opening the image with Pillow would set up a decoder, and a canvas, for the size the header claims."""

from __future__ import annotations

import struct

from PIL import Image

from hikaze_mm.workflows.errors import WorkflowError

_CHUNK = struct.Struct("<4sI")
MAX_CHUNKS = 100_000  # an animated WebP has a few per frame


def webp_texts(data: bytes, keys: frozenset[str]) -> dict[str, str]:
    """The `key:value` texts of the EXIF whose key is in `keys` (the first of each)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise WorkflowError("the body is not a WebP: it does not start with RIFF....WEBP")
    exif = _exif_chunk(data)
    if exif is None:
        return {}
    _check_tiff(exif.removeprefix(b"Exif\x00\x00"))
    try:
        tags = Image.Exif()
        tags.load(exif)
        values = list(tags.values())
    except Exception:  # Pillow's EXIF parser raises many kinds on a damaged block
        raise WorkflowError("the WebP's EXIF block is damaged: its directories cannot be read") from None
    texts: dict[str, str] = {}
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            key, sep, text = value.partition(":")
            if sep and key in keys:
                texts.setdefault(key, text.rstrip("\0"))
    return texts


def _check_tiff(exif: bytes) -> None:
    """Pillow passes over an EXIF block whose first directory lies outside it as if it were empty; a block that
    says nothing is damaged, not a WebP without a workflow."""
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(exif[:4])
    if order is None or len(exif) < 8:
        raise WorkflowError("the WebP's EXIF block is damaged: it does not start with a TIFF header")
    first = struct.unpack(order + "I", exif[4:8])[0]
    if not 8 <= first <= len(exif) - 2:
        raise WorkflowError(f"the WebP's EXIF block is damaged: its first directory is at byte {first}, past its "
                            f"end ({len(exif)} bytes)")


def _exif_chunk(data: bytes) -> bytes | None:
    pos, chunks = 12, 0
    while pos + _CHUNK.size <= len(data):
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise WorkflowError(f"the WebP has more than {MAX_CHUNKS} chunks")
        fourcc, size = _CHUNK.unpack_from(data, pos)
        start = pos + _CHUNK.size
        if start + size > len(data):
            raise WorkflowError(f"the WebP is cut off at byte {len(data)}, inside its {fourcc!r} chunk")
        if fourcc == b"EXIF":
            return data[start:start + size]
        pos = start + size + (size & 1)  # chunks are padded to an even length
    return None
