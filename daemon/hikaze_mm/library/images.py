"""Preview images: an upload or a preview file beside a model becomes three WebP tiers with none of its metadata.

Only PNG, JPEG, WebP and GIF are parsed, each only by the Pillow plugin its signature names, so a hostile file never
reaches the parsers of formats we do not serve. The pixel count is checked from the header before a pixel is decoded.
The output is encoded from pixels alone: EXIF (GPS, camera serials), ICC and XMP never leave this module. Colours
tagged with an ICC profile are converted to sRGB first, since the profile itself is dropped.
"""

from __future__ import annotations

import ctypes
import io
import math
import os
import re
import struct
import threading
from dataclasses import dataclass
from typing import BinaryIO

from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from hikaze_mm.store.records import is_sha256

MAX_UPLOAD_BYTES = 32 * 1024 * 1024
MAX_PIXELS = 64_000_000
HIGH_PIXELS = 2_000_000

# Each tier is a cap, not a fraction of the source. "Medium is 0.66 of high" is read as a linear factor: medium's
# sides are at most 0.66 of what high's would be, so its pixel budget is 0.66² of high's (low likewise with 0.33).
# An image already under a tier's cap keeps its own size in that tier; nothing is ever upscaled, so a small image
# can have two or three tiers of the same size that differ only in quality.
TIERS: dict[str, tuple[int, int]] = {  # name -> (pixel budget, WebP quality)
    "high": (HIGH_PIXELS, 80),
    "medium": (round(HIGH_PIXELS * 0.66**2), 60),
    "low": (round(HIGH_PIXELS * 0.33**2), 45),
}

_MIB = 1024 * 1024
# What Pillow's plugins raise on bytes they cannot make sense of.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
# Modes Pillow resamples properly; it resizes "P" and "1" with nearest-neighbour whatever filter is asked for.
_RESIZABLE = ("L", "LA", "RGB", "RGBA", "CMYK")
_WEBP_METHOD = 4  # libwebp's own default; Pillow's default, 0, saves ~0.15 s per photo but makes files ~30% larger
_BAND_ROWS = 256  # source rows converted and resampled at a time: 16 MB of a 8,000-pixel-wide image
_LANCZOS_REACH = 3  # source pixels per output pixel that the Lanczos kernel reaches on each side
# The EXIF orientation tag's values and the turn that makes such an image upright.
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# One image decoded at a time in the whole daemon, whoever asks (an upload, a preview beside a model, a v1 image):
# a 64 MP one takes about 250 MB while it is decoded, and twenty at once would take gigabytes.
_DECODING = threading.Lock()
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number, from glibc's malloc.h
# The C library already loaded into this process (looking it up by name would run ldconfig).
_LIBC: ctypes.CDLL | None = ctypes.CDLL(None)
if not hasattr(_LIBC, "malloc_trim"):  # not glibc (musl, macOS): nothing to tune
    _LIBC = None
if _LIBC is not None:
    # glibc serves a block of 1 MiB or more by mmap until one is freed, then raises that threshold to the freed
    # block's size and carves later ones (Pillow's 16 MiB pixel blocks) from heaps it seldom returns; a fixed
    # threshold keeps every large block mmapped, given back the moment it is freed (bench/image_memory.py).
    _LIBC.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)


class ImageError(ValueError):
    """The bytes are not an image we accept; the message is meant for the user."""


@dataclass(frozen=True)
class EncodedImage:
    width: int  # of the high tier
    height: int
    source_format: str  # "PNG", "JPEG", "WEBP" or "GIF"
    tiers: dict[str, bytes]  # tier name -> WebP bytes


def encode_tiers(data: bytes | BinaryIO) -> EncodedImage:
    """Decode an image (its bytes, or a binary file open at its start; first frame only), orient it by its EXIF, and
    encode every tier as metadata-free WebP."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    if size > MAX_UPLOAD_BYTES:
        raise ImageError(f"upload is larger than {MAX_UPLOAD_BYTES // _MIB} MiB")
    kind = _sniff(stream.read(1024))
    stream.seek(0)
    if kind is None:
        raise ImageError("not an image: the data is empty" if not size else "not an image: not PNG, JPEG, WebP or GIF")
    if kind not in ("PNG", "JPEG", "WEBP", "GIF"):
        raise ImageError(f"{kind} images are not accepted; use PNG, JPEG, WebP or GIF")
    try:
        with _DECODING:
            high = _load(stream, kind)
        return _encode(high, kind)
    finally:
        _give_back_memory()


def _encode(high: Image.Image, kind: str) -> EncodedImage:
    if high.mode == "RGBA" and high.getchannel("A").getextrema() == (255, 255):
        high = high.convert("RGB")  # an all-opaque alpha channel (common in exported PNGs) only costs bytes
    tiers = {}
    tier = high
    for name, (budget, quality) in TIERS.items():
        tier = _resize(tier, _fit(*high.size, budget))  # each from the one before: fewer pixels to read
        out = io.BytesIO()
        # Metadata is passed explicitly empty so nothing the source carried in `info` can be written.
        tier.save(out, "WEBP", quality=quality, method=_WEBP_METHOD, exif=b"", icc_profile=None, xmp=b"")
        tiers[name] = out.getvalue()
    return EncodedImage(high.width, high.height, kind, tiers)


def encode_tiers_from_file(path: str) -> EncodedImage:
    """`encode_tiers` for a file on disk, read as it is decoded; a file over the upload limit is refused first."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size > MAX_UPLOAD_BYTES:
            raise ImageError(f"preview file is larger than {MAX_UPLOAD_BYTES // _MIB} MiB")
        return encode_tiers(f)


