"""The manager page is served by the daemon, from a checkout and from an installed wheel."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote

from playwright.async_api import Page, expect

from conftest import Daemon

ROOT = Path(__file__).resolve().parents[2]


async def test_page_and_assets_are_served_with_their_headers(daemon: Daemon) -> None:
    assert daemon.session is not None
    async with daemon.session.get(daemon.url + "/") as resp:
        assert resp.status == 200
        html = await resp.text()
        assert resp.headers["Cache-Control"] == "no-cache"
        csp = resp.headers["Content-Security-Policy"]
        assert csp.endswith("frame-ancestors 'self'") and "default-src 'self'" in csp
    script = html.split('src="', 1)[1].split('"', 1)[0]
    assert script.startswith("/assets/")
    async with daemon.session.get(daemon.url + script) as resp:
        assert resp.status == 200
        assert "immutable" in resp.headers["Cache-Control"]
        assert "javascript" in resp.headers["Content-Type"]
    for bad in ("/assets/..%2Fpyproject.toml", "/assets/.hidden", "/assets/nope.js", "/favicon.ico"):
        async with daemon.session.get(daemon.url + bad) as resp:
            assert resp.status == 404, bad


async def test_only_trusted_origins_may_frame_the_page(daemon_factory, models: Path) -> None:
    """The picker is framed by ComfyUI: by a ComfyUI that announced itself (at once, without a restart) or an origin
    in allowed_origins, never by any page on a loopback port."""
    daemon = await daemon_factory("--models-root", str(models), "--allowed-origin", "https://comfy.lan")

    async def ancestors() -> list[str]:
        assert daemon.session is not None
        async with daemon.session.get(daemon.url + "/") as resp:
            assert resp.status == 200
            return resp.headers["Content-Security-Policy"].split("frame-ancestors ", 1)[1].split(";")[0].split()

    assert await ancestors() == ["'self'", "https://comfy.lan"]
    await daemon.call("POST", "/api/comfyui/announce", {"origin": "http://127.0.0.1:8188/"})
    assert await ancestors() == ["'self'", "http://127.0.0.1:8188", "https://comfy.lan"]


def test_a_wheel_carries_the_page(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=120)
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    assert "hikaze_mm/web/index.html" in names
    assert any(n.startswith("hikaze_mm/web/assets/") and n.endswith(".js") for n in names)
    found = subprocess.run(
        [sys.executable, "-c", "from hikaze_mm.api.page import page_dir; print(page_dir())"],
        capture_output=True, text=True, check=True, cwd=tmp_path, env={"PYTHONPATH": str(tmp_path / "site")},
    ).stdout.strip()
    assert found == str(tmp_path / "site" / "hikaze_mm" / "web")


async def test_the_page_opens_in_chromium(daemon: Daemon, page: Page) -> None:
    await page.goto(daemon.url + "/")
    await expect(page).to_have_title("Hikaze Model Manager")
    await expect(page.get_by_test_id("pending-toggle")).to_be_visible()


async def test_the_page_asks_once_for_the_token(daemon_factory, models: Path, page: Page) -> None:
    daemon = await daemon_factory("--models-root", str(models), "--auth-token", "s3cret")
    await page.goto(daemon.url + "/")
    dialog = page.get_by_test_id("token-dialog")
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("token-input").fill("wrong")
    await page.get_by_test_id("token-submit").click()
    await expect(dialog.get_by_role("alert")).to_contain_text("not this daemon's auth_token")
    await page.get_by_test_id("token-input").fill("s3cret")
    await page.get_by_test_id("token-submit").click()
    await expect(page.get_by_test_id("library-count")).to_have_text("0 models")
    await expect(dialog).to_be_hidden()
    await page.reload()
    await expect(page.get_by_test_id("library-count")).to_have_text("0 models")
    await expect(dialog).to_be_hidden()


async def test_a_picker_url_with_a_long_lora_list_is_served(daemon: Daemon) -> None:
    """The node sends its whole LoRA list in the picker's URL; a list of 100 LoRAs with long paths must fit."""
    folder = "/very/long/folder/name/for/models/loras/" + "x" * 150
    loras = [{"name": f"lora {i}", "full_path": f"{folder}/{i}.safetensors",
              "sha256": f"{i:064x}", "strength_model": 0.5, "strength_clip": 0.5, "enabled": True} for i in range(100)]
    payload = json.dumps({"version": 2, "loras": loras}, separators=(",", ":"))
    assert len(quote(payload)) > 30_000
    assert daemon.session is not None
    async with daemon.session.get(f"{daemon.url}/?pick=loras&payload={quote(payload)}") as resp:
        assert resp.status == 200


async def test_only_origins_of_this_machine_may_announce_themselves(daemon_factory, models: Path) -> None:
    """A local program could otherwise name any website as a ComfyUI and hand it the picker's answers, or slip a
    wildcard or a directive of its own into the page's Content-Security-Policy."""
    daemon = await daemon_factory("--models-root", str(models), "--allowed-host", "mybox.lan")
    assert daemon.session is not None

    async def policy() -> str:
        async with daemon.session.get(daemon.url + "/") as resp:
            return resp.headers["Content-Security-Policy"]

    before = await policy()
    for origin, words in [("http://evil.example", "not on this machine"), ("https://*", "does not name a host"),
                          ("http://x;script-src * 'unsafe-inline'", "does not name a host"),
                          ("http://127.0.0.1:8188 https://evil.example", "not a valid origin"),
                          ("http://192.168.1.5:8188", "allowed_hosts")]:
        status, answer = await daemon.request("POST", "/api/comfyui/announce", json={"origin": origin})
        assert status == 400 and words in answer["error"], (origin, answer)
    for origin in ("http://evil.example", "http://192.168.1.5:8188"):
        assert (await daemon.get(f"/api/picker/origin-check?origin={quote(origin, safe='')}"))["allowed"] is False
    assert await policy() == before and (await daemon.get("/api/status"))["comfyui"] == []
    for origin in ("http://localhost:8188", "http://[::1]:8188", "http://mybox.lan:8188"):
        await daemon.call("POST", "/api/comfyui/announce", {"origin": origin})
    assert (await policy()).endswith("frame-ancestors 'self' http://[::1]:8188 http://localhost:8188 http://mybox.lan:8188")
