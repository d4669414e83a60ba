"""Triage in the inbox, in real Chromium against the real daemon and a realistic set of files: each row's thumbnail,
base model and trigger words, search and type/folder filters kept in the URL, twins flagged before import, the
report's file-by-file outcome (with the trashed file's path), and the question before importing a damaged file."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from playwright.async_api import Locator, Page, expect
from realistic_library import Library, write_library

from browser import shot
from conftest import Daemon, poll

WAIT = 20_000
WIDTHS = [390, 768, 1440]


def row(page: Page, path: Path) -> Locator:
    # By path: the copy and its original share a file name.
    return page.locator(f"[data-testid='inbox-row']:has(.name[title='{path}'])")


def url_query(page: Page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


async def inbox(daemon: Daemon, models: Path, page: Page, width: int) -> Library:
    """A small realistic library waiting in the inbox (nothing imported), hashed, the inbox open at `width`."""
    lib = write_library(models, loras=12, checkpoints=4)
    await daemon.ready_rows(*lib.loras, *lib.checkpoints, *(c for _, c in lib.copies), *lib.damaged)
    await page.set_viewport_size({"width": width, "height": 844 if width < 600 else 900})
    await page.goto(f"{daemon.url}/?mode=inbox")
    await expect(page.get_by_test_id("inbox")).to_be_visible()
    return lib


@pytest.mark.parametrize("width", WIDTHS)
async def test_rows_show_thumbnail_base_model_triggers_and_twins(daemon: Daemon, models: Path, page: Page,
                                                                width: int):
    lib = await inbox(daemon, models, page, width)
    first = lib.with_sidecar[0]
    api_row = next(r for r in await daemon.pending() if r["path"] == str(first))
    assert api_row["base_model"] and "trigger0" in api_row["trigger_words"] and api_row["cover"]
    r = row(page, first)
    await expect(r).to_be_visible(timeout=WAIT)
    thumb = r.get_by_test_id("inbox-row-thumb").locator("img")
    await expect(thumb).to_be_visible()
    await poll(lambda: thumb.evaluate("img => img.complete && img.naturalWidth > 0"), "the thumbnail to load")
    await expect(r.get_by_test_id("inbox-row-base")).to_have_text(api_row["base_model"])
    triggers = r.get_by_test_id("inbox-row-triggers")
    await expect(triggers).to_be_visible()
    await expect(triggers).to_have_attribute("title", "Trigger words: " + ", ".join(api_row["trigger_words"]))
    # A file without sidecar or preview has an empty frame and no triggers.
    plain = row(page, lib.loras[1])
    await expect(plain.get_by_test_id("inbox-row-thumb").locator("img")).to_have_count(0)
    await expect(plain.get_by_test_id("inbox-row-triggers")).to_have_count(0)

    original, copy = lib.copies[0]
    for one, other in ((original, copy), (copy, original)):
        flag = row(page, one).get_by_test_id("inbox-row-twin")
        await expect(flag).to_be_visible()
        await expect(flag).to_have_text(f"Same content as {other.name}")
        await expect(flag).to_have_attribute("title", f"Same content as {other}. Importing both makes them one model "
                                                      "with two files.")
    await expect(page.get_by_test_id("inbox-row-twin")).to_have_count(2)
    # The rows and the search bar are not cut off sideways at phone width (the toolbars above are another matter).
    wide = await page.evaluate("""w => [...document.querySelectorAll(
            "[data-testid=inbox-row], [data-testid=inbox-row] *, [data-testid=inbox-triage] *")]
        .filter(e => e.getBoundingClientRect().right > w + 1)
        .map(e => e.tagName + '.' + e.className + '[' + (e.dataset.testid || '') + ']').slice(0, 30)""", width)
    assert not wide, wide
    await shot(page, f"triage-rows-{width}")


@pytest.mark.parametrize("width", WIDTHS)
async def test_search_type_and_folder_filter_and_stay_in_the_url(daemon: Daemon, models: Path, page: Page,
                                                                width: int):
    lib = await inbox(daemon, models, page, width)
    rows = page.get_by_test_id("inbox-row")
    await expect(rows).to_have_count(len(lib.files), timeout=WAIT)

    await page.get_by_test_id("inbox-search").fill("少女")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("少女风格")
    assert url_query(page)["pq"] == ["少女"]
    await shot(page, f"triage-search-{width}")
    # A link (or reload) brings the search back.
    await page.reload()
    await expect(page.get_by_test_id("inbox-search")).to_have_value("少女")
    await expect(rows).to_have_count(1, timeout=WAIT)

    await page.get_by_test_id("inbox-triage-clear").click()
    await expect(rows).to_have_count(len(lib.files))
    assert not {"pq", "ptype", "pfolder"} & set(url_query(page))

    await page.get_by_test_id("inbox-type").select_option("checkpoints")
    await expect(rows).to_have_count(len(lib.checkpoints))
    assert url_query(page)["ptype"] == ["checkpoints"]
    await page.get_by_test_id("inbox-type").select_option("")

    in_characters = [p for p in lib.files if p.parent == models / "loras" / "characters"]
    assert in_characters
    await page.get_by_test_id("inbox-folder").select_option("loras/characters")
    await expect(rows).to_have_count(len(in_characters))
    assert url_query(page)["pfolder"] == ["loras/characters"]
    # A whole folder with what is below it: `loras/styles` holds `anime` and `photo`.
    await page.get_by_test_id("inbox-folder").select_option("loras/styles")
    await expect(rows).to_have_count(len([p for p in lib.files if (models / "loras" / "styles") in p.parents]))
    await page.get_by_test_id("inbox-search").fill("no such file anywhere")
    await expect(page.get_by_test_id("inbox-empty")).to_contain_text("No pending file matches")
    await shot(page, f"triage-filters-{width}")
    # The filters sit in the page, not past its right edge.
    box = await page.get_by_test_id("inbox-folder").bounding_box()
    assert box is not None and box["x"] + box["width"] <= width


@pytest.mark.parametrize("width", WIDTHS)
async def test_importing_twins_reports_each_file_with_the_trashed_path(daemon: Daemon, models: Path, page: Page,
                                                                      width: int, tmp_path: Path):
    lib = await inbox(daemon, models, page, width)
    original, copy = lib.copies[0]
    for p in (original, copy):
        await row(page, p).get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    dialog = page.get_by_test_id("conflict-dialog")
    await expect(dialog).to_be_visible(timeout=WAIT)
    await dialog.get_by_test_id("conflict-strategy-delete").check()
    await dialog.get_by_test_id("conflict-trash").check()
    await dialog.get_by_test_id("conflict-apply").click()
    report = page.get_by_test_id("import-report")
    await expect(report).to_be_visible(timeout=WAIT)
    lines = report.get_by_test_id("report-file")
    await expect(lines).to_have_count(2)
    trashed = lines.and_(page.locator("[data-outcome='trashed']"))
    await expect(trashed).to_have_count(1)
    kept = lines.and_(page.locator("[data-outcome='new']"))
    await expect(kept).to_contain_text("Imported")
    # Whichever of the two became the model, the other went to the trash, and the report says which.
    gone = [p for p in (original, copy) if not p.exists()]
    assert len(gone) == 1
    await expect(trashed).to_contain_text(f"Moved to the trash: {gone[0]}")
    assert [p.name for p in (tmp_path / "xdg-data" / "Trash" / "files").iterdir()] == [gone[0].name]
    await shot(page, f"triage-report-{width}")


@pytest.mark.parametrize("width", WIDTHS)
async def test_importing_a_damaged_file_asks_first(daemon: Daemon, models: Path, page: Page, width: int):
    lib = await inbox(daemon, models, page, width)
    (broken,) = lib.damaged
    good = lib.checkpoints[0]
    await expect(row(page, broken)).to_have_attribute("data-damaged", "true", timeout=WAIT)

    async def ask() -> Locator:
        for p in (broken, good):
            if await row(page, p).count():
                check = row(page, p).get_by_test_id("inbox-row-check")
                if not await check.is_checked():
                    await check.click()
        await page.get_by_test_id("inbox-import").click()
        dialog = page.get_by_test_id("damaged-dialog")
        await expect(dialog).to_be_visible()
        await expect(dialog.get_by_test_id("damaged-files")).to_contain_text(broken.name)
        await expect(dialog.get_by_test_id("damaged-files")).not_to_contain_text(good.name)
        # The safe answer has the focus: Enter does not import a damaged file.
        await expect(dialog.get_by_test_id("damaged-cancel")).to_be_focused()
        return dialog

    dialog = await ask()
    await shot(page, f"triage-damaged-{width}")
    await dialog.get_by_test_id("damaged-cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("import-report")).to_be_hidden()
    assert {r["path"] for r in await daemon.pending()} >= {str(broken), str(good)}

    dialog = await ask()
    await dialog.get_by_test_id("damaged-skip").click()
    report = page.get_by_test_id("import-report")
    await expect(report).to_be_visible(timeout=WAIT)
    await expect(report.get_by_test_id("report-file")).to_have_count(1)
    await expect(report.get_by_test_id("report-file")).to_contain_text(good.name)
    await report.get_by_test_id("import-report-close").click()
    await expect(row(page, good)).to_have_count(0, timeout=WAIT)
    await expect(row(page, broken)).to_have_count(1)

    dialog = await ask()
    await dialog.get_by_test_id("damaged-anyway").click()
    await expect(report).to_be_visible(timeout=WAIT)
    await expect(report.locator("[data-outcome='new']")).to_contain_text(broken.name)
    await report.get_by_test_id("import-report-close").click()
    await expect(row(page, broken)).to_have_count(0, timeout=WAIT)
    assert broken.exists()
