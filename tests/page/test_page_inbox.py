"""The inbox page: pending files arrive live, are imported, their conflicts resolved in a dialog, errors retried,
and walks started, in real Chromium against the real daemon and real files."""

from __future__ import annotations

import io
import json
import os
import re
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image
from playwright.async_api import Locator, Page, expect

from browser import shot
from conftest import Daemon, broken_walk, digests, poll, write_model

# Expectations that wait on the daemon (a watcher event, a settle period, a hash) get more than Playwright's 5 s.
WAIT = 20_000
StartDaemon = Callable[..., Awaitable[Daemon]]


def png(color: tuple[int, int, int], size: tuple[int, int] = (384, 512)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


async def open_inbox(page: Page, d: Daemon, query: str = "") -> None:
    await page.goto(f"{d.url}/?mode=inbox{query}")
    await expect(page.get_by_test_id("inbox")).to_be_visible()


def row(page: Page, name: str) -> Locator:
    return page.get_by_test_id("inbox-row").filter(has_text=name)


async def import_via_api(d: Daemon, path: Path) -> dict[str, Any]:
    (pending,) = await d.ready_rows(path)
    report = await d.call("POST", "/api/pending/import", {"ids": [pending["id"]]})
    assert [i["id"] for i in report["imported"]] == [pending["id"]]
    return pending


async def library_model(d: Daemon, models: Path) -> tuple[dict[str, Any], Path]:
    """A model in the library (renamed, tagged, described) whose file is loras/orig.safetensors."""
    path = write_model(models / "loras" / "orig.safetensors", seed=b"same")
    pending = await import_via_api(d, path)
    await d.call("PATCH", f"/api/models/{pending['sha256']}",
                 {"name": "Mine", "tags": ["style"], "meta_json": {"trigger_words": ["mine"]}})
    return pending, path


async def open_conflict(page: Page, d: Daemon, models: Path, name: str,
                        cover: bool = False) -> tuple[dict[str, Any], Path, Locator]:
    """A library model, the inbox open, then a file with the same bytes dropped in: the conflict dialog for it."""
    model, _ = await library_model(d, models)
    if cover:
        form = aiohttp.FormData()
        form.add_field("image", png((40, 90, 200)), filename="cover.png", content_type="image/png")
        code, answer = await d.request("POST", f"/api/models/{model['sha256']}/images", data=form)
        assert code == 201, answer
    await open_inbox(page, d)
    dup = write_model(models / "checkpoints" / name, seed=b"same")
    r = row(page, name)
    await expect(r).to_have_attribute("data-status", "conflict", timeout=WAIT)
    await r.get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    dialog = page.get_by_test_id("conflict-dialog")
    await expect(dialog).to_be_visible()
    conflict = dialog.get_by_test_id("conflict-row")
    await expect(conflict).to_have_count(1)
    await expect(conflict.locator("[data-side=pending]")).to_contain_text(name)
    await expect(conflict.locator("[data-side=existing]")).to_contain_text("Mine")
    await expect(conflict.locator("[data-side=existing]")).to_contain_text("style")
    return model, dup, dialog


async def test_a_new_file_appears_live_settles_and_turns_ready(daemon_factory: StartDaemon, models: Path,
                                                               page: Page) -> None:
    # A long settle period keeps the row in `settling` long enough to be seen.
    d = await daemon_factory("--models-root", str(models), settle=2.0)
    await d.wait_idle()
    await open_inbox(page, d)
    await expect(page.get_by_test_id("inbox-empty")).to_contain_text("Nothing waiting")

    write_model(models / "loras" / "new.safetensors", size=3 * 1024 * 1024)
    r = row(page, "new.safetensors")
    await expect(r).to_have_attribute("data-status", "settling", timeout=WAIT)
    await expect(r).to_contain_text("Waiting for the file to finish writing")
    await expect(r).to_have_attribute("data-status", "ready", timeout=WAIT)
    await expect(r).to_contain_text("3.00 MiB")
    await expect(r).to_contain_text("LoRAs")
    # The way back to the library names the library's size; the queue's counts are on its filters.
    await expect(page.get_by_test_id("library-total")).to_have_text("0")
    await expect(page.get_by_test_id("inbox-filter-ready")).to_contain_text("1")


async def test_while_files_are_hashed_the_inbox_says_how_fast(daemon: Daemon, models: Path, page: Page) -> None:
    await daemon.wait_idle()
    await open_inbox(page, daemon)
    rate = page.get_by_test_id("hash-rate")
    await expect(rate).to_have_count(0)
    for i in range(12):
        write_model(models / "loras" / f"batch{i:02}.safetensors", size=256 * 1024)
    await expect(rate).to_contain_text(re.compile(r"Hashing \d+ files/s, [\d.]+ (KiB|MiB)/s"), timeout=WAIT)
    await expect(page.get_by_test_id("inbox-filter-ready")).to_contain_text("12", timeout=WAIT)
    await expect(rate).to_have_count(0, timeout=WAIT)  # gone once nothing was hashed for a while


async def test_importing_a_ready_file_moves_it_to_the_library(daemon: Daemon, models: Path, page: Page) -> None:
    await daemon.wait_idle()
    await open_inbox(page, daemon)
    path = write_model(models / "loras" / "fresh.safetensors")
    r = row(page, "fresh.safetensors")
    await expect(r).to_have_attribute("data-status", "ready", timeout=WAIT)

    await r.click()  # shows its details
    await expect(page).to_have_url(re.compile(r"pending=\d+"))
    details = page.get_by_test_id("pending-details")
    await expect(details).to_contain_text("fresh.safetensors")
    await expect(details).to_contain_text(digests(path)[0])
    await r.get_by_test_id("inbox-row-check").click()
    await expect(page.get_by_test_id("inbox-selected-count")).to_have_text("1 selected")

    await page.get_by_test_id("inbox-import").click()
    report = page.get_by_test_id("import-report")
    await expect(report).to_be_visible()
    await expect(report.get_by_test_id("report-imported")).to_have_text("1 imported")
    await expect(r).to_have_count(0)
    await page.get_by_test_id("import-report-close").click()
    await expect(report).to_be_hidden()
    await expect(page.get_by_test_id("inbox-empty")).to_be_visible()
    listing = await daemon.get("/api/models")
    assert [(m["file_name"], m["type"]) for m in listing["models"]] == [("fresh.safetensors", "loras")]
    await expect(details).to_contain_text("no longer pending")


async def test_a_damaged_file_is_refused_with_its_reason_and_imported_when_the_user_insists(
    daemon: Daemon, models: Path, page: Page
) -> None:
    await daemon.wait_idle()
    await open_inbox(page, daemon)
    broken = models / "loras" / "broken.safetensors"
    broken.write_bytes(struct.pack("<Q", 2**63) + b"\x00" * 8)  # a header longer than any disk
    write_model(models / "loras" / "sound.safetensors")
    for name in ("broken.safetensors", "sound.safetensors"):
        await expect(row(page, name)).to_have_attribute("data-status", "ready", timeout=WAIT)
        await row(page, name).get_by_test_id("inbox-row-check").click()
    # The damaged file is not shown as a green Ready: its status says so, and its reason is in words.
    await expect(row(page, "broken.safetensors").get_by_test_id("inbox-row-status")).to_have_text("Damaged")
    await expect(row(page, "broken.safetensors")).to_contain_text("8.00 EiB")
    await expect(row(page, "sound.safetensors").get_by_test_id("inbox-row-status")).to_have_text("Ready")
    await row(page, "broken.safetensors").click()
    await expect(page.get_by_test_id("pending-details-damaged")).to_contain_text("The file looks damaged: the header")

    # The page asks first, naming the damaged file and why; skipping imports the other one only.
    await page.get_by_test_id("inbox-import").click()
    asked = page.get_by_test_id("damaged-dialog")
    await expect(asked.get_by_test_id("damaged-files")).to_contain_text("broken.safetensors: the header")
    await asked.get_by_test_id("damaged-skip").click()
    report = page.get_by_test_id("import-report")
    await expect(report.get_by_test_id("report-imported")).to_have_text("1 imported")
    await expect(report.get_by_test_id("report-reasons")).to_contain_text("sound.safetensors")
    await expect(report.get_by_test_id("report-reasons")).not_to_contain_text("broken.safetensors")
    await expect(row(page, "broken.safetensors")).to_have_count(1)  # still waiting, nothing lost
    await report.get_by_test_id("import-report-close").click()

    await row(page, "broken.safetensors").get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    await asked.get_by_test_id("damaged-anyway").click()
    await expect(report.get_by_test_id("report-imported")).to_have_text("1 imported")
    await expect(report.get_by_test_id("report-refused")).to_have_count(0)
    await expect(row(page, "broken.safetensors")).to_have_count(0)
    listing = await daemon.get("/api/models")
    assert sorted(m["file_name"] for m in listing["models"]) == ["broken.safetensors", "sound.safetensors"]

    # In the library it keeps its mark: on its card and, with the reason, in its details.
    await report.get_by_test_id("import-report-close").click()
    (model,) = [m for m in listing["models"] if m["file_name"] == "broken.safetensors"]
    await page.goto(f"{daemon.url}/?model={model['sha256']}")
    await expect(page.get_by_test_id("card-damaged")).to_have_count(1)
    await expect(page.get_by_test_id("card-damaged")).to_have_attribute("title", re.compile("8.00 EiB"))
    await expect(page.get_by_test_id("details-damaged")).to_contain_text("Damaged: the header says")


async def test_range_selection_and_keyboard(daemon: Daemon, models: Path, page: Page) -> None:
    await daemon.wait_idle()
    names = [f"k{i}.safetensors" for i in range(4)]
    for name in names:
        write_model(models / "vae" / name)
    await daemon.ready_rows(*(models / "vae" / n for n in names))
    await open_inbox(page, daemon)
    rows = page.get_by_test_id("inbox-row")
    await expect(rows).to_have_count(4)
    count = page.get_by_test_id("inbox-selected-count")

    await rows.nth(0).get_by_test_id("inbox-row-check").click()
    await rows.nth(3).click(modifiers=["Shift"])
    await expect(count).to_have_text("4 selected")
    await rows.nth(2).click(modifiers=["Shift"])  # the anchor is the last row toggled: 3..2 turn off
    await expect(count).to_have_text("2 selected")
    await rows.nth(0).click(modifiers=["ControlOrMeta"])
    await expect(count).to_have_text("1 selected")
    await expect(rows.nth(1).get_by_test_id("inbox-row-check")).to_be_checked()
    await page.keyboard.press("Escape")
    await expect(count).to_have_text("0 selected")
    await rows.nth(3).get_by_test_id("inbox-row-check").click()
    await rows.nth(1).get_by_test_id("inbox-row-check").click(modifiers=["Shift"])
    await expect(count).to_have_text("3 selected")
    await page.get_by_test_id("inbox-clear").click()
    await expect(count).to_have_text("0 selected")

    await rows.nth(0).focus()
    await page.keyboard.press("Space")
    await page.keyboard.press("ArrowDown")
    await expect(rows.nth(1)).to_be_focused()
    await page.keyboard.press("Space")
    await expect(count).to_have_text("2 selected")
    await page.keyboard.press("Enter")
    second = await rows.nth(1).get_attribute("data-id")
    await expect(page).to_have_url(re.compile(rf"pending={second}\b"))
    await expect(page.get_by_test_id("pending-details")).to_have_attribute("data-id", str(second))
    await page.get_by_test_id("inbox-select-ready").click()
    await expect(count).to_have_text("4 selected")


async def test_opening_a_row_does_not_select_it(daemon: Daemon, models: Path, page: Page) -> None:
    """Issue 14: a row the user only looked at was imported with the ones they chose."""
    await daemon.wait_idle()
    names = [f"look{i}.safetensors" for i in range(4)]
    for name in names:
        write_model(models / "loras" / name)
    await daemon.ready_rows(*(models / "loras" / n for n in names))
    await open_inbox(page, daemon)
    rows = page.get_by_test_id("inbox-row")
    await expect(rows).to_have_count(4)
    count = page.get_by_test_id("inbox-selected-count")
    import_button = page.get_by_test_id("inbox-import")

    looked = row(page, "look3.safetensors")
    await looked.click()
    await expect(page.get_by_test_id("pending-details")).to_contain_text("look3.safetensors")
    await expect(count).to_have_text("0 selected")
    await expect(import_button).to_be_disabled()

    await row(page, "look2.safetensors").get_by_test_id("inbox-row-check").click()
    await row(page, "look1.safetensors").click(modifiers=["ControlOrMeta"])
    await expect(count).to_have_text("2 selected")
    await row(page, "look0.safetensors").click()  # looked at, not chosen
    await expect(page.get_by_test_id("pending-details")).to_contain_text("look0.safetensors")
    await expect(count).to_have_text("2 selected")

    # A row arriving over the event stream leaves the selection as it was.
    write_model(models / "loras" / "later.safetensors")
    await expect(row(page, "later.safetensors")).to_have_attribute("data-status", "ready", timeout=WAIT)
    await expect(count).to_have_text("2 selected")
    await expect(import_button).to_contain_text("2")

    await import_button.click()
    report = page.get_by_test_id("import-report")
    await expect(report.get_by_test_id("report-imported")).to_have_text("2 imported")
    await page.get_by_test_id("import-report-close").click()
    listing = await daemon.get("/api/models")
    assert sorted(m["file_name"] for m in listing["models"]) == ["look1.safetensors", "look2.safetensors"]
    await expect(rows).to_have_count(3)
    await expect(count).to_have_text("0 selected")


async def test_conflict_override_makes_the_new_file_the_models_file(daemon: Daemon, models: Path,
                                                                    page: Page) -> None:
    model, dup, dialog = await open_conflict(page, daemon, models, "better-name.safetensors")
    await dialog.get_by_test_id("conflict-all").select_option("override")
    await expect(dialog.get_by_test_id("conflict-strategy-override")).to_be_checked()
    await dialog.get_by_test_id("conflict-apply").click()
    await expect(dialog).to_be_hidden()
    await expect(page.get_by_test_id("report-imported")).to_have_text("1 imported")
    got = await daemon.get(f"/api/models/{model['sha256']}")
    assert (got["path"], got["name"], got["type"]) == (str(dup), "better-name", "checkpoints")
    assert got["tags"] == ["style"]
    await expect(row(page, "better-name.safetensors")).to_have_count(0)


async def test_conflict_merge_keeps_the_model_and_takes_the_new_data(daemon: Daemon, models: Path,
                                                                     page: Page) -> None:
    # What the duplicate brings: a preview and an A1111 sidecar with a description the model does not have yet.
    folder = models / "checkpoints"
    folder.mkdir(exist_ok=True)
    (folder / "merged.preview.png").write_bytes(png((200, 120, 40)))
    (folder / "merged.json").write_text(json.dumps({
        "description": "Found beside the duplicate.", "sd version": "SDXL", "activation text": "red hair, hat"}))
    model, dup, dialog = await open_conflict(page, daemon, models, "merged.safetensors", cover=True)
    pending_side = dialog.locator("[data-side=pending]")
    await expect(pending_side).to_contain_text("Found beside the duplicate.")
    await expect(pending_side).to_contain_text("red hair")
    await expect(pending_side.locator("img")).to_be_visible()
    await expect(dialog.locator("[data-side=existing] img")).to_be_visible()
    await dialog.get_by_test_id("conflict-strategy-merge").check()
    await shot(page, "conflict-dialog")

    await dialog.get_by_test_id("conflict-apply").click()
    await expect(page.get_by_test_id("report-imported")).to_have_text("1 imported")
    got = await daemon.get(f"/api/models/{model['sha256']}")
    assert (got["path"], got["name"], got["type"]) == (str(models / "loras" / "orig.safetensors"), "Mine", "loras")
    assert got["copies"] == [str(dup)]
    assert got["meta_json"]["description"] == "Found beside the duplicate."
    assert got["meta_json"]["trigger_words"] == ["mine"]  # the model's own value wins


async def test_conflict_ignore_hides_the_row_and_restore_brings_it_back(daemon: Daemon, models: Path,
                                                                        page: Page) -> None:
    _, dup, dialog = await open_conflict(page, daemon, models, "twin.safetensors")
    await dialog.get_by_test_id("conflict-strategy-ignore").check()
    await dialog.get_by_test_id("conflict-apply").click()
    report = page.get_by_test_id("import-report")
    await expect(report.get_by_test_id("report-ignored")).to_have_text("1 ignored")
    await expect(report.get_by_test_id("report-imported")).to_have_text("0 imported")
    await page.get_by_test_id("import-report-close").click()
    await expect(row(page, "twin.safetensors")).to_have_count(0)

    await page.get_by_test_id("inbox-filter-ignored").click()
    await expect(page).to_have_url(re.compile(r"show=ignored"))
    ignored = row(page, "twin.safetensors")
    await expect(ignored).to_have_attribute("data-status", "ignored")
    assert dup.exists()
    await ignored.get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-restore").click()
    await expect(ignored).to_have_count(0)
    await expect(page.get_by_test_id("inbox-empty")).to_contain_text("No ignored files")
    await page.get_by_test_id("inbox-filter-active").click()
    await expect(row(page, "twin.safetensors")).to_have_attribute("data-status", "conflict")


async def test_conflict_delete_with_trash_drops_the_row_and_the_file(daemon: Daemon, models: Path, page: Page,
                                                                     tmp_path: Path) -> None:
    _, dup, dialog = await open_conflict(page, daemon, models, "trash-me.safetensors")
    trash = dialog.get_by_test_id("conflict-trash")
    await expect(trash).to_have_count(0)  # only offered with `delete`
    await dialog.get_by_test_id("conflict-strategy-delete").check()
    await trash.check()
    await dialog.get_by_test_id("conflict-apply").click()
    await expect(page.get_by_test_id("report-deleted")).to_have_text("1 removed from the queue")
    await expect(row(page, "trash-me.safetensors")).to_have_count(0)
    assert not dup.exists()
    trashed = [p.name for p in (tmp_path / "xdg-data" / "Trash" / "files").iterdir()]
    assert trashed == ["trash-me.safetensors"]
    assert (models / "loras" / "orig.safetensors").exists()


async def test_an_error_row_shows_its_reason_and_retry_hashes_it_again(daemon_factory: StartDaemon, models: Path,
                                                                        page: Page) -> None:
    # Without watching, fixing the file changes nothing by itself: only Retry can bring the row back.
    broken = models / "loras" / "broken.safetensors"
    os.symlink("/proc/self/mem", broken)  # a regular file whose first read fails with EIO, even for root
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    await d.wait_row(broken, status="error")
    await open_inbox(page, d)
    r = row(page, "broken.safetensors")
    await expect(r).to_have_attribute("data-status", "error")
    await expect(r).to_contain_text("Input/output error")
    await page.get_by_test_id("inbox-filter-errors").click()
    await expect(r).to_be_visible()
    await r.click()
    await expect(page.get_by_test_id("pending-details")).to_contain_text("Input/output error")

    broken.unlink()
    write_model(broken)
    await r.get_by_test_id("inbox-retry").click()
    await expect(r).to_have_count(0, timeout=WAIT)  # it left the Errors filter
    await page.get_by_test_id("inbox-filter-active").click()
    await expect(row(page, "broken.safetensors")).to_have_attribute("data-status", "ready", timeout=WAIT)
    assert (await d.wait_row(broken))["sha256"] == digests(broken)[0]


async def test_retry_of_a_file_still_broken_says_why(daemon_factory: StartDaemon, models: Path, page: Page) -> None:
    gone = models / "vae" / "gone.safetensors"
    os.symlink("/proc/self/mem", gone)
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off")
    await d.wait_row(gone, status="error")
    await open_inbox(page, d, "&show=errors")
    gone.unlink()
    await row(page, "gone.safetensors").get_by_test_id("inbox-retry").click()
    await expect(page.get_by_test_id("toast").filter(has_text="the file is gone")).to_be_visible()
    await expect(row(page, "gone.safetensors")).to_have_attribute("data-status", "error")


async def test_scan_now_shows_the_walk_and_its_end(daemon: Daemon, models: Path, page: Page) -> None:
    for name in ("a.safetensors", "b.safetensors"):
        write_model(models / "loras" / name)
    await daemon.wait_idle()
    await open_inbox(page, daemon)
    await expect(page.get_by_test_id("inbox-row")).to_have_count(2, timeout=WAIT)
    await expect(page.get_by_test_id("scan-progress")).to_have_count(0)
    write_model(models / "vae" / "c.safetensors")
    await page.get_by_test_id("inbox-scan").click()
    progress = page.get_by_test_id("scan-progress")
    await expect(progress).to_have_attribute("data-phase", "done", timeout=WAIT)
    await expect(progress).to_contain_text(re.compile(r"Scan finished: 3 files in \d+ folders"))
    await expect(page.get_by_test_id("inbox-scan")).to_be_enabled()
    await expect(page.get_by_test_id("inbox-row")).to_have_count(3, timeout=WAIT)


async def test_a_failed_scan_says_so_and_can_be_run_again(daemon_factory: StartDaemon, models: Path, page: Page,
                                                          tmp_path: Path) -> None:
    d = await daemon_factory("--models-root", str(models), env=broken_walk(tmp_path, 2))
    await d.wait_idle()
    await open_inbox(page, d)
    await page.get_by_test_id("inbox-scan").click()
    progress = page.get_by_test_id("scan-progress")
    await expect(progress).to_have_attribute("data-phase", "failed", timeout=WAIT)
    await expect(progress).to_contain_text("The scan failed: RuntimeError: injected: the walk broke")
    await expect(page.get_by_test_id("inbox-scan")).to_be_enabled()
    write_model(models / "vae" / "after.safetensors")
    await page.get_by_test_id("inbox-scan").click()
    await expect(progress).to_have_attribute("data-phase", "done", timeout=WAIT)
    await expect(page.get_by_test_id("inbox-row")).to_have_count(1, timeout=WAIT)


async def test_a_scan_already_running_is_followed(daemon: Daemon, models: Path, page: Page) -> None:
    # A walk of a test tree ends in milliseconds, so the daemon's 409 cannot be caught reliably: it is stood in for.
    await daemon.wait_idle()
    await open_inbox(page, daemon)
    await page.route("**/api/scan", lambda route: route.fulfill(
        status=409, content_type="application/json", body=json.dumps({"error": "a scan is already running"})))
    await page.get_by_test_id("inbox-scan").click()
    await expect(page.get_by_text("A scan is already running; following it.")).to_be_visible()


async def test_the_list_is_read_again_after_the_event_stream_comes_back(daemon: Daemon, models: Path,
                                                                        page: Page) -> None:
    keep, gone = write_model(models / "loras" / "keep.safetensors"), write_model(models / "loras" / "gone.safetensors")
    await daemon.ready_rows(keep, gone)
    list_reads: list[str] = []
    page.on("request", lambda r: list_reads.append(r.url) if "/api/pending?offset=0&limit=1000" in r.url else None)
    await open_inbox(page, daemon)
    offline = page.get_by_role("status").filter(has_text="Live updates lost")
    await expect(offline).to_be_hidden()
    await expect(page.get_by_test_id("inbox-row")).to_have_count(2)
    reads_before = len(list_reads)

    daemon.terminate()
    await expect(offline).to_be_visible()
    gone.unlink()  # while nobody watches: the restart's walk drops the row, maybe before the page is back
    await daemon.start()
    await expect(offline).to_be_hidden(timeout=WAIT)
    await expect(page.get_by_test_id("inbox-row")).to_have_count(1, timeout=WAIT)
    await expect(row(page, "keep.safetensors")).to_have_attribute("data-status", "ready")

    async def read_again() -> bool:
        return len(list_reads) > reads_before

    await poll(read_again, "the page to read the list again after reconnecting")


async def test_screenshot_of_rows_in_every_state(daemon_factory: StartDaemon, models: Path, page: Page) -> None:
    d = await daemon_factory("--models-root", str(models), settle=3.0)
    await library_model(d, models)
    for name in ("detail-tweaker.safetensors", "anime-style-v2.safetensors"):
        write_model(models / "loras" / name, size=256 * 1024)
    write_model(models / "checkpoints" / "sdxl-base-copy.safetensors", seed=b"same")
    os.symlink("/proc/self/mem", models / "vae" / "unreadable.safetensors")
    await d.ready_rows(models / "loras" / "detail-tweaker.safetensors", models / "loras" / "anime-style-v2.safetensors")
    conflict = await d.wait_row(models / "checkpoints" / "sdxl-base-copy.safetensors", status="conflict")
    await d.wait_row(models / "vae" / "unreadable.safetensors", status="error")
    await open_inbox(page, d, f"&pending={conflict['id']}")
    await expect(page.get_by_test_id("inbox-row")).to_have_count(4)
    await expect(page.get_by_test_id("pending-show-existing")).to_be_visible()
    write_model(models / "loras" / "downloading.safetensors", size=512 * 1024)
    await expect(row(page, "downloading.safetensors")).to_have_attribute("data-status", "settling", timeout=WAIT)
    await row(page, "detail-tweaker").click()
    await expect(page.get_by_test_id("pending-details")).to_contain_text("detail-tweaker")
    await shot(page, "inbox")
