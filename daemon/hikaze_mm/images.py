"""Preview images: an upload or a preview file beside a model becomes three WebP tiers with none of its metadata.

Only PNG, JPEG, WebP and GIF are parsed, each only by the Pillow plugin its signature names, so a hostile file never
reaches the parsers of formats we do not serve. The pixel count is checked from the header before a pixel is decoded.
The output is encoded from pixels alone: EXIF (GPS, camera serials), ICC and XMP never leave this module. Colours
tagged with an ICC profile are converted to sRGB first, since the profile itself is dropped.
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

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
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PREVIEW_SUFFIXES = (
    ".preview.png",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
)
# What Pillow's plugins raise on bytes they cannot make sense of.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
# Modes Pillow resamples properly; it resizes "P" and "1" with nearest-neighbour whatever filter is asked for.
_RESIZABLE = ("L", "LA", "RGB", "RGBA", "CMYK")
_WEBP_METHOD = 4  # libwebp's own default; Pillow's default, 0, saves ~0.15 s per photo but makes files ~30% larger


class ImageError(ValueError):
    """The bytes are not an image we accept; the message is meant for the user."""


@dataclass(frozen=True)
class EncodedImage:
    width: int  # of the high tier
    height: int
    source_format: str  # "PNG", "JPEG", "WEBP" or "GIF"
    tiers: dict[str, bytes]  # tier name -> WebP bytes


def encode_tiers(data: bytes) -> EncodedImage:
    """Decode `data` (first frame only), orient it by its EXIF, and encode every tier as metadata-free WebP."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"upload is larger than {MAX_UPLOAD_BYTES // _MIB} MiB")
    kind = _sniff(data)
    if kind is None:
        raise ImageError("not an image: the data is empty" if not data else "not an image: not PNG, JPEG, WebP or GIF")
    if kind not in ("PNG", "JPEG", "WEBP", "GIF"):
        raise ImageError(f"{kind} images are not accepted; use PNG, JPEG, WebP or GIF")
    full = _load(data, kind)
    high = _to_srgb(_resize(full, _fit(*full.size, TIERS["high"][0])))
    del full  # the full-size decode is the bulk of the memory; let it go before encoding
    if high.mode == "RGBA" and high.getchannel("A").getextrema() == (255, 255):
        high = high.convert("RGB")  # an all-opaque alpha channel (common in exported PNGs) only costs bytes
    tiers = {}
    for name, (budget, quality) in TIERS.items():
        tier = _resize(high, _fit(*high.size, budget))
        out = io.BytesIO()
        # Metadata is passed explicitly empty so nothing the source carried in `info` can be written.
        tier.save(out, "WEBP", quality=quality, method=_WEBP_METHOD, exif=b"", icc_profile=None, xmp=b"")
        tiers[name] = out.getvalue()
    return EncodedImage(high.width, high.height, kind, tiers)


def encode_tiers_from_file(path: str) -> EncodedImage:
    """`encode_tiers` for a file on disk; a file over the upload limit is refused before it is read."""
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size > MAX_UPLOAD_BYTES:
            raise ImageError(f"preview file is larger than {MAX_UPLOAD_BYTES // _MIB} MiB")
        data = f.read(MAX_UPLOAD_BYTES + 1)  # the file may grow after the fstat
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageError(f"preview file is larger than {MAX_UPLOAD_BYTES // _MIB} MiB")
    return encode_tiers(data)


def image_file_name(sha256: str, seq: int, tier: str) -> str:
    """The stored name of one tier of one image; every part is validated, so the name can never leave its folder."""
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a lower-case hex SHA-256: {sha256!r}")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise ValueError(f"not a non-negative image number: {seq!r}")
    if tier not in TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {', '.join(TIERS)}")
    return f"{sha256}_{seq}_{tier}.webp"


def find_previews(model_path: str) -> list[str]:
    """Preview images that tools write beside `model_path`, best first; names are matched case-insensitively.

    One directory listing instead of a stat per candidate: it is as cheap, and it also finds `Foo.PNG` on a
    case-sensitive file system. Two files differing only in case are both returned, in name order.
    """
    folder, name = os.path.split(model_path)
    stem = os.path.splitext(name)[0].lower()
    rank = {stem + suffix: i for i, suffix in enumerate(_PREVIEW_SUFFIXES)}
    found: list[tuple[int, str]] = []
    try:
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                i = rank.get(entry.name.lower())
                if i is not None and entry.is_file():
                    found.append((i, entry.name))
    except (FileNotFoundError, NotADirectoryError):
        return []  # the folder went away with the model; there is nothing beside it
    return [os.path.join(folder, n) for _, n in sorted(found)]


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


def _load(data: bytes, kind: str) -> Image.Image:
    """The first frame's pixels, upright, in a mode that resamples properly; the size is checked before decoding."""
    try:
        source = Image.open(io.BytesIO(data), formats=[kind])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        # Pillow's own guard fires inside open() for the largest images, before we can read the size ourselves.
        found = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{_megapixels(int(found[1]))} megapixels" if found else "too large"
        raise ImageError(f"image is {size}; the limit is {_megapixels(MAX_PIXELS)} megapixels") from None
    except UnidentifiedImageError:  # its message names a BytesIO object, which tells the user nothing
        raise ImageError(f"corrupt {kind} image: its header cannot be read") from None
    except _DECODE_ERRORS as e:
        raise ImageError(f"corrupt {kind} image: {e}") from None
    # Not closed: closing a Pillow image frees its pixels too, and a BytesIO holds nothing else worth releasing.
    width, height = source.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"image is {width}x{height} = {_megapixels(width * height)} megapixels; "
            f"the limit is {_megapixels(MAX_PIXELS)} megapixels"
        )
    try:
        return _decode(source, kind)
    except _DECODE_ERRORS as e:
        raise ImageError(f"corrupt or truncated {kind} image: {e}") from None


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:.4g}"


