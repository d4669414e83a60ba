"""The conflict dialog in real Chromium: it suggests the side with the richer metadata (marked, with the reason,
preselected) instead of defaulting to merge, and names the file that goes to the trash before the user confirms."""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image
from playwright.async_api import Locator, Page, expect

from browser import shot
from conftest import Daemon, write_model

WAIT = 20_000


def rich(path: Path, seed: bytes) -> Path:
    """A LoRA with what a Civitai download brings: a sidecar (description, trigger words, tags) and a preview."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name.removesuffix(".safetensors")
    path.with_name(f"{stem}.civitai.info").write_text(json.dumps({
        "id": 9, "modelId": 9, "baseModel": "SDXL 1.0", "description": "<p>Use at <b>0.7</b>.</p>",
        "trainedWords": ["inkwash", "brush"], "model": {"name": stem, "tags": ["style", "ink"]}}))
    out = io.BytesIO()
    Image.new("RGB", (48, 64), (30, 160, 90)).save(out, "PNG")
    path.with_name(f"{stem}.preview.png").write_bytes(out.getvalue())
    return write_model(path, seed=seed)


async def import_file(daemon: Daemon, path: Path) -> None:
    row = await daemon.wait_row(path)
    report = await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    assert [i["id"] for i in report["imported"]] == [row["id"]], report


async def open_dialog(page: Page, daemon: Daemon, dup: Path) -> Locator:
    row = page.get_by_test_id("inbox-row").filter(has_text=dup.name)
    await expect(row).to_have_attribute("data-status", "conflict", timeout=WAIT)
    await row.get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    dialog = page.get_by_test_id("conflict-dialog")
    await expect(dialog).to_be_visible()
    return dialog


async def test_a_richer_new_file_is_suggested_and_its_trashing_named_first(daemon: Daemon, models: Path,
                                                                          page: Page, tmp_path: Path) -> None:
    original = write_model(models / "loras" / "orig.safetensors", seed=b"same")
    await import_file(daemon, original)
    await page.goto(f"{daemon.url}/?mode=inbox")
    dup = rich(models / "loras" / "downloads" / "inkwash.safetensors", b"same")
    dialog = await open_dialog(page, daemon, dup)

    pending, existing = dialog.locator("[data-side=pending]"), dialog.locator("[data-side=existing]")
    await expect(pending.get_by_test_id("conflict-suggested")).to_have_text("★ Suggested")
    await expect(existing.get_by_test_id("conflict-suggested")).to_have_count(0)
    await expect(dialog.get_by_test_id("conflict-strategy-override")).to_be_checked()
    reason = dialog.get_by_test_id("conflict-reason")
    await expect(reason).to_have_text("Suggested because the new file has a preview, a description, "
                                      "more trigger words (2 vs 0), more links (1 vs 0).")
    # Override trashes nothing; the dialog says where both files end up.
    fate = dialog.get_by_test_id("conflict-fate")
    await expect(fate).to_contain_text(f"{dup} becomes the model's file; {original} stays on disk as a copy")
    await shot(page, "conflict-suggest-pending-1440")

    await dialog.get_by_test_id("conflict-strategy-delete").check()
    await expect(fate).to_have_text(f"{dup} stays on disk; only the queue item is dropped.")
    await expect(dialog.get_by_test_id("conflict-trash-list")).to_have_count(0)
    await dialog.get_by_test_id("conflict-trash").check()
    await expect(fate).to_have_text(f"Goes to the trash: {dup}")
    trash_list = dialog.get_by_test_id("conflict-trash-list")
    await expect(trash_list.locator("li")).to_have_text([str(dup)])
    await page.set_viewport_size({"width": 390, "height": 844})
    await expect(trash_list).to_be_in_viewport()
    await shot(page, "conflict-suggest-trash-390")
    assert dup.exists()  # named, not yet gone

    await dialog.get_by_test_id("conflict-apply").click()
    await expect(page.get_by_test_id("report-deleted")).to_have_text("1 removed from the queue")
    assert not dup.exists() and original.exists()
    trashed = {p.name for p in (tmp_path / "xdg-data" / "Trash" / "files").iterdir()}
    assert dup.name in trashed


async def test_a_richer_library_model_is_suggested_each_time_the_dialog_opens(daemon: Daemon, models: Path,
                                                                             page: Page) -> None:
    original = rich(models / "loras" / "inkwash.safetensors", b"same")
    await import_file(daemon, original)
    await page.set_viewport_size({"width": 768, "height": 1024})
    await page.goto(f"{daemon.url}/?mode=inbox")
    dup = write_model(models / "loras" / "backup" / "copy.safetensors", seed=b"same")
    dialog = await open_dialog(page, daemon, dup)

    existing = dialog.locator("[data-side=existing]")
    await expect(existing.get_by_test_id("conflict-suggested")).to_have_text("★ Suggested")
    await expect(dialog.locator("[data-side=pending]").get_by_test_id("conflict-suggested")).to_have_count(0)
    await expect(dialog.get_by_test_id("conflict-strategy-merge")).to_be_checked()
    reason = dialog.get_by_test_id("conflict-reason")
    await expect(reason).to_contain_text("Suggested because the library's model has a preview, a description")
    await expect(dialog.get_by_test_id("conflict-fate")).to_have_count(0)  # merge moves and trashes nothing
    await shot(page, "conflict-suggest-existing-768")

    await dialog.get_by_test_id("conflict-strategy-ignore").check()
    await dialog.get_by_test_id("conflict-cancel").click()
    await expect(dialog).to_be_hidden()
    await page.get_by_test_id("import-report-close").click()
    # Opened again the dialog starts over from its suggestion.
    await page.get_by_test_id("inbox-import").click()
    await expect(dialog.get_by_test_id("conflict-strategy-merge")).to_be_checked()
