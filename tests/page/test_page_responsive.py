"""The page at every width from a phone to a wide monitor, on the realistic library: nothing scrolls the page
sideways, every control can be reached, the details open as a sheet on narrow screens, toolbars fold into a menu
on phones, and cards never shrink below a readable width."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from urllib.parse import quote

import pytest
from playwright.async_api import Page, expect
from realistic_library import Library

from browser import open_picker, shot
from conftest import Daemon, poll

WIDTHS = (360, 390, 768, 1440, 2560)
PHONE = 600  # below this the toolbars fold into a menu
SHEET = 900  # below this the details cover the page instead of sitting beside the list
MIN_CARD = 140  # the grid keeps cards at least ~150 px wide (a little slack for gaps and rounding)

# Every visible control must lie inside the window, or inside a scroll area that can bring it there; and an
# ancestor that clips without scrolling (overflow: hidden) must not cut it off.
REACHABLE = """() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > innerWidth) problems.push(`page is ${doc.scrollWidth}px wide in ${innerWidth}px`);
  const scrolls = (v) => v === "auto" || v === "scroll";
  for (const el of document.querySelectorAll("button, input, select, textarea, a[href], [role=separator]")) {
    const r = el.getBoundingClientRect();
    if (r.width <= 2 || r.height <= 2 || getComputedStyle(el).visibility === "hidden") continue;
    let xFree = false, yFree = false, clipped = false;
    for (let a = el.parentElement; a && a !== doc; a = a.parentElement) {
      const s = getComputedStyle(a), b = a.getBoundingClientRect();
      if (!xFree) {
        if (scrolls(s.overflowX)) xFree = true;
        else if (s.overflowX !== "visible" && (r.left < b.left - 1 || r.right > b.right + 1)) clipped = true;
      }
      if (!yFree) {
        if (scrolls(s.overflowY)) yFree = true;
        else if (s.overflowY !== "visible" && (r.top < b.top - 1 || r.bottom > b.bottom + 1)) clipped = true;
      }
    }
    const outX = !xFree && (r.left < -1 || r.right > innerWidth + 1);
    const outY = !yFree && (r.top < -1 || r.bottom > innerHeight + 1);
    if (clipped || outX || outY) {
      const name = el.dataset.testid || el.getAttribute("aria-label") || el.textContent.trim().slice(0, 30);
      const [x, y, w, h] = [r.left, r.top, r.width, r.height].map(Math.round);
      problems.push(`${name || el.tagName} at ${x},${y} ${w}x${h}`);
    }
  }
  return problems;
}"""


async def at(page: Page, width: int) -> None:
    await page.set_viewport_size({"width": width, "height": 844 if width < SHEET else 900})


async def assert_reachable(page: Page, where: str) -> None:
    assert await page.evaluate(REACHABLE) == [], where


async def test_library_fits_every_width(realistic: tuple[Daemon, Library], page: Page) -> None:
    daemon, _ = realistic
    await page.goto(daemon.url + "/?type=loras")
    await expect(page.get_by_test_id("model-card").first).to_be_visible()
    for width in WIDTHS:
        await at(page, width)
        where = f"library at {width}px"
        await expect(page.get_by_test_id("model-card").first).to_be_visible()
        # The type tabs stay reachable (a strip that scrolls sideways on a phone).
        await expect(page.get_by_test_id("tab-checkpoints")).to_be_attached()
        await page.get_by_test_id("tab-checkpoints").scroll_into_view_if_needed()
        await expect(page.get_by_test_id("tab-checkpoints")).to_be_in_viewport()
        # Nothing is open: the grid reaches the right edge, no empty details column beside it; only the folder
        # tree (a column from a tablet's width on, a drawer below it) is beside it.
        await expect(page.locator(".details")).to_be_hidden()
        grid = await page.get_by_test_id("model-grid").bounding_box()
        side = await page.get_by_test_id("folder-sidebar").bounding_box()
        beside = side["width"] if side and width >= 900 else 0
        assert grid and grid["x"] + grid["width"] >= width - 2 and grid["width"] >= width - beside - 2, where
        cards = page.get_by_test_id("model-card")
        await poll(partial(wide_cards, page), f"cards at least {MIN_CARD}px wide at {width}px")
        # Every card names its model on hover, however many columns there are.
        assert await cards.first.get_attribute("title"), where
        filters = page.get_by_test_id("library-filters-toggle")
        if width < PHONE:
            await expect(page.get_by_test_id("base-model")).to_be_hidden()
            await assert_reachable(page, where)
            if width == 390:
                await shot(page, "phone-library")
            await filters.click()
            await expect(filters).to_have_attribute("aria-expanded", "true")
            for control in ("base-model", "sort", "sort-dir", "status-filter", "favorites-filter", "nsfw-mode",
                            "view-list", "columns"):
                await expect(page.get_by_test_id(control)).to_be_visible()
            await assert_reachable(page, where + " with the filters open")
            if width == 390:
                await shot(page, "phone-library-filters")
            await filters.click()
            await expect(page.get_by_test_id("base-model")).to_be_hidden()
            if width == 360:
                # Folded away, filters still in force are counted on the toggle.
                await expect(page.get_by_test_id("library-filters-active")).to_have_count(0)
                await page.goto(daemon.url + "/?type=loras&status=all&base=SDXL")
                await expect(page.get_by_test_id("library-filters-active")).to_have_text("2")
                await page.goto(daemon.url + "/?type=loras")
        else:
            await expect(filters).to_be_hidden()
            await expect(page.get_by_test_id("base-model")).to_be_visible()
            await assert_reachable(page, where)
            if width == 1440:
                await shot(page, "wide-library")


async def wide_cards(page: Page) -> float | None:
    """The first card's width once the grid has laid out for the window (it follows a resize a frame later)."""
    box = await page.get_by_test_id("model-card").first.bounding_box()
    return box["width"] if box and box["width"] >= MIN_CARD else None