def _decode(source: Image.Image, kind: str) -> Image.Image:
    if kind == "JPEG":
        # libjpeg can decode at 1/2, 1/4 or 1/8 scale, never below the size asked for: for a 24 MP photo the whole
        # pipeline takes about a third less time and less than half the memory.
        source.draft(None, _fit(*source.size, TIERS["high"][0]))
    source.load()
    ImageOps.exif_transpose(source, in_place=True)  # in place: a copy of a 64 MP image is up to 256 MB
    im = source
    if im.mode.startswith("I"):  # 16-bit grey PNG; a plain convert would clip everything above 255 to white
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    has_alpha = im.mode in ("LA", "PA", "RGBA") or "transparency" in im.info
    if im.mode not in _RESIZABLE or (has_alpha and im.mode not in ("LA", "RGBA")):
        im = im.convert("RGBA" if has_alpha else "RGB")
    return im


def _fit(width: int, height: int, budget: int) -> tuple[int, int]:
    """The largest size of the same shape within `budget` pixels, never larger than the image itself."""
    scale = min(1.0, math.sqrt(budget / (width * height)))
    return max(1, int(width * scale)), max(1, int(height * scale))


def _resize(im: Image.Image, size: tuple[int, int]) -> Image.Image:
    return im if im.size == size else im.resize(size, Image.Resampling.LANCZOS)


def _to_srgb(im: Image.Image) -> Image.Image:
    """RGB or RGBA pixels in sRGB; done after the first downscale because colour conversion is per pixel."""
    mode = "RGBA" if im.mode in ("LA", "RGBA") else "RGB"
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("L", "RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            # A fresh sRGB profile per call (70 µs): LittleCMS profiles are not meant to be shared across threads.
            return ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode=mode)
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile, or one that does not fit the pixels, is ignored the way browsers ignore it
    return im if im.mode == mode else im.convert(mode)
