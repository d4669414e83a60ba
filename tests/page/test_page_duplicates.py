"""The Duplicates view in real Chromium against the real daemon: reached from the top bar with its count, each
model's files with their folders and sizes, and a copy moved to the trash after a dialog that names it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from playwright.async_api import Page, expect
from realistic_library import Library

from browser import shot
from conftest import Daemon, write_model


async def no_sideways_scroll(page: Page) -> None:
    """Nothing in the view is wider than the view: long paths wrap instead of pushing the buttons out of sight."""
    view = page.get_by_test_id("duplicates-view")
    widths = await view.evaluate("v => [v.scrollWidth, v.clientWidth]")
    assert widths[0] <= widths[1], widths
    box, button = await view.bounding_box(), await page.get_by_test_id("dup-trash").last.bounding_box()
    assert box and button and button["x"] + button["width"] <= box["x"] + box["width"] + 1, (box, button)


async def test_duplicates_view_shows_each_copy_and_trashes_one_after_naming_it(
    realistic: tuple[Daemon, Library], page: Page, tmp_path: Path
) -> None:
    d, lib = realistic
    pair = {str(p) for p in lib.copies[0]}
    # The realistic library leaves the copy as a conflict in the queue; merging it makes it the model's copy.
    (row,) = [r for r in await d.pending(status="conflict") if r["path"] in pair]
    await d.call("POST", "/api/pending/import", {"ids": [row["id"]], "conflict_strategy": "merge"})
    copy = row["path"]
    (main,) = pair - {copy}

    await page.goto(d.url + "/")
    await expect(page.get_by_test_id("duplicates-count")).to_have_text("1")
    await page.get_by_test_id("duplicates-toggle").click()
    await expect(page).to_have_url(re.compile(r"mode=duplicates"))
    await expect(page.get_by_test_id("duplicates-summary")).to_have_text("Models with copies: 1")
    await expect(page.get_by_test_id("type-tabs")).to_have_count(0)  # they filter the library, not this list
    files = page.get_by_test_id("dup-file")
    await expect(files).to_have_count(2)
    assert await files.evaluate_all("fs => fs.map(f => f.dataset.path)") == [main, copy]
    await expect(files.first.get_by_text("Main file")).to_be_visible()
    await expect(files.nth(1).get_by_test_id("dup-folder")).to_have_text(
        str(Path(copy).parent.relative_to(lib.root)))
    await expect(files.nth(1)).to_contain_text(f"{Path(copy).stat().st_size / 1024:.2f} KiB")
    await no_sideways_scroll(page)
    await shot(page, "duplicates-1440")

    for width, height in ((768, 1024), (390, 844)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.reload()
        await expect(files).to_have_count(2)
        await no_sideways_scroll(page)
        await shot(page, f"duplicates-{width}")

    await files.nth(1).get_by_test_id("dup-trash").click()
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_contain_text("Move this copy to the trash?")
    await expect(dialog).to_contain_text(copy)
    await shot(page, "duplicates-confirm-390")
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("duplicates-empty")).to_be_visible()
    await expect(page.get_by_test_id("duplicates-count")).to_have_count(0)
    assert not Path(copy).exists() and Path(main).exists()
    assert (tmp_path / "xdg-data" / "Trash" / "files" / Path(copy).name).is_file()
    model = await d.get(f"/api/models/{row['sha256']}")
    assert (model["path"], model["copies"]) == (main, [])


async def test_cancelling_the_dialog_keeps_the_file_and_a_lone_main_file_is_not_offered(
    daemon_factory: Callable[..., Awaitable[Daemon]], models: Path, page: Page
) -> None:
    # No watcher: the copy changed below must stay recorded as it was hashed, not be taken in again.
    daemon = await daemon_factory("--models-root", str(models), "--watch-mode", "off", "--rescan-interval", "0")
    main = write_model(models / "loras" / "kept.safetensors")
    copy = models / "vae" / "kept.safetensors"
    copy.write_bytes(main.read_bytes())
    await daemon.rescan()
    (sha,) = await daemon.import_files(main)
    row = await daemon.wait_row(copy, status="conflict")
    await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]], "conflict_strategy": "merge"})

    await page.goto(daemon.url + "/?mode=duplicates")
    files = page.get_by_test_id("dup-file")
    await expect(files).to_have_count(2)
    await files.first.get_by_test_id("dup-trash").click()  # the main file: a copy would take its place
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_contain_text("Move the main file to the trash?")
    await expect(dialog).to_contain_text(f"{copy} becomes the model's main file")
    await page.get_by_test_id("confirm-cancel").click()
    await expect(dialog).to_be_hidden()
    assert main.exists() and copy.exists()

    copy.write_bytes(main.read_bytes() + b"changed")  # no longer the content that was hashed
    await page.reload()
    await expect(files.nth(1)).to_contain_text("Changed")
    await expect(files.nth(1).get_by_test_id("dup-trash")).to_be_disabled()
    await expect(files.first.get_by_test_id("dup-trash")).to_be_disabled()
    assert (await daemon.get(f"/api/models/{sha}"))["copies"] == [str(copy)]


async def test_empty_state_when_no_model_has_copies(daemon: Daemon, models: Path, page: Page) -> None:
    await daemon.import_files(write_model(models / "loras" / "single.safetensors"))
    await page.goto(daemon.url + "/?mode=duplicates")
    await expect(page.get_by_test_id("duplicates-empty")).to_have_text(
        "No duplicates: every model's content is in one file only.")
    await expect(page.get_by_test_id("duplicates-count")).to_have_count(0)
    await page.get_by_test_id("duplicates-toggle").click()
    await expect(page.get_by_test_id("duplicates-view")).to_have_count(0)