async def columns_that(page: Page, fits: Callable[[int], bool]) -> int | None:
    """How many cards the grid's first row holds, if `fits` accepts that many."""
    tops = await page.get_by_test_id("model-card").evaluate_all(
        "cs => cs.slice(0, 12).map(c => Math.round(c.getBoundingClientRect().top))")
    n = tops.count(tops[0]) if tops else 0
    return n if fits(n) else None


async def test_columns_adapt_to_the_width(realistic: tuple[Daemon, Library], page: Page) -> None:
    daemon, _ = realistic
    await page.goto(daemon.url + "/")
    columns = page.get_by_test_id("columns")
    await columns.fill("10")
    await columns.press("Enter")
    await expect(columns).to_have_value("10")
    # The widest window shows the user's 10; narrower ones fewer (two on a phone), never the 10 squeezed.
    for width, fits in ((360, lambda n: n == 2), (768, lambda n: 2 < n < 10), (1440, lambda n: 5 < n < 10),
                        (2560, lambda n: n == 10)):
        await at(page, width)
        await poll(partial(columns_that, page, fits), f"the cards' columns to fit {width}px")
        await poll(partial(wide_cards, page), f"cards at least {MIN_CARD}px wide at {width}px")


async def test_details_are_a_sheet_on_narrow_screens(realistic: tuple[Daemon, Library], page: Page) -> None:
    daemon, _ = realistic
    await page.goto(daemon.url + "/?type=loras")
    for width in WIDTHS:
        await at(page, width)
        where = f"details at {width}px"
        await page.get_by_test_id("model-card").first.click()
        panel = page.get_by_test_id("details-panel")
        await expect(page.get_by_test_id("details-save")).to_be_visible()
        box = await panel.bounding_box()
        assert box, where
        if width < SHEET:
            assert box["width"] >= width - 2, f"{where}: {box}"
            await expect(page.get_by_test_id("details-close")).to_be_in_viewport()
            # The sheet covers the list: the keyboard lands on it, not on the card behind it.
            await expect(page.get_by_test_id("details-close")).to_be_focused()
        else:
            assert box["width"] >= 320, f"{where}: {box}"
        await assert_reachable(page, where)
        # A toast (copying the path) keeps clear of Save and Revert.
        await page.get_by_test_id("details-info").get_by_role("button").first.click()
        toast = page.get_by_test_id("toast").last
        await expect(toast).to_be_visible()
        toast_box = await toast.bounding_box()
        for button in ("details-save", "details-revert"):
            b = await page.get_by_test_id(button).bounding_box()
            assert toast_box and b, where
            apart = (toast_box["x"] + toast_box["width"] <= b["x"] or b["x"] + b["width"] <= toast_box["x"]
                     or toast_box["y"] + toast_box["height"] <= b["y"] or b["y"] + b["height"] <= toast_box["y"])
            assert apart, f"{where}: the toast {toast_box} covers {button} {b}"
        if width in (390, 1440):
            await shot(page, f"{'phone' if width == 390 else 'wide'}-details")
        await page.get_by_test_id("toast").get_by_role("button").first.click()
        if width < SHEET:
            # Escape closes the sheet (the close button does too, checked on the next width).
            if width == 360:
                await page.get_by_test_id("details-close").click()
            else:
                await page.get_by_test_id("details-title").click()
                await page.keyboard.press("Escape")
            await expect(panel).to_be_hidden()
            await expect(page).not_to_have_url("model=")
            # The keyboard is back on the card the sheet was opened from.
            await expect(page.get_by_test_id("model-card").first).to_be_focused()
        else:
            await page.goto(daemon.url + "/?type=loras")


