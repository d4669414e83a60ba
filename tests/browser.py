"""Real Chromium for the page tests: Debian's /usr/bin/chromium driven by Playwright (no browser download).

Screenshots go to `$HIKAZE_ARTIFACTS` (default `artifacts/` in the checkout) for a person to look at.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from playwright.async_api import Error as PlaywrightError

CHROMIUM = os.environ.get("HIKAZE_CHROMIUM", "/usr/bin/chromium")
# The machine has no internet: without these flags Chromium keeps dialling Google's services.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]
# The extension bundle under test: a folder it was built into (`HIKAZE_EXT_OUT` at build time) may stand in for the
# committed one, as HIKAZE_MM_WEB_DIST does for the page.
EXTENSION_DIR = Path(os.environ.get("HIKAZE_MM_EXT_DIST") or Path(__file__).resolve().parents[1] / "web" / "comfyui")
EXTENSION_BUNDLE = EXTENSION_DIR / "hikaze-model-manager.js"
ARTIFACTS = Path(os.environ.get("HIKAZE_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts"))


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    ctx = await browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    ctx.set_default_timeout(15_000)
    yield ctx
    await ctx.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    """A tab that fails the test on any uncaught script error."""
    p = await context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    assert not errors, f"script errors in the page: {errors}"


async def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path


# A page on another origin that opens or frames the manager's picker and records every message it is sent.
OPENER = """<!doctype html><title>opener</title><script>
  window.received = [];
  window.addEventListener("message", (e) => window.received.push({origin: e.origin, data: e.data}));
  function openPicker(url) { window.open(url, "picker"); }
  function framePicker(url) {
    return new Promise((done) => {
      const f = document.createElement("iframe");
      f.src = url;
      f.onload = () => done(true);
      document.body.append(f);
    });
  }
</script>"""


@pytest.fixture
async def openers() -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Starts opener pages, each on a loopback origin of its own, and gives back that origin."""
    runners: list[web.AppRunner] = []

    async def start() -> str:
        async def opener(_: web.Request) -> web.Response:
            return web.Response(text=OPENER, content_type="text/html")

        app = web.Application()
        app.router.add_get("/opener.html", opener)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


async def open_picker(page: Page, opener: str, url: str) -> Page:
    """The opener at origin `opener` opens `url` in a window of its own; that window, once loaded."""
    await page.goto(opener + "/opener.html")
    async with page.context.expect_page() as popup_info:
        await page.evaluate("url => openPicker(url)", url)
    popup = await popup_info.value
    await popup.wait_for_load_state()
    return popup


async def received(page: Page) -> list[dict[str, Any]]:
    await page.wait_for_function("() => window.received.length > 0")
    return await page.evaluate("() => window.received")


async def answer_picker(popup: Page, button: str = "picker-confirm") -> None:
    """Confirm or Cancel in a picker window: the picker then closes its own window, which can happen while
    Playwright is still finishing the click ("target closed"), so the window's closing is what is waited for: a
    click that really failed leaves the window open and the wait fails."""
    async with popup.expect_event("close"):
        with contextlib.suppress(PlaywrightError):
            await popup.get_by_test_id(button).click()
