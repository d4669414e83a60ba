"""The details panel in real Chromium against the real daemon: editing and saving, images, the unsaved-changes
guard, the daemon's errors, and a screenshot for a person to look at."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from PIL import Image
from playwright.async_api import Page, expect

from browser import shot
from conftest import Daemon, poll, safetensors_bytes, write_model


async def import_models(daemon: Daemon, models: Path, *names: str) -> list[str]:
    """Hash and import one small LoRA per name; returns their sha256 in order."""
    paths = [write_model(models / "loras" / f"{n}.safetensors") for n in names]
    rows = [await daemon.wait_row(p) for p in paths]
    report = await daemon.call("POST", "/api/pending/import", {"ids": [r["id"] for r in rows]})
    assert not report["failed"] and not report["conflicts"], report
    return [r["sha256"] for r in rows]


@pytest.fixture
async def two(daemon: Daemon, models: Path) -> list[str]:
    return await import_models(daemon, models, "alpha", "beta")


def png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (30, 40)) -> Path:
    Image.new("RGB", size, color).save(path, "PNG")
    return path


async def navigate(page: Page, query: dict[str, str]) -> None:
    """An in-page navigation through the app's router, as a click on a card makes (guards included)."""
    await page.evaluate(
        "q => { document.querySelector('#app').__vue_app__.config.globalProperties.$router.push({ query: q }); }",
        query,
    )


async def model(daemon: Daemon, sha: str) -> dict[str, Any]:
    return await daemon.get(f"/api/models/{sha}")


