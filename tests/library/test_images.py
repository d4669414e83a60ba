"""The preview pipeline on real images made here with Pillow: formats, orientation, tiers, metadata, hostile input."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin

from hikaze_mm.library.images import (
    MAX_UPLOAD_BYTES,
    TIERS,
    EncodedImage,
    ImageError,
    encode_tiers,
    encode_tiers_from_file,
    image_file_name,
)

RED, GREEN, BLUE = (220, 20, 20), (20, 200, 20), (20, 20, 220)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
SHA = "0123456789abcdef" * 4


def encode(im: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def picture(size: tuple[int, int]) -> Image.Image:
    """Smooth content with some texture, so lossy codecs and truncation behave as on a real picture."""
    grad = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 40)
    bands = [grad, noise, grad.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return Image.merge("RGB", bands)


def webp(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert im.format == "WEBP"
    im.load()
    return im


def riff_chunks(data: bytes) -> list[bytes]:
    """The chunk names of a WebP file, read from its RIFF structure rather than searched for in compressed bytes."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    names, pos = [], 12
    while pos + 8 <= len(data):
        name, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        names.append(name)
        pos += 8 + size + (size & 1)
    return names


def assert_clean(result: EncodedImage) -> None:
    """Every tier is plain WebP pixels: no EXIF, ICC or XMP chunk, nothing in Pillow's view of its metadata."""
    for data in result.tiers.values():
        assert set(riff_chunks(data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
        im = webp(data)
        assert not {"exif", "icc_profile", "xmp"} & set(im.info)
        assert len(im.getexif()) == 0


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A valid-looking 8-bit grey PNG claiming `width` x `height` whose pixel data is a few bytes: a bomb's header."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def test_png_with_alpha_keeps_it():
    im = Image.new("RGBA", (300, 200), (*GREEN, 255))
    im.paste((0, 0, 0, 0), (0, 0, 150, 200))
    result = encode_tiers(encode(im, "PNG"))
    assert (result.source_format, result.width, result.height) == ("PNG", 300, 200)
    for data in result.tiers.values():
        out = webp(data)
        assert out.mode == "RGBA"
        assert out.getpixel((10, 100))[3] == 0
        assert close(out.getpixel((290, 100)), (*GREEN, 255))


def test_palette_transparency_becomes_alpha_and_opaque_alpha_is_dropped():
    palette = Image.new("P", (64, 64), 1)
    palette.putpalette([0, 0, 0, *RED] + [0] * 762)
    palette.paste(0, (0, 0, 32, 64))
    out = webp(encode_tiers(encode(palette, "PNG", transparency=0)).tiers["high"])
    assert out.mode == "RGBA" and out.getpixel((5, 5))[3] == 0 and close(out.getpixel((60, 5)), (*RED, 255))

    opaque = Image.new("RGBA", (64, 64), (*BLUE, 255))
    assert webp(encode_tiers(encode(opaque, "PNG")).tiers["high"]).mode == "RGB"


def test_jpeg_is_turned_upright_and_loses_gps_camera_and_icc():
    raw = Image.new("RGB", (400, 200), BLUE)
    raw.paste(RED, (0, 0, 200, 200))  # left half red: orientation 6 means "rotate 90° clockwise to view"
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "HikazeTestCam"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
    data = encode(raw, "JPEG", quality=95, exif=exif, icc_profile=SRGB_ICC)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input really carries GPS

    result = encode_tiers(data)
    assert (result.source_format, result.width, result.height) == ("JPEG", 200, 400)
    high = webp(result.tiers["high"])
    assert close(high.getpixel((100, 20)), RED) and close(high.getpixel((100, 380)), BLUE)
    assert_clean(result)
    for data in result.tiers.values():
        assert b"HikazeTestCam" not in data


def test_multi_picture_jpeg_from_a_phone_is_read_as_jpeg():
    first = Image.new("RGB", (90, 60), RED)
    data = encode(first, "MPO", save_all=True, append_images=[Image.new("RGB", (90, 60), BLUE)])
    result = encode_tiers(data)
    assert (result.source_format, result.width, result.height) == ("JPEG", 90, 60)
    assert close(webp(result.tiers["high"]).getpixel((45, 30)), RED)


def test_comfyui_workflow_text_in_png_is_not_kept():
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"secret": "HikazeWorkflow"}')
    result = encode_tiers(encode(picture((320, 240)), "PNG", pnginfo=info, icc_profile=SRGB_ICC))
    assert_clean(result)
    assert all(b"HikazeWorkflow" not in data for data in result.tiers.values())


def test_icc_tagged_colours_survive_the_conversion_to_srgb():
    data = encode(Image.new("RGB", (50, 50), GREEN), "PNG", icc_profile=SRGB_ICC)
    assert close(webp(encode_tiers(data).tiers["high"]).getpixel((25, 25)), GREEN, 6)


def test_webp_source():
    result = encode_tiers(encode(picture((500, 400)), "WEBP", quality=90))
    assert (result.source_format, result.width, result.height) == ("WEBP", 500, 400)
    assert_clean(result)


def test_animated_gif_gives_its_first_frame():
    # Web-safe colours, so the GIF palette holds them exactly.
    frames = [Image.new("RGB", (120, 80), c).convert("P") for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    result = encode_tiers(data)
    assert (result.source_format, result.width, result.height) == ("GIF", 120, 80)
    assert close(webp(result.tiers["low"]).getpixel((60, 40)), (255, 0, 0))


def test_sixteen_bit_grey_is_scaled_not_clipped_to_white():
    data = encode(Image.new("I;16", (40, 40), 40000), "PNG")
    assert close(webp(encode_tiers(data).tiers["high"]).getpixel((20, 20)), (156, 156, 156), 4)


def test_cmyk_jpeg_becomes_rgb():
    data = encode(Image.new("RGB", (60, 60), RED).convert("CMYK"), "JPEG", quality=95)
    assert close(webp(encode_tiers(data).tiers["high"]).getpixel((30, 30)), RED)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_tiers_of_a_large_image_shrink_by_the_linear_factors(fmt: str):
    result = encode_tiers(encode(picture((4000, 3000)), fmt, **({"compress_level": 1} if fmt == "PNG" else {})))
    w, h = result.width, result.height
    assert 0.99 * TIERS["high"][0] <= w * h <= TIERS["high"][0]
    assert abs(w / h - 4 / 3) < 0.01
    sizes = {name: webp(data).size for name, data in result.tiers.items()}
    assert sizes["high"] == (w, h)
    for name, factor in (("medium", 0.66), ("low", 0.33)):
        assert abs(sizes[name][0] - w * factor) <= 1.5 and abs(sizes[name][1] - h * factor) <= 1.5, (name, sizes)
    assert len(result.tiers["high"]) > len(result.tiers["medium"]) > len(result.tiers["low"])


def test_small_images_are_never_upscaled():
    tiny = encode_tiers(encode(picture((300, 200)), "PNG"))
    assert {name: webp(data).size for name, data in tiny.tiers.items()} == dict.fromkeys(TIERS, (300, 200))
    # 0.8 MP fits high's and medium's caps, so those keep the source size; only low (0.22 MP) shrinks it.
    mid = encode_tiers(encode(picture((1000, 800)), "JPEG"))
    sizes = {name: webp(data).size for name, data in mid.tiers.items()}
    assert sizes["high"] == sizes["medium"] == (1000, 800)
    assert sizes["low"][0] * sizes["low"][1] <= TIERS["low"][0] and abs(sizes["low"][0] / sizes["low"][1] - 1.25) < 0.01


def test_truncated_png_is_refused_as_corrupt():
    data = encode(picture((200, 200)), "PNG")
    with pytest.raises(ImageError, match="corrupt or truncated PNG image"):
        encode_tiers(data[: len(data) // 2])
    with pytest.raises(ImageError, match="corrupt PNG image"):
        encode_tiers(data[:20])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not an image: the data is empty"),
        (b"just some notes about this model\n", "not an image: not PNG, JPEG, WebP or GIF"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG images are not accepted"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>', "SVG images are not accepted"),
        (encode(Image.new("RGB", (8, 8)), "BMP"), "BMP images are not accepted"),
        (encode(Image.new("RGB", (8, 8)), "TIFF"), "TIFF images are not accepted"),
        (encode(Image.new("RGB", (8, 8)), "PDF"), "PDF images are not accepted"),
    ],
)
def test_other_content_is_refused_with_a_reason(data: bytes, reason: str):
    with pytest.raises(ImageError, match=reason):
        encode_tiers(data)


def test_upload_just_over_the_limit_is_refused(tmp_path: Path):
    with pytest.raises(ImageError, match="upload is larger than 32 MiB"):
        encode_tiers(b"\x89PNG\r\n\x1a\n" + bytes(MAX_UPLOAD_BYTES - 7))
    big = tmp_path / "big.preview.png"
    with big.open("wb") as f:
        f.truncate(MAX_UPLOAD_BYTES + 1)  # sparse: refused from its size alone
    with pytest.raises(ImageError, match="preview file is larger than 32 MiB"):
        encode_tiers_from_file(str(big))


def test_preview_file_on_disk(tmp_path: Path):
    path = tmp_path / "model.preview.png"
    path.write_bytes(encode(picture((64, 48)), "PNG"))
    result = encode_tiers_from_file(str(path))
    assert (result.source_format, result.width, result.height) == ("PNG", 64, 48)


def test_decompression_bomb_is_refused_from_its_header(monkeypatch):
    started = time.monotonic()
    with pytest.raises(ImageError, match=r"image is 400 megapixels; the limit is 64 megapixels"):
        encode_tiers(png_header_only(20000, 20000))
    # Below Pillow's own alarm (89 MP) but over ours: the size is read from the header and nothing is decoded.
    with pytest.raises(ImageError, match=r"image is 9000x8000 = 72 megapixels; the limit is 64 megapixels"):
        encode_tiers(png_header_only(9000, 8000))
    # Our check does not lean on Pillow's: with its guard switched off the bomb is still refused before decoding.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageError, match=r"image is 20000x20000 = 400 megapixels; the limit is 64 megapixels"):
        encode_tiers(png_header_only(20000, 20000))
    assert time.monotonic() - started < 1.0


def test_image_file_name():
    assert image_file_name(SHA, 0, "high") == f"{SHA}_0_high.webp"
    assert image_file_name(SHA, 12, "low") == f"{SHA}_12_low.webp"


@pytest.mark.parametrize(
    ("sha256", "seq", "tier"),
    [
        ("../x", 0, "high"),
        (SHA.upper(), 0, "high"),
        (SHA[:-1], 0, "high"),
        (SHA + "\n", 0, "high"),
        (SHA[:-2] + "/.", 0, "high"),
        (SHA, -1, "high"),
        (SHA, True, "high"),
        (SHA, "1", "high"),
        (SHA, 0, "huge"),
        (SHA, 0, "../high"),
    ],
)
def test_image_file_name_refuses_path_tricks(sha256, seq, tier):
    with pytest.raises(ValueError):
        image_file_name(sha256, seq, tier)
