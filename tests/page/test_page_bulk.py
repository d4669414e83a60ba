"""Bulk work in the library, in real Chromium against the real daemon: cards chosen by Ctrl-click, Shift-click, a
rectangle, Ctrl+A and "Select all" in the filter (Esc clears, a plain click still opens), then each action of the
bulk bar, with its progress and its report, at phone and desktop widths."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from playwright.async_api import Page, Route, expect
from realistic_library import Library

from browser import shot
from conftest import Daemon, poll, write_model

NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot")


def trashed(tmp_path: Path) -> list[str]:
    folder = tmp_path / "xdg-data" / "Trash" / "files"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture
async def six(daemon: Daemon, models: Path) -> dict[str, str]:
    shas = await daemon.import_files(*(write_model(models / "loras" / f"{n}.safetensors", seed=n.encode())
                                       for n in NAMES))
    return dict(zip(NAMES, shas, strict=True))


def card(page: Page, name: str):
    return page.locator(f'[data-testid="model-card"][aria-label="{name}"]')


async def model(daemon: Daemon, sha: str) -> dict:
    return await daemon.get(f"/api/models/{sha}")


@pytest.mark.parametrize("width", [390, 768, 1440])
async def test_cards_chosen_by_ctrl_and_shift_take_each_edit(daemon: Daemon, page: Page, six: dict[str, str],
                                                              width: int) -> None:
    await page.set_viewport_size({"width": width, "height": 844 if width < 768 else 900})
    await page.goto(daemon.url + "/")
    if width < 600:  # a phone folds the filters behind a toggle
        await page.get_by_test_id("library-filters-toggle").click()
    await page.get_by_test_id("nsfw-mode").select_option("show")  # another filter is another selection: chosen first
    await expect(page.get_by_test_id("library-count")).to_have_text("6 models")
    await expect(page.get_by_test_id("bulk-bar")).to_have_count(0)
    await card(page, "alpha").click(modifiers=["ControlOrMeta"])
    await expect(page.get_by_test_id("bulk-count")).to_have_text("1 selected")
    await card(page, "charlie").click(modifiers=["Shift"])
    await expect(page.get_by_test_id("bulk-count")).to_have_text("3 selected")
    await expect(page.locator('[data-checked="true"]')).to_have_count(3)
    assert "model=" not in page.url  # choosing opened nothing
    # The checkbox chooses too, without a modifier.
    await card(page, "echo").get_by_test_id("card-check").click()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("4 selected")
    await card(page, "echo").get_by_test_id("card-check").click()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("3 selected")
    chosen = [six[n] for n in ("alpha", "bravo", "charlie")]
    others = [six[n] for n in ("delta", "echo", "foxtrot")]
    if width < 600:  # a phone keeps the actions behind a toggle, so the bar covers few cards
        await page.get_by_test_id("bulk-actions-toggle").click()
    await shot(page, f"bulk-bar-{width}")
    # Nothing the bar shows is out of reach at this width.
    outside = await page.get_by_test_id("bulk-bar").evaluate(
        "bar => [...bar.querySelectorAll('button, input')].filter(e => e.offsetParent !== null).filter(e => {"
        " const r = e.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth || r.width === 0 })"
        ".map(e => e.dataset.testid)")
    assert outside == []

    await page.get_by_test_id("bulk-tags").fill("bulk-one, 共享")
    await page.get_by_test_id("bulk-add-tags").click()
    await expect(page.get_by_test_id("bulk-report")).to_contain_text("3 done, 0 failed")
    for sha in chosen:
        assert sorted((await model(daemon, sha))["tags"]) == ["bulk-one", "共享"]
    assert await _tags_are(daemon, others, [])

    await page.get_by_test_id("bulk-tags").fill("共享")
    await page.get_by_test_id("bulk-remove-tags").click()
    await expect(page.get_by_test_id("bulk-report")).to_contain_text("3 done")
    await poll(lambda: _tags_are(daemon, chosen, ["bulk-one"]), "the tag to come off")

    await page.get_by_test_id("bulk-base").fill("Pony")
    await page.get_by_test_id("bulk-set-base").click()
    await poll(lambda: _all_are(daemon, chosen, "base_model", "Pony"), "the base model to be set")
    assert (await model(daemon, others[0]))["base_model"] == "unknown"

    await page.get_by_test_id("bulk-nsfw-on").click()
    await expect(page.get_by_test_id("bulk-report")).to_contain_text("3 done")
    assert await _flag_is(daemon, chosen, "nsfw", True)
    await page.get_by_test_id("bulk-nsfw-off").click()
    await poll(lambda: _flag_is(daemon, chosen, "nsfw", False), "the NSFW flag to be cleared")

    await page.get_by_test_id("bulk-fav-on").click()
    await poll(lambda: _flag_is(daemon, chosen, "favorite", True), "the favourites to be set")
    assert not (await model(daemon, others[0]))["meta_json"].get("favorite")

    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("bulk-bar")).to_have_count(0)
    await card(page, "delta").click()  # a plain click opens its details and chooses nothing
    await expect(page).to_have_url(re.compile(f"model={six['delta']}"))
    await expect(page.get_by_test_id("bulk-bar")).to_have_count(0)


async def _tags_are(daemon: Daemon, shas: list[str], tags: list[str]) -> bool:
    found = [sorted((await model(daemon, s))["tags"]) for s in shas]
    return all(f == tags for f in found)


async def _all_are(daemon: Daemon, shas: list[str], key: str, value: str) -> bool:
    found = [(await model(daemon, s))[key] for s in shas]
    return all(f == value for f in found)


async def _flag_is(daemon: Daemon, shas: list[str], key: str, value: bool) -> bool:
    """Whether each model's metadata sets the flag `key` to exactly `value`."""
    found = [(await model(daemon, s))["meta_json"].get(key) for s in shas]
    return all(f is value for f in found)