async def test_edits_are_saved_as_a_patch_of_the_changed_fields_and_survive_a_reload(
    daemon: Daemon, page: Page, two: list[str]
) -> None:
    sha, other = two
    await daemon.call("PATCH", f"/api/models/{other}", {"tags": ["realistic"]})
    await daemon.call("PATCH", f"/api/models/{sha}", {"meta_json": {"notes": "kept", "prompts": {"negative": "ugly"}}})
    await page.goto(f"{daemon.url}/?model={sha}")

    name = page.get_by_test_id("details-name")
    await expect(name).to_have_value("alpha")
    await expect(page.get_by_test_id("details-save")).to_be_disabled()
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    await name.fill("Alpha Renamed")
    await expect(page.get_by_test_id("details-dirty")).to_be_visible()

    tags = page.get_by_test_id("details-tags-input")
    await tags.fill("anime")
    await tags.press("Enter")
    await tags.press_sequentially("fresh,")
    await tags.press_sequentially("REAL")
    await expect(page.get_by_test_id("tag-suggestion")).to_have_text(["realistic"])
    await tags.press("ArrowDown")
    await tags.press("Enter")
    chips = page.get_by_test_id("details-tag-chip")
    await expect(chips.locator(".text")).to_have_text(["anime", "fresh", "realistic"])
    await expect(chips.filter(has_text="anime")).to_have_attribute("data-new", "true")
    await expect(chips.filter(has_text="realistic")).not_to_have_attribute("data-new", "true")
    await tags.press_sequentially("oops")
    await tags.press("Backspace")
    await tags.press("Backspace")
    await tags.press("Backspace")
    await tags.press("Backspace")
    await tags.press("Backspace")
    await expect(chips.locator(".text")).to_have_text(["anime", "fresh"])
    await tags.press("ArrowDown")  # no suggestions open: nothing happens
    await tags.press_sequentially("realistic")
    await tags.press("Enter")

    await page.get_by_test_id("details-description").fill("A test model.\nTwo lines.")
    triggers = page.get_by_test_id("details-trigger-input")
    await triggers.fill("alpha style")
    await triggers.press("Enter")
    await triggers.press_sequentially("a1,")
    await page.get_by_test_id("details-nsfw").check()
    await page.get_by_test_id("details-link-add").click()
    await page.get_by_test_id("details-link").last.fill("https://example.com/alpha")
    await page.get_by_test_id("details-positive").fill("masterpiece, alpha")

    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await page.get_by_test_id("details-save").click()
    body = json.loads((await sent.value).post_data or "{}")
    # Lists go as the items added, so another tab's addition meanwhile is not replaced.
    assert body == {
        "name": "Alpha Renamed",
        "tags_add": ["anime", "fresh", "realistic"],
        "meta_json": {
            "description": "A test model.\nTwo lines.",
            "nsfw": True,
            "prompts": {"positive": "masterpiece, alpha"},
        },
        "meta_add": {"community_links": ["https://example.com/alpha"], "trigger_words": ["alpha style", "a1"]},
        # Each single-valued field it changes, with the value it started from: another tab's save of one of them
        # meanwhile is a 409, not silently replaced.
        "if_unchanged": {"name": "alpha", "meta_json": {"description": "", "nsfw": False,
                                                        "prompts": {"positive": ""}}},
    }
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    await expect(page.get_by_test_id("details-save")).to_be_disabled()
    saved = await model(daemon, sha)
    assert saved["name"] == "Alpha Renamed"
    assert saved["tags"] == ["anime", "fresh", "realistic"]
    meta = saved["meta_json"]
    assert meta["notes"] == "kept"
    assert meta["prompts"] == {"positive": "masterpiece, alpha", "negative": "ugly"}
    assert meta["nsfw"] is True and meta["trigger_words"] == ["alpha style", "a1"]
    # After the save the new tags exist, so they are no longer marked new.
    await expect(chips.filter(has_text="anime")).not_to_have_attribute("data-new", "true")

    await page.reload()
    await expect(name).to_have_value("Alpha Renamed")
    await expect(page.get_by_test_id("details-title")).to_have_text("Alpha Renamed")
    await expect(chips.locator(".text")).to_have_text(["anime", "fresh", "realistic"])
    await expect(page.get_by_test_id("details-description")).to_have_value("A test model.\nTwo lines.")
    await expect(page.get_by_test_id("details-trigger-chip").locator(".text")).to_have_text(["alpha style", "a1"])
    await expect(page.get_by_test_id("details-nsfw")).to_be_checked()
    await expect(page.get_by_test_id("details-link")).to_have_value("https://example.com/alpha")
    link = page.get_by_test_id("details-panel").locator('a[href="https://example.com/alpha"]')
    await expect(link).to_have_attribute("target", "_blank")
    await expect(page.get_by_test_id("details-positive")).to_have_value("masterpiece, alpha")
    await expect(page.get_by_test_id("details-negative")).to_have_value("ugly")
    await expect(page.get_by_test_id("details-notes")).to_have_value("kept")

    # Revert drops edits; Ctrl+S saves from the keyboard.
    await page.get_by_test_id("details-notes").fill("changed")
    await page.get_by_test_id("details-revert").click()
    await expect(page.get_by_test_id("details-notes")).to_have_value("kept")
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    await page.get_by_test_id("details-notes").fill("by keyboard")
    await page.keyboard.press("Control+s")
    await poll(lambda: _meta_is(daemon, sha, "notes", "by keyboard"), "the Ctrl+S save")
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)


async def _meta_is(daemon: Daemon, sha: str, key: str, value: Any) -> bool:
    return (await model(daemon, sha))["meta_json"].get(key) == value


