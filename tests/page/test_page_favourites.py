"""Favourites and the NSFW setting in real Chromium on the realistic library: starring from the card menu and the
details, the favourites filter in the URL, and NSFW models hidden, blurred (revealed one card at a click) or
shown."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

from playwright.async_api import Page, expect
from realistic_library import Library

from browser import shot
from conftest import Daemon


def card(page: Page, name: str):
    return page.locator(f'[data-testid="model-card"][aria-label="{name}"]')


async def count_text(daemon: Daemon, query: str) -> str:
    n = (await daemon.get(f"/api/models?{query}"))["total"]
    return f"{n} model" if n == 1 else f"{n} models"


async def test_favourites_from_the_menu_and_the_details_and_their_filter(realistic: tuple[Daemon, Library],
                                                                         page: Page):
    daemon, lib = realistic
    first, second = lib.loras[10], lib.checkpoints[3]
    await page.goto(f"{daemon.url}/?q={first.stem}")
    await card(page, first.stem).click(button="right")
    await page.get_by_test_id("card-menu").get_by_test_id("menu-favorite").click()
    await expect(card(page, first.stem).get_by_test_id("card-favorite")).to_be_visible()

    await page.goto(f"{daemon.url}/?q={second.stem}")
    await card(page, second.stem).click()
    star = page.get_by_test_id("details-favorite")
    await expect(star).to_have_attribute("aria-pressed", "false")
    await star.click()
    await expect(star).to_have_attribute("aria-pressed", "true")
    await expect(card(page, second.stem).get_by_test_id("card-favorite")).to_be_visible()

    # The filter: both, kept in the URL, composing with the type tab and the search.
    await page.goto(f"{daemon.url}/")
    await page.get_by_test_id("favorites-filter").click()
    assert parse_qs(urlparse(page.url).query)["fav"] == ["1"]
    await expect(page.get_by_test_id("library-count")).to_have_text("2 models")
    await expect(page.get_by_test_id("favorites-filter")).to_have_attribute("aria-pressed", "true")
    await page.goto(f"{daemon.url}/?fav=1&type=loras")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    await expect(card(page, first.stem)).to_be_visible()
    await page.goto(f"{daemon.url}/?fav=1&q={second.stem}")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    # In the list view too, with the star; and taken back from the details.
    await page.get_by_test_id("view-list").click()
    await expect(page.get_by_test_id("model-row").first.locator(".star")).to_be_visible()
    await page.get_by_test_id("view-cards").click()
    await card(page, second.stem).click()
    await page.get_by_test_id("details-favorite").click()
    await expect(page.get_by_test_id("details-favorite")).to_have_attribute("aria-pressed", "false")
    await expect(page.get_by_test_id("library-empty")).to_be_visible()
    assert (await daemon.get("/api/models?favorite=1"))["total"] == 1


async def test_nsfw_hide_blur_show(realistic: tuple[Daemon, Library], page: Page):
    daemon, lib = realistic
    flagged = lib.nsfw[0]  # lora_006, flagged by its sidecar, with a preview
    await page.goto(f"{daemon.url}/?type=loras")
    mode = page.get_by_test_id("nsfw-mode")
    await expect(mode).to_have_value("hide")
    await expect(page.get_by_test_id("library-count")).to_have_text(
        await count_text(daemon, "type=loras&hide_nsfw=true"))

    await mode.select_option("blur")
    await expect(page.get_by_test_id("library-count")).to_have_text(await count_text(daemon, "type=loras"))
    await page.goto(f"{daemon.url}/?type=loras&q={flagged.stem}")
    shown = card(page, flagged.stem)
    inner = shown.locator(".card")
    await expect(inner).to_have_attribute("data-blurred", "true")
    cover = inner.locator("img.cover.visible")
    await expect(cover).to_have_css("filter", "blur(18px)")
    await shot(page, "nsfw-blurred-1440")
    # A click on the blurred cover shows it, and opens nothing.
    await shown.click()
    await expect(inner).not_to_have_attribute("data-blurred", "true")
    await expect(cover).to_have_css("filter", "none")
    assert "model" not in parse_qs(urlparse(page.url).query)
    await expect(page.get_by_test_id("details-panel")).to_be_hidden()
    # The next click opens it as any card.
    await shown.click()
    await expect(page.get_by_test_id("details-title")).to_have_text(flagged.stem)

    await mode.select_option("show")
    await page.reload()
    await expect(page.get_by_test_id("nsfw-mode")).to_have_value("show")
    await expect(card(page, flagged.stem).locator(".card")).not_to_have_attribute("data-blurred", "true")


async def test_the_old_show_nsfw_choice_carries_over(realistic: tuple[Daemon, Library], page: Page):
    daemon, _ = realistic
    await page.goto(f"{daemon.url}/")
    await page.evaluate("prefs => localStorage.setItem('hikaze.prefs', prefs)",
                        json.dumps({"columns": 5, "view": "cards", "hideNsfw": False, "detailsWidth": 30}))
    await page.reload()
    await expect(page.get_by_test_id("nsfw-mode")).to_have_value("show")
    await expect(page.get_by_test_id("library-count")).to_have_text(await count_text(daemon, "status=ok"))
