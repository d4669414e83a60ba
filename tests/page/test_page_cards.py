"""Cards that inform and act, in real Chromium on the realistic library: badges with words, the card menu copying
what a prompt or a file manager wants, sorting both ways through the toolbar, the URL and the list's headers, and
the list's folder column."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import BrowserContext, Page, expect
from realistic_library import Library

from browser import shot
from conftest import Daemon, poll

WIDTHS = (390, 768, 1440)


def card(page: Page, name: str):
    return page.locator(f'[data-testid="model-card"][aria-label="{name}"]')


def url_query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


async def copied(page: Page, text: str) -> None:
    """The page says it copied `text` once the copy is done; then the clipboard holds it."""
    await expect(page.get_by_text(f"Copied: {text}", exact=True)).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == text


async def first_names(page: Page, test_id: str, n: int) -> list[str]:
    await expect(page.get_by_test_id(test_id).nth(n - 1)).to_be_visible()
    if test_id == "model-card":
        names = await page.get_by_test_id(test_id).evaluate_all("els => els.map(e => e.getAttribute('aria-label'))")
    else:
        names = await page.locator(".list-name").evaluate_all(
            "els => els.map(e => e.textContent.replace('★', '').trim())")
    return names[:n]


async def api_names(daemon: Daemon, query: str, n: int) -> list[str]:
    return [m["name"] for m in (await daemon.get(f"/api/models?hide_nsfw=true&limit={n}&{query}"))["models"]]


async def test_card_badges_say_what_the_model_is(realistic: tuple[Daemon, Library], page: Page):
    daemon, lib = realistic
    lora = lib.with_sidecar[3]  # lora_009: a sidecar with two trigger words
    item = (await daemon.get(f"/api/models?q={lora.stem}"))["models"][0]
    await page.goto(f"{daemon.url}/?q={lora.stem}")
    shown = card(page, lora.stem)
    await expect(shown.get_by_test_id("card-base")).to_have_text(item["base_model"])
    await expect(shown.get_by_test_id("card-type")).to_have_text("LoRAs")  # the "All" tab names the type, in words
    await expect(shown.get_by_test_id("card-triggers")).to_have_text("2 trigger words")
    size = await shown.get_by_test_id("card-size").text_content()
    assert size is not None and size.endswith("KiB")  # binary units, as everywhere else on the page
    # In a type's tab the type badge would only repeat the tab.
    await page.goto(f"{daemon.url}/?type=loras&q={lora.stem}")
    await expect(card(page, lora.stem).get_by_test_id("card-base")).to_be_visible()
    await expect(card(page, lora.stem).get_by_test_id("card-type")).to_have_count(0)


async def test_a_missing_model_says_so_in_words(realistic: tuple[Daemon, Library], page: Page):
    daemon, lib = realistic
    gone = lib.loras[22]
    gone.unlink()

    async def noticed() -> bool | None:
        return (await daemon.get(f"/api/models?status=missing&q={gone.stem}"))["total"] == 1 or None

    await poll(noticed, "the daemon to notice the file is gone")
    await page.goto(f"{daemon.url}/?status=missing")
    mark = card(page, gone.stem).get_by_test_id("card-missing")
    await expect(mark).to_have_text("Missing")


async def test_the_card_menu_copies_and_shows_the_folder(realistic: tuple[Daemon, Library], context: BrowserContext,
                                                       page: Page):
    daemon, lib = realistic
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    lora = lib.with_sidecar[3]
    await page.goto(f"{daemon.url}/?q={lora.stem}")
    await card(page, lora.stem).click(button="right")
    menu = page.get_by_test_id("card-menu")
    await menu.get_by_test_id("menu-copy-lora").click()
    await expect(menu).to_have_count(0)
    await copied(page, f"<lora:{lora.stem}:1.0>")

    await card(page, lora.stem).click(button="right")
    await menu.get_by_test_id("menu-copy-triggers").click()
    await copied(page, "trigger9, style 9")

    await card(page, lora.stem).click(button="right")
    await menu.get_by_test_id("menu-copy-path").click()
    await copied(page, str(lora))

    await card(page, lora.stem).click(button="right")
    await menu.get_by_test_id("menu-show-folder").click()
    await expect(menu.get_by_test_id("menu-folder")).to_have_text(str(lora.parent))
    await shot(page, "cards-menu-1440")
    await page.keyboard.press("Escape")
    await expect(menu).to_have_count(0)

    # "Open details" opens the model; a checkpoint's menu offers no LoRA tag.
    ckpt = lib.checkpoints[0]
    await page.goto(f"{daemon.url}/?q={ckpt.stem}")
    await card(page, ckpt.stem).click(button="right")
    await expect(menu.get_by_test_id("menu-copy-path")).to_be_visible()
    await expect(menu.get_by_test_id("menu-copy-lora")).to_have_count(0)
    await menu.get_by_test_id("menu-open").click()
    await expect(page.get_by_test_id("details-title")).to_have_text(ckpt.stem)


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_menu_button_is_in_reach_at_every_width(realistic: tuple[Daemon, Library], page: Page, width: int):
    daemon, lib = realistic
    await page.set_viewport_size({"width": width, "height": 844 if width < 768 else 900})
    lora = lib.with_sidecar[3]
    await page.goto(f"{daemon.url}/?q={lora.stem}")
    more = page.get_by_test_id("card-more").first
    if width < 768:
        await expect(more).to_be_visible()  # no hover on a phone: always there
    await card(page, lora.stem).hover(position={"x": 4, "y": 4})
    await expect(more).to_be_visible()
    await more.click()
    menu = page.get_by_test_id("card-menu")
    await expect(menu).to_be_visible()
    box = await menu.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    await shot(page, f"cards-menu-{width}")


async def test_sorting_runs_both_ways_from_the_toolbar_and_the_url(realistic: tuple[Daemon, Library], page: Page):
    daemon, _ = realistic
    await page.goto(f"{daemon.url}/?type=loras")
    await page.get_by_test_id("sort").select_option("size")
    await expect(page.get_by_test_id("sort-dir")).to_have_attribute("data-dir", "desc")
    assert await first_names(page, "model-card", 4) == await api_names(daemon, "type=loras&sort=size", 4)
    await page.get_by_test_id("sort-dir").click()
    await expect(page.get_by_test_id("sort-dir")).to_have_attribute("data-dir", "asc")
    assert url_query(page)["dir"] == ["asc"]
    assert await first_names(page, "model-card", 4) == await api_names(daemon, "type=loras&sort=size&dir=asc", 4)
    # The URL alone sets both, as a shared link would.
    for sort, direction in (("name", "desc"), ("created", "asc"), ("name", "asc")):
        await page.goto(f"{daemon.url}/?type=loras&sort={sort}&dir={direction}")
        await expect(page.get_by_test_id("sort-dir")).to_have_attribute("data-dir", direction)
        expected = await api_names(daemon, f"type=loras&sort={sort}&dir={direction}", 4)
        assert await first_names(page, "model-card", 4) == expected, (sort, direction)


async def test_list_headers_sort_and_the_folder_column(realistic: tuple[Daemon, Library], page: Page):
    daemon, lib = realistic
    await page.goto(f"{daemon.url}/?type=loras")
    await page.get_by_test_id("view-list").click()
    head = page.get_by_test_id("list-head")
    await head.get_by_test_id("list-sort-size").click()
    assert url_query(page)["sort"] == ["size"] and "dir" not in url_query(page)
    await expect(head.get_by_test_id("list-sort-size")).to_have_attribute("aria-sort", "descending")
    assert await first_names(page, "model-row", 5) == await api_names(daemon, "type=loras&sort=size", 5)
    await head.get_by_test_id("list-sort-size").click()
    await expect(head.get_by_test_id("list-sort-size")).to_have_attribute("aria-sort", "ascending")
    assert url_query(page)["dir"] == ["asc"]
    assert await first_names(page, "model-row", 5) == await api_names(daemon, "type=loras&sort=size&dir=asc", 5)
    await head.get_by_test_id("list-sort-name").click()
    await expect(head.get_by_test_id("list-sort-name")).to_have_attribute("aria-sort", "ascending")
    await head.get_by_test_id("list-sort-name").click()
    await expect(head.get_by_test_id("list-sort-name")).to_have_attribute("aria-sort", "descending")
    assert await first_names(page, "model-row", 5) == await api_names(daemon, "type=loras&sort=name&dir=desc", 5)
    # The folder column: where the user put the file, under its model folder.
    lora = lib.loras[8]  # lora_008, in styles/photo
    await page.goto(f"{daemon.url}/?type=loras&q={lora.stem}")
    row = page.get_by_test_id("model-row").first
    await expect(row.get_by_test_id("list-folder")).to_have_text("loras/styles/photo")
    await shot(page, "cards-list-1440")