async def test_trigger_words_copy_to_the_clipboard(daemon: Daemon, page: Page, two: list[str]) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await daemon.call("PATCH", f"/api/models/{two[0]}", {"meta_json": {"trigger_words": ["one", "two words"]}})
    await page.goto(f"{daemon.url}/?model={two[0]}")
    await page.get_by_test_id("details-trigger-copy").click()
    await expect(page.get_by_test_id("toast").filter(has_text="Copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == "one, two words"


async def test_training_tags_are_shown_apart_and_one_click_makes_a_trigger_word(
    daemon: Daemon, page: Page, models: Path
) -> None:
    """A kohya LoRA with a Civitai sidecar: the sidecar's words are the trigger words "Copy all" copies, the
    captions sit read-only beside them with their counts, and + on one saves it as a trigger word."""
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    path = models / "loras" / "mychar.safetensors"
    path.with_name("mychar.civitai.info").write_text(json.dumps({"trainedWords": ["mychar"]}))
    frequency = {"10_mychar": {"1girl": 40, "solo": 30, "masterpiece": 12, "blue hair": 9},
                 "5_extra": {"1girl": 5, "mychar": 2}}
    path.write_bytes(safetensors_bytes({"lora_unet_x.lora_down.weight": [4, 4]},
                                       {"ss_tag_frequency": json.dumps(frequency)}))
    row = await daemon.wait_row(path)
    report = await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    assert not report["failed"] and not report["conflicts"], report
    sha = row["sha256"]
    await page.goto(f"{daemon.url}/?model={sha}")

    chips = page.get_by_test_id("details-trigger-chip").locator(".text")
    await expect(chips).to_have_text(["mychar"])
    section = page.get_by_test_id("details-training-tags")
    await expect(section.get_by_test_id("details-training-tag").locator(".tag")).to_have_text(
        ["1girl", "solo", "masterpiece", "blue hair", "mychar"])
    await expect(section.get_by_test_id("details-training-count")).to_have_text(["45", "30", "12", "9", "2"])
    promote = section.get_by_test_id("details-training-promote")
    await expect(promote.last).to_be_disabled()  # mychar is a trigger word already

    await page.get_by_test_id("details-trigger-copy").click()
    await expect(page.get_by_test_id("toast").filter(has_text="Copied.")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == "mychar"

    await promote.nth(3).click()
    await expect(chips).to_have_text(["mychar", "blue hair"])
    await expect(promote.nth(3)).to_be_disabled()
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await page.get_by_test_id("details-save").click()
    assert json.loads((await sent.value).post_data or "{}") == {"meta_add": {"trigger_words": ["blue hair"]}}
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    saved = await model(daemon, sha)
    assert saved["meta_json"]["trigger_words"] == ["mychar", "blue hair"]
    assert [t["tag"] for t in saved["training_tags"]] == ["1girl", "solo", "masterpiece", "blue hair", "mychar"]


async def test_images_upload_become_cover_and_delete_after_confirming(
    daemon: Daemon, page: Page, two: list[str], tmp_path: Path
) -> None:
    sha = two[0]
    await page.goto(f"{daemon.url}/?model={sha}")
    upload = page.get_by_test_id("gallery-upload-input")
    await expect(upload).to_have_attribute("accept", "image/png,image/jpeg,image/webp,image/gif")
    image = page.get_by_test_id("gallery-image")
    await expect(image).to_have_count(0)
    await shot(page, "details-panel-no-images")

    await upload.set_input_files(str(png(tmp_path / "red.png", (200, 30, 30))))
    await expect(image).to_be_visible()
    first = await poll(lambda: _images(daemon, sha, 1), "the first image")
    assert (await model(daemon, sha))["cover"] is not None
    await expect(image).to_have_attribute("data-seq", str(first[0]))
    await expect(page.get_by_test_id("gallery-cover-badge")).to_be_visible()
    await expect(page.get_by_test_id("gallery-set-cover")).to_be_disabled()
    await expect(page.get_by_test_id("gallery-open")).to_have_attribute("href", f"/api/images/{sha}/{first[0]}/high")
    await expect(page.get_by_test_id("gallery-open")).to_have_attribute("target", "_blank")

    await upload.set_input_files(str(png(tmp_path / "blue.png", (30, 30, 200), (60, 80))))
    seqs = await poll(lambda: _images(daemon, sha, 2), "the second image")
    second = seqs[1]
    await expect(image).to_have_attribute("data-seq", str(second))  # jumped to the new image
    await expect(page.get_by_test_id("gallery-cover-badge")).to_have_count(0)
    await page.get_by_test_id("gallery-set-cover").click()
    await poll(lambda: _cover_is(daemon, sha, second), "the cover to be the second image")
    await expect(page.get_by_test_id("gallery-cover-badge")).to_be_visible()

    # Arrows by button and by keyboard, wrapping around.
    await page.get_by_test_id("gallery-prev").click()
    await expect(image).to_have_attribute("data-seq", str(first[0]))
    await page.get_by_test_id("gallery-frame").focus()
    await page.keyboard.press("ArrowLeft")
    await expect(image).to_have_attribute("data-seq", str(second))
    await page.keyboard.press("ArrowRight")
    await expect(image).to_have_attribute("data-seq", str(first[0]))
    await page.get_by_test_id("gallery-next").click()
    await expect(image).to_have_attribute("data-seq", str(second))

    # What the daemon refuses is shown with its reason.
    await upload.set_input_files(str(_text_file(tmp_path / "notes.txt")))
    await expect(page.get_by_test_id("gallery-error")).to_contain_text("not an image")

    # Deleting asks first; cancelling keeps the image.
    await page.get_by_test_id("gallery-delete").click()
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("confirm-cancel").click()
    await expect(dialog).to_be_hidden()
    assert len(await _images(daemon, sha, 2)) == 2
    await page.get_by_test_id("gallery-delete").click()
    await page.get_by_test_id("confirm-ok").click()
    await poll(lambda: _images(daemon, sha, 1), "one image left")
    await expect(image).to_have_attribute("data-seq", str(first[0]))
    await expect(page.get_by_test_id("gallery-dot")).to_have_count(0)
    assert (await model(daemon, sha))["cover"]["high"].endswith(f"/{first[0]}/high")


# A PNG drawn in the page, handed over as the clipboard's or a drag's file.
MAKE_IMAGE_EVENT = """async ([type, selector]) => {
  const canvas = document.createElement('canvas');
  canvas.width = 12; canvas.height = 16;
  canvas.getContext('2d').fillRect(0, 0, 6, 8);
  const blob = await new Promise(resolve => canvas.toBlob(resolve, 'image/png'));
  const data = new DataTransfer();
  data.items.add(new File([blob], type + '.png', { type: 'image/png' }));
  const target = document.querySelector(selector);
  if (type === 'paste') {
    target.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  } else {
    for (const name of ['dragenter', 'dragover', 'drop']) {
      target.dispatchEvent(new DragEvent(name, { dataTransfer: data, bubbles: true, cancelable: true }));
    }
  }
}"""


async def test_images_arrive_by_paste_and_by_drop(daemon: Daemon, page: Page, two: list[str]) -> None:
    sha = two[0]
    await page.goto(f"{daemon.url}/?model={sha}")
    image = page.get_by_test_id("gallery-image")
    await expect(page.get_by_test_id("details-name")).to_have_value("alpha")

    # Pasted into a text field, an image is the field's business; anywhere else it is added.
    await page.evaluate(MAKE_IMAGE_EVENT, ["paste", "[data-testid=details-description]"])
    await page.evaluate(MAKE_IMAGE_EVENT, ["paste", "body"])
    (pasted,) = await poll(lambda: _images(daemon, sha, 1), "the pasted image")
    await expect(image).to_have_attribute("data-seq", str(pasted))

    await page.evaluate(MAKE_IMAGE_EVENT, ["drop", "[data-testid=gallery]"])
    seqs = await poll(lambda: _images(daemon, sha, 2), "the dropped image")
    await expect(image).to_have_attribute("data-seq", str(seqs[1]))
    await expect(page.get_by_test_id("gallery-dot")).to_have_count(2)
    assert len(await _images(daemon, sha, 2) or []) == 2


async def _images(daemon: Daemon, sha: str, count: int) -> list[int] | None:
    seqs = [i["seq"] for i in (await model(daemon, sha))["images"]]
    return seqs if len(seqs) == count else None


async def _cover_is(daemon: Daemon, sha: str, seq: int) -> bool:
    cover = (await model(daemon, sha))["cover"]
    return cover is not None and cover["high"].endswith(f"/{seq}/high")


def _text_file(path: Path) -> Path:
    path.write_text("not a picture")
    return path


async def test_unsaved_edits_are_guarded_when_leaving_the_model(daemon: Daemon, page: Page, two: list[str]) -> None:
    alpha, beta = two
    await page.goto(f"{daemon.url}/?model={alpha}")
    name = page.get_by_test_id("details-name")
    await expect(name).to_have_value("alpha")
    await navigate(page, {"model": beta})
    await expect(name).to_have_value("beta")

    await name.fill("beta edited")
    dialog = page.get_by_test_id("confirm-dialog")
    await navigate(page, {"model": alpha})
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("confirm-cancel").click()  # keep editing
    await expect(dialog).to_be_hidden()
    await expect(name).to_have_value("beta edited")
    await expect(page).to_have_url(f"{daemon.url}/?model={beta}")

    # The back button is guarded the same way.
    await page.go_back()
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Keep editing")
    await page.get_by_test_id("confirm-cancel").click()
    await expect(name).to_have_value("beta edited")
    await expect(page.get_by_test_id("details-dirty")).to_be_visible()

    await page.go_back()
    await expect(dialog).to_be_visible()
    await page.get_by_test_id("confirm-ok").click()  # discard
    await expect(name).to_have_value("alpha")
    await expect(page).to_have_url(f"{daemon.url}/?model={alpha}")
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    assert (await model(daemon, beta))["name"] == "beta"

    # Without edits, moving on asks nothing.
    await navigate(page, {"model": beta})
    await expect(name).to_have_value("beta")
    await expect(dialog).to_be_hidden()


async def test_the_daemons_refusal_is_shown_and_the_edits_are_kept(daemon: Daemon, page: Page,
                                                                    two: list[str]) -> None:
    sha = two[0]
    await page.goto(f"{daemon.url}/?model={sha}")
    await page.get_by_test_id("details-name").fill("still here")
    await page.get_by_test_id("details-description").fill("also still here")
    tags = page.get_by_test_id("details-tags-input")
    await tags.fill("x" * 65)
    await tags.press("Enter")
    await page.get_by_test_id("details-save").click()

    error = page.get_by_test_id("details-error")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("a tag name must be 1 to 64 characters")
    await expect(page.get_by_test_id("toast").filter(has_text="1 to 64 characters")).to_be_visible()
    await expect(page.get_by_test_id("details-name")).to_have_value("still here")
    await expect(page.get_by_test_id("details-description")).to_have_value("also still here")
    await expect(page.get_by_test_id("details-tag-chip")).to_have_count(1)
    await expect(page.get_by_test_id("details-dirty")).to_be_visible()
    await expect(page.get_by_test_id("details-save")).to_be_enabled()
    assert (await model(daemon, sha))["name"] == "alpha"

    # Fixing the tag lets the same edits through.
    await tags.focus()
    await tags.press("Backspace")
    await page.get_by_test_id("details-save").click()
    await expect(page.get_by_test_id("details-error")).to_have_count(0)
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    saved = await model(daemon, sha)
    assert saved["name"] == "still here" and saved["meta_json"]["description"] == "also still here"


async def test_a_field_another_tab_saved_meanwhile_is_shown_and_can_be_saved_over(
    daemon: Daemon, page: Page, two: list[str]
) -> None:
    sha = two[0]
    await daemon.call("PATCH", f"/api/models/{sha}", {"meta_json": {"description": "start", "notes": "n0"}})
    await page.goto(f"{daemon.url}/?model={sha}")
    await expect(page.get_by_test_id("details-description")).to_have_value("start")
    await page.get_by_test_id("details-description").fill("mine")
    await page.get_by_test_id("details-notes").fill("my notes")
    tags = page.get_by_test_id("details-tags-input")
    await tags.fill("mytag")
    await tags.press("Enter")
    # Another tab saves the description, and a tag of its own.
    await daemon.call("PATCH", f"/api/models/{sha}", {"meta_json": {"description": "theirs"},
                                                      "tags_add": ["theirtag"]})
    await page.get_by_test_id("details-save").click()

    conflict = page.get_by_test_id("details-conflict")
    await expect(conflict).to_be_visible()
    await expect(conflict.get_by_test_id("details-conflict-field")).to_have_text(["Description"])
    await expect(conflict.get_by_test_id("details-conflict-theirs")).to_have_text(["theirs"])
    await expect(page.get_by_test_id("details-description")).to_have_value("mine")
    await expect(page.get_by_test_id("details-notes")).to_have_value("my notes")
    await expect(page.get_by_test_id("details-dirty")).to_be_visible()
    stored = await model(daemon, sha)
    assert stored["meta_json"]["description"] == "theirs" and stored["meta_json"]["notes"] == "n0"
    assert stored["tags"] == ["theirtag"]

    await page.get_by_test_id("details-overwrite").click()
    await expect(page.get_by_test_id("details-conflict")).to_have_count(0)
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    saved = await model(daemon, sha)
    assert saved["meta_json"]["description"] == "mine" and saved["meta_json"]["notes"] == "my notes"
    assert saved["tags"] == ["mytag", "theirtag"]
    await expect(page.get_by_test_id("details-tag-chip").locator(".text")).to_have_text(["mytag", "theirtag"])


async def test_empty_deleted_and_removed_models(daemon: Daemon, page: Page, two: list[str]) -> None:
    alpha, beta = two
    await page.goto(daemon.url + "/")
    # Nothing chosen: no details column takes width from the list.
    await expect(page.get_by_test_id("details-panel")).to_be_hidden()

    # A model deleted elsewhere while shown: the panel says so.
    await page.goto(f"{daemon.url}/?model={beta}")
    await expect(page.get_by_test_id("details-name")).to_have_value("beta")
    await daemon.call("DELETE", f"/api/models/{beta}")
    await expect(page.get_by_test_id("details-gone")).to_be_visible()

    # Removing from the panel asks, offers to ignore the file, and clears the selection.
    await page.goto(f"{daemon.url}/?model={alpha}")
    await page.get_by_test_id("details-remove").click()
    await expect(page.get_by_test_id("confirm-dialog")).to_be_visible()
    await page.get_by_test_id("confirm-checkbox").check()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("details-panel")).to_be_hidden()
    await expect(page).to_have_url(daemon.url + "/")
    await daemon.call("GET", f"/api/models/{alpha}", expect=404)
    ignored = await daemon.pending(status="ignored")
    assert [Path(r["path"]).name for r in ignored] == ["alpha.safetensors"]


async def test_screenshot_of_a_filled_in_panel(daemon: Daemon, page: Page, models: Path, tmp_path: Path) -> None:
    path = models / "loras" / "detailed.safetensors"
    metadata = {"ss_network_dim": "8", "ss_base_model_version": "sdxl_base_v1-0",
                "ss_tag_frequency": json.dumps({"watercolor": {"soft light": 3, "paper": 1}})}
    path.write_bytes(safetensors_bytes({"lora_up.weight": [4, 8]}, metadata))
    row = await daemon.wait_row(path)
    sha = row["sha256"]
    await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    await daemon.call("PATCH", f"/api/models/{sha}", {
        "name": "Detailed Style LoRA",
        "tags": ["style", "sdxl", "watercolor"],
        "meta_json": {
            "description": "Soft watercolor look. Works best at 0.6-0.8 strength.",
            "community_links": ["https://civitai.com/models/12345"],
            "prompts": {"positive": "watercolor, soft light", "negative": "lowres, jpeg artifacts"},
            "trigger_words": ["wtrclr", "soft wash"],
        },
    })
    form = aiohttp.FormData()
    form.add_field("image", png(tmp_path / "cover.png", (90, 130, 170), (300, 400)).read_bytes(),
                   filename="cover.png", content_type="image/png")
    status, _ = await daemon.request("POST", f"/api/models/{sha}/images", data=form)
    assert status == 201
    await page.goto(f"{daemon.url}/?model={sha}")
    await expect(page.get_by_test_id("gallery-image")).to_be_visible()
    await page.get_by_test_id("details-tags-input").press_sequentially("new-one,")
    await page.get_by_test_id("details-header-table").locator("summary").click()
    await expect(page.get_by_test_id("details-dirty")).to_be_visible()
    scroller = page.get_by_test_id("details-scroll")
    await scroller.evaluate("el => { el.scrollTop = 0; }")
    await shot(page, "details-panel")
    await scroller.evaluate("el => { el.scrollTop = el.scrollHeight; }")
    await shot(page, "details-panel-bottom")
    await page.get_by_test_id("language").select_option("zh-CN")
    await expect(page.get_by_test_id("details-save")).to_have_text("保存")
    await scroller.evaluate("el => { el.scrollTop = 0; }")
    await shot(page, "details-panel-zh")
