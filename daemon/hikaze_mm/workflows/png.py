"""The text chunks of a PNG (tEXt, zTXt, iTXt), read by walking its chunks: no pixel is decoded, whatever size
the header claims, and a compressed text is inflated only up to a cap, so a zip bomb costs nothing."""

from __future__ import annotations

import struct
import zlib

from hikaze_mm.workflows.errors import WorkflowError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT = 32 * 1024 * 1024  # characters of one inflated text
MAX_INFLATED = 64 * 1024 * 1024  # bytes inflated from all of a PNG's texts together, as much as a body may be
MAX_CHUNKS = 100_000  # a 64 MiB image in ComfyUI's 64 KiB data chunks has about a thousand
_CHUNK = struct.Struct(">I4s")


def png_texts(data: bytes, keys: frozenset[str]) -> dict[str, str]:
    """The texts stored under `keys` (the first of each), inflated if compressed."""
    if not data.startswith(SIGNATURE):
        raise WorkflowError("the body is not a PNG: it does not start with PNG's signature")
    texts: dict[str, str] = {}
    budget = _Budget()
    pos, chunks = len(SIGNATURE), 0
    cut = None
    while pos < len(data):
        chunks += 1
        if chunks > MAX_CHUNKS:
            raise WorkflowError(f"the PNG has more than {MAX_CHUNKS} chunks")
        if pos + _CHUNK.size > len(data):
            cut = f"the PNG is cut off at byte {pos}, inside a chunk's header"
            break
        length, kind = _CHUNK.unpack_from(data, pos)
        start = pos + _CHUNK.size
        end = start + length
        if end + 4 > len(data):
            cut = f"the PNG is cut off at byte {len(data)}, inside its {kind.decode('latin-1')!r} chunk"
            break
        if kind == b"IEND":
            break
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            # Only the first text of a key is kept, so a later one is not inflated: each may cost MAX_TEXT.
            key, text = _text(kind, data[start:end], keys.difference(texts), budget)
            if key is not None and text is not None:
                texts[key] = text
        pos = end + 4  # past the CRC
    if cut is not None and not texts:
        raise WorkflowError(cut)
    return texts


class _Budget:
    """What is left of MAX_INFLATED for the texts still to come."""

    def __init__(self) -> None:
        self.left = MAX_INFLATED


def _text(kind: bytes, body: bytes, keys: frozenset[str], budget: _Budget) -> tuple[str | None, str | None]:
    raw_key, _, rest = body.partition(b"\0")
    key = raw_key.decode("latin-1")
    if key not in keys:  # other texts are never inflated
        return None, None
    if kind == b"tEXt":
        return key, rest.decode("latin-1")
    if kind == b"zTXt":
        return key, _inflate(rest[1:], key, budget).decode("latin-1")
    if len(rest) < 2:
        raise WorkflowError(f"the PNG's iTXt chunk {key!r} is cut short")
    compressed, text = rest[0], rest[2:]
    _lang, _, text = text.partition(b"\0")
    _translated, _, text = text.partition(b"\0")
    if compressed:
        text = _inflate(text, key, budget)
    return key, text.decode("utf-8", "replace")


def _inflate(data: bytes, key: str, budget: _Budget) -> bytes:
    inflater = zlib.decompressobj()
    cap = min(MAX_TEXT, budget.left)
    try:
        out = inflater.decompress(data, cap + 1)
    except zlib.error as e:
        raise WorkflowError(f"the PNG's compressed text {key!r} is damaged: {e}") from None
    budget.left -= len(out)
    if len(out) > cap or inflater.unconsumed_tail:
        if cap < MAX_TEXT:
            raise WorkflowError(f"the PNG's compressed texts inflate to more than {MAX_INFLATED // 2**20} MiB "
                                "together")
        raise WorkflowError(f"the PNG's compressed text {key!r} inflates to more than {MAX_TEXT // 2**20} MiB")
    return out
