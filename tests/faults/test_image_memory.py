"""Large images: the tiers of an image far over the high tier's size are the whole-image resample's, however the
decode is split up to save memory; and the daemon decodes one image at a time, whoever asks (uploads, previews
beside model files), so a burst of uploads queues instead of decoding together. The memory figures themselves are
measured in bench/image_memory.py."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import aiohttp
import pytest
from PIL import ExifTags, Image, ImageChops, ImageStat

from conftest import Daemon, poll, with_site, write_model
from hikaze_mm.library.images import TIERS, encode_tiers


def scene(size: tuple[int, int]) -> Image.Image:
    """Smooth colours with sharp edges between four quadrants and an alpha ramp: a band drawn in the wrong place, or
    a seam between bands, shows as a difference from the whole-image resample."""
    w, h = size
    im = Image.new("RGBA", size)
    for i, colour in enumerate([(220, 30, 30), (30, 200, 40), (40, 40, 220), (230, 210, 40)]):
        x, y = (i % 2) * w // 2, (i // 2) * h // 2
        im.paste(Image.new("RGBA", (w // 2, h // 2), (*colour, 255)), (x, y))
    im.putalpha(Image.linear_gradient("L").resize(size).point(lambda v: 64 + v * 3 // 4))
    return im


def encoded(im: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **options)
    return out.getvalue()


def webp(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    assert a.size == b.size and a.mode == b.mode, (a.size, b.size, a.mode, b.mode)
    return max(ImageStat.Stat(ImageChops.difference(a, b)).mean)


def fit(size: tuple[int, int], budget: int) -> tuple[int, int]:
    scale = min(1.0, (budget / (size[0] * size[1])) ** 0.5)
    return int(size[0] * scale), int(size[1] * scale)


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_tiers_of_a_big_image_match_the_whole_image_resample(mode: str):
    source = scene((6000, 4000))
    if mode == "P":  # a palette image with a transparent index: converted to RGBA band by band
        source = source.convert("RGB").quantize(16)
        source.info["transparency"] = 0
    result = encode_tiers(encoded(source, "PNG", compress_level=1))
    high = fit(source.size, TIERS["high"][0])
    sizes = {name: fit(high, budget) for name, (budget, _) in TIERS.items()}
    assert (result.width, result.height) == high
    reference = (source.convert("RGBA") if mode == "P" else source).resize(high, Image.Resampling.LANCZOS)
    for name, data in result.tiers.items():
        tier = webp(data)
        assert tier.size == sizes[name] and tier.mode == "RGBA", (name, tier.size, tier.mode)
        # WebP is lossy: the tier is near the reference everywhere, not equal to it.
        assert mean_difference(tier, reference.resize(tier.size, Image.Resampling.LANCZOS)) < 2.5, name


def test_a_big_jpeg_is_turned_upright_after_it_is_shrunk():
    source = scene((7200, 4800)).convert("RGB")
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored sideways: to be turned 90 degrees clockwise
    result = encode_tiers(encoded(source, "JPEG", quality=95, exif=exif))
    upright = source.transpose(Image.Transpose.ROTATE_270)
    high = fit(upright.size, TIERS["high"][0])
    assert (result.width, result.height) == high
    tier = webp(result.tiers["high"])
    assert tier.mode == "RGB" and len(tier.getexif()) == 0
    assert mean_difference(tier, upright.resize(high, Image.Resampling.LANCZOS)) < 2.5


# A probe inside the daemon: every decode of a large image (Pillow's ImageFile.load with pixels still to read)
# counts itself while it runs and gives another decode up to a second to start meanwhile, so that decodes which are
# allowed to overlap do overlap. It writes how many ran at once at most, and how many there were.
PROBE = """
import json, os, threading
from PIL import ImageFile

_load = ImageFile.ImageFile.load
_seen = threading.Condition()
_state = {"active": 0, "most": 0, "decodes": 0}


def _write():
    with open(os.environ["DECODE_PROBE"], "w") as f:
        json.dump(_state, f)


def load(self):
    if not getattr(self, "tile", None) or self.size[0] * self.size[1] < 1_000_000:
        return _load(self)
    with _seen:
        _state["active"] += 1
        _state["decodes"] += 1
        _state["most"] = max(_state["most"], _state["active"])
        _write()
        _seen.notify_all()
        _seen.wait_for(lambda: _state["active"] > 1, timeout=1.0)
    try:
        return _load(self)
    finally:
        with _seen:
            _state["active"] -= 1
            _write()


ImageFile.ImageFile.load = load
"""


async def test_uploads_and_previews_are_decoded_one_at_a_time(daemon_factory, models: Path, tmp_path: Path):
    probe = tmp_path / "decodes.json"
    env = {**with_site(tmp_path, PROBE), "DECODE_PROBE": str(probe)}
    d: Daemon = await daemon_factory("--models-root", str(models), env=env)
    (sha,) = await d.import_files(write_model(models / "loras" / "pics.safetensors"))
    big = encoded(scene((1600, 1200)).convert("RGB"), "PNG", compress_level=1)

    async def upload() -> int:
        form = aiohttp.FormData()
        form.add_field("image", big, filename="big.png", content_type="application/octet-stream")
        status, body = await d.request("POST", f"/api/models/{sha}/images", data=form)
        assert status == 201, (status, body)
        return body["seq"]

    # Two model files with a large preview each appear while three uploads are sent.
    previews = []
    for name in ("a", "b"):
        (models / "checkpoints" / f"{name}.preview.png").write_bytes(big)
        previews.append(write_model(models / "checkpoints" / f"{name}.safetensors"))
    seqs = await asyncio.gather(upload(), upload(), upload())
    rows = [await d.wait_row(p, status="ready") for p in previews]

    async def all_counted() -> dict[str, int] | None:
        state = json.loads(probe.read_text()) if probe.exists() else None
        return state if state and state["decodes"] == 5 and state["active"] == 0 else None

    state = await poll(all_counted, "the probe to count five decodes")
    assert state["most"] == 1, state
    # Nothing was lost by queueing: every upload and both previews are there.
    assert sorted(seqs) == sorted(i["seq"] for i in (await d.get(f"/api/models/{sha}"))["images"])
    for row in rows:
        assert len((await d.get(f"/api/pending/{row['id']}"))["images"]) == 1
