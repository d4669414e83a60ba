"""Memory of the real daemon (`python -m hikaze_mm serve`) while it turns image uploads into WebP tiers: the peak
above idle for one 64-megapixel PNG and one 64-megapixel JPEG, the peak for a burst of concurrent 64 MP uploads,
and the resident memory left once the burst is over. The baseline is the same daemon's resident memory when idle
(after one small upload, so that the image codecs are already loaded).

The peak is VmHWM, reset before each phase through /proc/<pid>/clear_refs, so each phase is measured on its own.
`--src DIR` runs the daemon from another checkout's `daemon/` folder (put first on PYTHONPATH), to measure a base
commit with the same script.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import MIB, start_daemon, stop_daemon, verdict, vm_sizes
from memory import free_port, idle, wait_for
from PIL import Image, ImageChops

SIDE = 8000  # 8000 x 8000 = 64,000,000 pixels, the largest image the daemon accepts
GOAL_PEAK_MIB = 300


def test_images() -> dict[str, bytes]:
    """A 64 MP PNG with a varying alpha channel (decoded as RGBA, four bytes a pixel) and a noisy band that makes it
    about 28 MiB, near the upload limit, as a photo-like PNG of that size would be; and the same pixels as JPEG."""

    def gradient(angle: int = 0, radial: bool = False) -> Image.Image:
        g = Image.radial_gradient("L") if radial else Image.linear_gradient("L").rotate(angle)
        return g.resize((SIDE, SIDE), Image.Resampling.BILINEAR)

    green = gradient(90)
    band = (SIDE, SIDE * 9 // 20)
    green.paste(ImageChops.add(green.crop((0, 0, *band)), Image.effect_noise(band, 3), 1, -128), (0, 0))
    image = Image.merge("RGBA", (gradient(), green, gradient(radial=True), gradient(45)))
    png, jpeg = io.BytesIO(), io.BytesIO()
    image.save(png, "PNG", compress_level=1)
    image.convert("RGB").save(jpeg, "JPEG", quality=92)
    return {"PNG": png.getvalue(), "JPEG": jpeg.getvalue()}


def status_of(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as f:
        return vm_sizes(f.read())


def reset_peak(pid: int) -> None:
    """VmHWM back to the current VmRSS (Linux 4.0 and later)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


async def upload(session: aiohttp.ClientSession, url: str, data: bytes) -> None:
    form = aiohttp.FormData()
    form.add_field("image", data, filename="image", content_type="application/octet-stream")
    async with session.post(url, data=form) as resp:
        body = await resp.text()
        if resp.status != 201:
            raise RuntimeError(f"upload answered {resp.status}: {body[:300]}")


async def measure(pid: int, port: int, sha: str, images: dict[str, bytes], burst: int) -> dict[str, dict[str, int]]:
    url = f"http://127.0.0.1:{port}/api/models/{sha}/images"
    timeout = aiohttp.ClientTimeout(total=600)
    figures: dict[str, dict[str, int]] = {}
    async with aiohttp.ClientSession(timeout=timeout) as session:
        warm = io.BytesIO()
        Image.new("RGB", (64, 64), (10, 20, 30)).save(warm, "PNG")
        await upload(session, url, warm.getvalue())
        figures["idle"] = status_of(pid)
        for kind in ("PNG", "JPEG"):
            reset_peak(pid)
            await upload(session, url, images[kind])
            figures[f"one {kind}"] = status_of(pid)
        reset_peak(pid)
        await asyncio.gather(*(upload(session, url, images["PNG"]) for _ in range(burst)))
        figures["burst"] = status_of(pid)
    return figures


def run(workdir: Path, burst: int, src: Path | None, timeout: float) -> bool:
    models = workdir / "models"
    (models / "loras").mkdir(parents=True)
    (models / "loras" / "one.safetensors").write_bytes(b"model".ljust(4096, b"x"))
    images = test_images()
    port = free_port()
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src / "daemon"), env.get("PYTHONPATH")]))
    daemon = start_daemon(workdir, models, port, env)
    try:
        wait_for(daemon, port, lambda s: s["counts"]["pending"]["ready"] == 1 and idle(s), timeout, "the model")
        sha = asyncio.run(import_all(port))
        started = time.monotonic()
        figures = asyncio.run(measure(daemon.pid, port, sha, images, burst))
        took = time.monotonic() - started
    finally:
        code = stop_daemon(daemon)

    base = figures["idle"]["VmRSS"]
    print(f"image memory: daemon from {src or 'this checkout'}; test images {SIDE}x{SIDE}: "
          f"PNG {len(images['PNG']) / MIB:.1f} MiB, JPEG {len(images['JPEG']) / MIB:.1f} MiB; {took:.0f} s")
    print(f"  idle VmRSS {base / 1024:.1f} MiB (after one small upload)")
    print(f"  {'phase':<28} {'peak above idle':>16} {'RSS after, above idle':>22}")
    for label, key in (("one 64 MP PNG", "one PNG"), ("one 64 MP JPEG", "one JPEG"),
                       (f"{burst} concurrent 64 MP PNGs", "burst")):
        mem = figures[key]
        print(f"  {label:<28} {(mem['VmHWM'] - base) / 1024:>12.1f} MiB {(mem['VmRSS'] - base) / 1024:>18.1f} MiB")
    single = max(figures["one PNG"]["VmHWM"], figures["one JPEG"]["VmHWM"]) - base
    burst_peak = figures["burst"]["VmHWM"] - base
    kept = figures["burst"]["VmRSS"] - base
    print(f"  one upload's peak <= {GOAL_PEAK_MIB} MiB above idle: {verdict(single <= GOAL_PEAK_MIB * 1024)}")
    print(f"  burst peak / one upload's peak: {burst_peak / max(single, 1):.2f} (goal <= 1.5: "
          f"{verdict(burst_peak <= 1.5 * single)})")
    print(f"  kept after the burst / one upload's peak: {kept / max(single, 1):.2f} (goal <= 0.25: "
          f"{verdict(kept <= 0.25 * single)})")
    print(f"  SIGTERM: exit code {code} (must be 0)")
    if code != 0:
        print((workdir / "daemon.log").read_text(errors="replace")[-4000:], file=sys.stderr)
    return code == 0


async def import_all(port: int) -> str:
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/api/pending?status=ready") as resp:
            (row,) = (await resp.json())["pending"]
        async with session.post(f"{base}/api/pending/import", json={"ids": [row["id"]]}) as resp:
            report: dict[str, Any] = await resp.json()
    return report["imported"][0]["sha256"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--burst", type=int, default=20, help="concurrent uploads in the burst (default 20)")
    parser.add_argument("--src", type=Path, help="a checkout whose daemon/ to run instead of this one")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the daemon (default 120)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-image-memory-", dir="/tmp"))
    try:
        ok = run(workdir, args.burst, args.src, args.timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
