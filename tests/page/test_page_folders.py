"""The folder tree beside the library in real Chromium, on the realistic library: counts, the filter it sets in
the URL (composing with the search and the NSFW setting), the keyboard, and the drawer it becomes on narrow
screens, at 390, 768 and 1440 px."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import Page, expect
from realistic_library import Library

from browser import shot
from conftest import Daemon

WIDTHS = {"phone": (390, 844), "tablet": (768, 1024), "desktop": (1440, 900)}


def _in(lib: Library, folder: str, *, hide_nsfw: bool = True) -> list[str]:
    """The names of the library's imported models in `folder` (below the models root) or inside it."""
    names = []
    for p in [*lib.loras, *lib.checkpoints]:
        rel = p.parent.relative_to(lib.root).as_posix()
        if (rel == folder or rel.startswith(folder + "/")) and not (hide_nsfw and p in lib.nsfw):
            names.append(p.stem)
    return names


def _folder_in_url(page: Page) -> str | None:
    return (parse_qs(urlparse(page.url).query).get("folder") or [None])[0]


def _row(page: Page, path: str):
    return page.locator(f'[data-testid="folder-row"][data-path="{path}"]')


async def _open_tree(page: Page, narrow: bool) -> None:
    if narrow:
        await page.get_by_test_id("folders-button").click()
    await expect(page.get_by_test_id("folder-tree")).to_be_visible()


@pytest.mark.parametrize("width", list(WIDTHS))
async def test_a_folder_filters_the_library_and_stays_in_the_url(realistic: tuple[Daemon, Library], page: Page,
                                                                  width: str) -> None:
    d, lib = realistic
    w, h = WIDTHS[width]
    narrow = w < 900
    await page.set_viewport_size({"width": w, "height": h})
    await page.goto(d.url + "/")
    await expect(page.get_by_test_id("library-count")).to_have_text(
        f"{len(lib.loras) + len(lib.checkpoints) - len(lib.nsfw)} models")
    if narrow:
        # On a narrow screen the tree takes no room until asked for.
        await expect(page.get_by_test_id("folder-sidebar")).to_be_hidden()
    else:
        await expect(page.get_by_test_id("folders-button")).to_be_hidden()
    await _open_tree(page, narrow)
    # Counts leave hidden NSFW models out, and a folder counts its sub-folders.
    await expect(_row(page, "loras")).to_contain_text(str(len(_in(lib, "loras"))))
    await expect(_row(page, "loras/styles")).to_contain_text(str(len(_in(lib, "loras/styles"))))
    box = await page.get_by_test_id("folder-sidebar").bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= w
    await shot(page, f"folders-tree-{width}")

    await _row(page, "loras/styles").get_by_role("button").click()  # opens the folder
    await _row(page, "loras/styles/anime").click()
    await expect(page.get_by_test_id("library-count")).to_have_text(f"{len(_in(lib, 'loras/styles/anime'))} models")
    assert _folder_in_url(page) == "loras/styles/anime"
    if narrow:
        await expect(page.get_by_test_id("folder-sidebar")).to_be_hidden()  # the drawer closes on a choice
    names = await page.get_by_test_id("model-card").evaluate_all(
        "cards => cards.map(c => c.getAttribute('aria-label'))")
    assert names and set(names) <= set(_in(lib, "loras/styles/anime"))
    await shot(page, f"folders-filtered-{width}")

    # The search narrows the folder's models further; showing NSFW models brings the folder's back.
    await page.get_by_test_id("search").fill("lora_00")
    expected = [n for n in _in(lib, "loras/styles/anime") if "lora_00" in n]
    await expect(page.get_by_test_id("library-count")).to_have_text(
        f"{len(expected)} model{'s' if len(expected) != 1 else ''}")
    await page.get_by_test_id("search").fill("")
    if w < 600:  # a phone folds the filters behind a toggle
        await page.get_by_test_id("library-filters-toggle").click()
    await page.get_by_test_id("nsfw-mode").select_option("show")
    await expect(page.get_by_test_id("library-count")).to_have_text(
        f"{len(_in(lib, 'loras/styles/anime', hide_nsfw=False))} models")

    # Reload and the back button keep the folder; "All folders" lets it go.
    await page.reload()
    await expect(page.get_by_test_id("library-count")).to_have_text(
        f"{len(_in(lib, 'loras/styles/anime', hide_nsfw=False))} models")
    await _open_tree(page, narrow)
    await expect(_row(page, "loras/styles/anime")).to_have_attribute("aria-selected", "true")
    await page.get_by_test_id("folder-all").click()
    await expect(page.get_by_test_id("library-count")).to_have_text(
        f"{len(lib.loras) + len(lib.checkpoints)} models")
    assert _folder_in_url(page) is None
    await page.go_back()
    await expect(page.get_by_test_id("library-count")).to_have_text(
        f"{len(_in(lib, 'loras/styles/anime', hide_nsfw=False))} models")


async def test_the_tree_follows_the_type_tab_and_works_from_the_keyboard(realistic: tuple[Daemon, Library],
                                                                          page: Page) -> None:
    d, lib = realistic
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(d.url + "/")
    await page.get_by_test_id("tab-checkpoints").click()
    await expect(page.get_by_test_id("folder-row")).to_have_count(3)  # checkpoints, sd15, sdxl
    await expect(_row(page, "loras")).to_have_count(0)

    await page.get_by_test_id("tab-all").click()
    tree = page.get_by_test_id("folder-tree-keys")
    await tree.focus()
    # All folders -> checkpoints -> sd15: Enter chooses it.
    for key in ("ArrowDown", "ArrowDown", "Enter"):
        await page.keyboard.press(key)
    await expect(page.get_by_test_id("library-count")).to_have_text(f"{len(_in(lib, 'checkpoints/sd15'))} models")
    assert _folder_in_url(page) == "checkpoints/sd15"
    # Left goes to the parent folder, Left again closes it, Space chooses it.
    for key in ("ArrowLeft", "ArrowLeft", " "):
        await page.keyboard.press(key)
    await expect(_row(page, "checkpoints")).to_have_attribute("aria-expanded", "false")
    await expect(_row(page, "checkpoints/sd15")).to_have_count(0)
    await expect(page.get_by_test_id("library-count")).to_have_text(f"{len(lib.checkpoints)} models")
    assert _folder_in_url(page) == "checkpoints"
    # The checkpoints tab keeps a checkpoints folder; the LoRAs tab lets it go rather than show no model.
    await page.get_by_test_id("tab-checkpoints").click()
    await expect(page.get_by_test_id("folder-chip")).to_have_text("checkpoints")
    await expect(page.get_by_test_id("library-count")).to_have_text(f"{len(lib.checkpoints)} models")
    await page.get_by_test_id("tab-loras").click()
    await expect(page.get_by_test_id("folder-chip")).to_have_count(0)
    assert not _folder_in_url(page)