def _give_back_memory() -> None:
    """Hand the heaps' free pages back to the system. glibc keeps what a thread freed in that thread's arena for
    reuse, so after an image's many smaller buffers (the decoder's, the encoder's) the daemon would otherwise keep
    them for good."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def image_file_name(sha256: str, seq: int, tier: str) -> str:
    """The stored name of one tier of one image; every part is validated, so the name can never leave its folder."""
    if not is_sha256(sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError(f"not a non-negative image number: {seq!r}")
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    return f"{sha256}_{seq}_{tier}.webp"


def _sniff(data: bytes) -> str | None:
    """The format the leading bytes name, for the four we accept and for the ones users most often try instead."""
    head = data[:32]
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head.startswith(b"%PDF"):
        return "PDF"
    if head[4:8] == b"ftyp":
        return "HEIF/AVIF"
    text = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in text:
        return "SVG"
    return None


def _load(stream: BinaryIO, kind: str) -> Image.Image:
    """The high tier's pixels: the first frame, upright, in sRGB, RGB or RGBA. The size is checked before decoding,
    and the source is closed (its pixels freed) as soon as the high tier has been made from it."""
    try:
        source = Image.open(stream, formats=[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard fires inside open() for the largest images, before we can read the size ourselves.
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{_megapixels(int(found[1]))} megapixels" if found else "too large"
        raise ImageError(f"image is {size}; the limit is {_megapixels(MAX_PIXELS)} megapixels") from None
    except UnidentifiedImageError:  # its message names a BytesIO object, which tells the user nothing
        raise ImageError(f"corrupt {kind} image: its header cannot be read") from None
    except _DECODE_ERRORS as e:
        raise ImageError(f"corrupt {kind} image: {e}") from None
    with source:
        width, height = source.size
        if width * height > MAX_PIXELS:
            raise ImageError(
                f"image is {width}x{height} = {_megapixels(width * height)} megapixels; "
                f"the limit is {_megapixels(MAX_PIXELS)} megapixels"
            )
        target = _fit(width, height, TIERS["high"][0])
        try:
            if kind == "JPEG":
                # libjpeg decodes at 1/2, 1/4 or 1/8 scale, never below the size asked for: a 64 MP photo is decoded
                # as 16 MP or less instead of in full.
                source.draft(None, target)
            source.load()
            orientation = source.getexif().get(ExifTags.Base.Orientation, 1)  # 1: upright already
            # Shrunk before it is turned upright: the turn then copies the small image instead of the full one.
            high = _shrink(source, target)
        except _DECODE_ERRORS as e:
            raise ImageError(f"corrupt or truncated {kind} image: {e}") from None
        icc = source.info.get("icc_profile")
    turn = _ORIENTATIONS.get(orientation)
    if turn is not None:
        high = high.transpose(turn)
    return _to_srgb(high, icc)


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.4g}"


def _resizable(im: Image.Image) -> Image.Image:
    """The pixels in a mode that resamples properly."""
    if im.mode.startswith("I"):  # 16-bit grey PNG; a plain convert would clip everything above 255 to white
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    has_alpha = im.mode in ("LA", "PA", "RGBA") or "transparency" in im.info
    if im.mode not in _RESIZABLE or (has_alpha and im.mode not in ("LA", "RGBA")):
        im = im.convert("RGBA" if has_alpha else "RGB")
    return im


def _shrink(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """`source` in a resizable mode at `size`, made a band of rows at a time. Converting or resampling a whole
    64 MP image makes full-size copies (a palette image as RGBA, an RGBA image premultiplied); a band's copies are
    a few MB. Each band carries the Lanczos kernel's reach in source rows above and below it, so the result is the
    whole-image resample's (give or take a rounding step)."""
    width, height = source.size
    if (width, height) == size:
        return _resizable(source.copy())
    out_width, out_height = size
    scale = height / out_height
    margin = math.ceil(_LANCZOS_REACH * scale) + 1
    rows = max(1, int(_BAND_ROWS / scale))  # output rows per band
    canvas: Image.Image | None = None
    for y0 in range(0, out_height, rows):
        y1 = min(out_height, y0 + rows)
        top, bottom = max(0, math.floor(y0 * scale) - margin), min(height, math.ceil(y1 * scale) + margin)
        with source.crop((0, top, width, bottom)) as band:
            part = _resizable(band).resize((out_width, y1 - y0), Image.Resampling.LANCZOS,
                                           box=(0, y0 * scale - top, width, y1 * scale - top))
        if canvas is None:
            canvas = Image.new(part.mode, size)
        canvas.paste(part, (0, y0))
    assert canvas is not None
    return canvas


def _fit(width: int, height: int, budget: int) -> tuple[int, int]:
    """The largest size of the same shape within `budget` pixels, never larger than the image itself."""
    scale = min(1.0, math.sqrt(budget / (width * height)))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    return im if im.size == size else im.resize(size, Image.Resampling.LANCZOS)


def _to_srgb(im: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB or RGBA pixels in sRGB; done after the first downscale because colour conversion is per pixel."""
    mode = "RGBA" if im.mode in ("LA", "RGBA") else "RGB"
    if icc and im.mode in ("L", "RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            # A fresh sRGB profile per call (70 µs): LittleCMS profiles are not meant to be shared across threads.
            converted = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode=mode)
            if converted is not None:  # None only when converting in place, which this never asks for
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile, or one that does not fit the pixels, is ignored the way browsers ignore it
    return im if im.mode == mode else im.convert(mode)