async def test_inbox_fits_every_width(realistic: tuple[Daemon, Library], page: Page) -> None:
    daemon, _ = realistic
    await page.goto(daemon.url + "/?mode=inbox&show=all")
    rows = page.get_by_test_id("inbox-row")
    await expect(rows.first).to_be_visible()
    for width in WIDTHS:
        await at(page, width)
        where = f"inbox at {width}px"
        name = await rows.first.locator(".name").bounding_box()
        assert name and name["width"] >= 100, f"{where}: the name is {name}"
        for control in ("inbox-import", "pending-toggle", "language"):
            await expect(page.get_by_test_id(control)).to_be_in_viewport()
        await expect(page.get_by_role("button", name="Scan now")).to_be_in_viewport()
        await assert_reachable(page, where)
        if width in (390, 1440):
            await shot(page, f"{'phone' if width == 390 else 'wide'}-inbox")
        await rows.first.click()
        details = page.get_by_test_id("pending-details")
        await expect(details).to_be_visible()
        box = await details.bounding_box()
        assert box and box["width"] >= (width - 2 if width < SHEET else 320), f"{where}: {box}"
        await assert_reachable(page, where + " with a row open")
        if width == 390:
            await shot(page, "phone-inbox-details")
        if width < SHEET:
            await page.get_by_test_id("details-close").click()
            await expect(details).to_be_hidden()


@pytest.fixture
async def opener(openers: Callable[[], Awaitable[str]]) -> str:
    return await openers()


async def test_the_picker_fits_every_width(realistic: tuple[Daemon, Library], page: Page, opener: str) -> None:
    daemon, lib = realistic
    await daemon.call("POST", "/api/comfyui/announce", {"origin": opener})
    payload = {"version": 2, "loras": [
        {"name": p.stem, "full_path": str(p), "sha256": "", "strength_model": 1, "strength_clip": 1, "enabled": True}
        for p in lib.loras[:3]
    ]}
    popup = await open_picker(page, opener, f"{daemon.url}/?pick=loras&payload={quote(json.dumps(payload))}")
    await expect(popup.get_by_test_id("picker-item")).to_have_count(3)
    for width in WIDTHS:
        await at(popup, width)
        where = f"picker at {width}px"
        await expect(popup.get_by_test_id("picker-confirm")).to_be_in_viewport()
        await expect(popup.get_by_test_id("picker-cancel")).to_be_in_viewport()
        await assert_reachable(popup, where)
        if width in (390, 1440):
            await shot(popup, f"{'phone' if width == 390 else 'wide'}-picker")