async def test_a_rectangle_chooses_the_cards_it_touches_then_remove_and_trash(daemon: Daemon, page: Page,
                                                                               six: dict[str, str], models: Path,
                                                                               tmp_path: Path) -> None:
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("library-count")).to_have_text("6 models")
    a = await card(page, "alpha").bounding_box()
    b = await card(page, "bravo").bounding_box()
    assert a and b
    await page.mouse.move(a["x"] + 10, a["y"] + 10)
    await page.mouse.down()
    await page.mouse.move(b["x"] + b["width"] / 2, b["y"] + 40, steps=5)
    await expect(page.get_by_test_id("marquee")).to_be_visible()
    await page.mouse.up()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("2 selected")
    assert "model=" not in page.url
    await shot(page, "bulk-rectangle-1440")

    await page.get_by_test_id("bulk-remove").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("library-count")).to_have_text("4 models")
    await expect(page.get_by_test_id("bulk-bar")).to_have_count(0)
    for name in ("alpha", "bravo"):
        assert (models / "loras" / f"{name}.safetensors").is_file()  # the files stay

    await card(page, "charlie").click(modifiers=["ControlOrMeta"])
    await page.get_by_test_id("bulk-trash").click()
    await expect(page.get_by_test_id("confirm-dialog")).to_contain_text("trash")
    await page.get_by_test_id("confirm-ok").click()
    await poll(lambda: _gone(models / "loras" / "charlie.safetensors"), "the file to go to the trash")
    assert trashed(tmp_path) == ["charlie.safetensors"]
    await expect(page.get_by_test_id("library-count")).to_have_text("3 models")  # it turned missing


async def _gone(path: Path) -> bool:
    return not path.exists()


@pytest.mark.parametrize("width", [390, 768, 1440])
async def test_select_all_in_the_filter_shows_its_count_and_progress(realistic: tuple[Daemon, Library], page: Page,
                                                                     width: int) -> None:
    daemon, _ = realistic
    await page.set_viewport_size({"width": width, "height": 844 if width < 768 else 900})
    await page.goto(daemon.url + "/?type=loras")
    count = page.get_by_test_id("library-count")
    await expect(count).not_to_have_text("Loading…")
    total = int((await count.text_content() or "").split()[0].replace(",", ""))
    assert total > 100  # more than one request's chunk
    first = page.get_by_test_id("model-card").first
    await first.click(modifiers=["ControlOrMeta"])
    await page.get_by_test_id("bulk-select-all").click()
    await expect(page.get_by_test_id("bulk-count")).to_have_text(f"{total} selected")
    await first.click(modifiers=["ControlOrMeta"])  # taken out again
    await expect(page.get_by_test_id("bulk-count")).to_have_text(f"{total - 1} selected")
    left_out = await first.get_attribute("data-sha")

    # The second request waits until the test has seen the bar after the first.
    release = asyncio.Event()
    calls = 0

    async def hold_second(route: Route) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            await release.wait()
        await route.continue_()

    await page.route("**/api/models/bulk", hold_second)
    if width < 600:
        await page.get_by_test_id("bulk-actions-toggle").click()
    await page.get_by_test_id("bulk-tags").fill("everything")
    await page.get_by_test_id("bulk-add-tags").click()
    progress = page.get_by_test_id("bulk-progress")
    await expect(progress).to_contain_text(f"100 of {total - 1}")
    await shot(page, f"bulk-progress-{width}")
    release.set()
    await expect(page.get_by_test_id("bulk-report")).to_contain_text(f"{total - 1} done, 0 failed")
    tagged = await daemon.get("/api/models?type=loras&tags=everything&limit=1")
    assert tagged["total"] == total - 1
    assert "everything" not in (await model(daemon, left_out or ""))["tags"]
    # The page never held the selection: it sent the filter, a page at a time.
    assert calls == 2
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("bulk-bar")).to_have_count(0)
