"""Civitai's HTML descriptions in real Chromium: rendered as sanitised rich text in the details, the inbox's pending
details and the conflict dialog (no script runs, no event handler stays, no remote image loads before the user asks,
links open in a new tab without an opener), and edited as HTML source that keeps what the user did not touch."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.async_api import Locator, Page, Request, Route, expect
from realistic_library import HTML_DESCRIPTION

from browser import shot
from conftest import Daemon, poll, write_model

WAIT = 20_000
REMOTE = "https://image.civitai.com/**"
DESCRIPTION = HTML_DESCRIPTION.format(id=77)


def png_bytes(color: tuple[int, int, int] = (200, 40, 90)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(out, "PNG")
    return out.getvalue()


def with_sidecar(path: Path, seed: bytes, description: str = DESCRIPTION) -> Path:
    """A LoRA with a Civitai sidecar carrying `description`; the sidecar is written first, so hashing sees it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name.removesuffix(".safetensors")
    path.with_name(f"{stem}.civitai.info").write_text(json.dumps({
        "id": 77, "modelId": 77, "baseModel": "SDXL 1.0", "description": description,
        "trainedWords": ["inkwash"], "model": {"name": stem, "tags": ["style"]}}))
    return write_model(path, seed=seed)


async def watch_remote(page: Page) -> list[str]:
    """Every request the page makes to Civitai's image host, answered locally with a small PNG."""
    asked: list[str] = []

    async def answer(route: Route) -> None:
        await route.fulfill(status=200, content_type="image/png", body=png_bytes())

    def seen(request: Request) -> None:
        if "image.civitai.com" in request.url:
            asked.append(request.url)

    page.on("request", seen)
    await page.route(REMOTE, answer)
    return asked


async def assert_safe_and_formatted(page: Page, text: Locator, asked: list[str]) -> None:
    await expect(text).to_have_attribute("data-format", "html")
    await expect(text.locator("b")).to_have_text("0.6-0.9")
    await expect(text.locator("i")).to_have_text("clip skip 2")
    await expect(text).to_contain_text("More notes")
    await expect(text).not_to_contain_text("<p>")
    assert await text.locator("script, [onclick]").count() == 0
    link = text.get_by_role("link", name="the page")
    await expect(link).to_have_attribute("href", "https://civitai.com/models/77")
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await text.get_by_text("More").click()  # the stripped onclick would have set it
    assert await page.evaluate("typeof window.hacked") == "undefined"
    button = text.get_by_test_id("richtext-image")
    await expect(button).to_have_text("Show image from image.civitai.com")
    assert await text.locator("img").count() == 0
    assert asked == []


async def reveal_image(page: Page, text: Locator, asked: list[str]) -> None:
    async with page.expect_request("https://image.civitai.com/remote/77.jpeg"):
        await text.get_by_test_id("richtext-image").click()
    image = text.locator("img")
    await expect(image).to_have_attribute("src", "https://image.civitai.com/remote/77.jpeg")
    await expect(image).to_have_js_property("complete", True)
    await expect(text.get_by_test_id("richtext-image")).to_have_count(0)
    assert asked == ["https://image.civitai.com/remote/77.jpeg"]


async def imported(daemon: Daemon, path: Path) -> dict[str, Any]:
    row = await daemon.wait_row(path)
    report = await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    assert [i["id"] for i in report["imported"]] == [row["id"]], report
    return row


async def test_details_show_the_description_formatted_and_safe(daemon: Daemon, models: Path, page: Page) -> None:
    row = await imported(daemon, with_sidecar(models / "loras" / "inkwash.safetensors", b"ink"))
    asked = await watch_remote(page)
    for width, height in ((390, 844), (768, 1024), (1440, 900)):
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(f"{daemon.url}/?model={row['sha256']}")
        view = page.get_by_test_id("details-description-view")
        await assert_safe_and_formatted(page, view, asked)
        await expect(page.get_by_test_id("details-description")).to_have_count(0)
        await expect(page.get_by_test_id("details-description-formatted")).to_have_attribute("aria-pressed", "true")
        box = await view.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
        await shot(page, f"richtext-details-{width}")
    await reveal_image(page, page.get_by_test_id("details-description-view"), asked)


async def test_editing_the_source_keeps_the_formatting_the_user_did_not_touch(daemon: Daemon, models: Path,
                                                                              page: Page) -> None:
    row = await imported(daemon, with_sidecar(models / "loras" / "inkwash.safetensors", b"ink"))
    stored = (await daemon.get(f"/api/models/{row['sha256']}"))["meta_json"]["description"]
    assert stored == DESCRIPTION
    asked = await watch_remote(page)
    await page.goto(f"{daemon.url}/?model={row['sha256']}")
    await page.get_by_test_id("details-description-source").click()
    source = page.get_by_test_id("details-description")
    await expect(source).to_have_value(DESCRIPTION)
    edited = DESCRIPTION.replace("clip skip 2", "clip skip 1")
    await source.fill(edited)
    # The edit previews formatted before it is saved.
    await page.get_by_test_id("details-description-formatted").click()
    await expect(page.get_by_test_id("details-description-view").locator("i")).to_have_text("clip skip 1")
    await page.get_by_test_id("details-save").click()
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)

    async def saved() -> str | None:
        description = (await daemon.get(f"/api/models/{row['sha256']}"))["meta_json"]["description"]
        return description if description != DESCRIPTION else None

    # Byte for byte: the link, the image, even the hostile parts stay as the user left them.
    assert await poll(saved, "the edit to be saved") == edited
    await page.reload()
    await expect(page.get_by_test_id("details-description-view").locator("i")).to_have_text("clip skip 1")
    assert asked == []
    assert await page.evaluate("typeof window.hacked") == "undefined"


async def test_a_plain_description_stays_text_with_its_line_breaks(daemon: Daemon, models: Path, page: Page) -> None:
    path = with_sidecar(models / "loras" / "plain.safetensors", b"plain", "Line one\nadd <lora:plain:0.8>")
    row = await daemon.wait_row(path)
    await page.goto(f"{daemon.url}/?mode=inbox&pending={row['id']}")
    text = page.get_by_test_id("pending-description").get_by_test_id("richtext")
    await expect(text).to_have_attribute("data-format", "text")
    assert await text.inner_text() == "Line one\nadd <lora:plain:0.8>"
    await daemon.call("POST", "/api/pending/import", {"ids": [row["id"]]})
    await page.goto(f"{daemon.url}/?model={row['sha256']}")
    await expect(page.get_by_test_id("details-description")).to_have_value("Line one\nadd <lora:plain:0.8>")
    await expect(page.get_by_test_id("details-description-formatted")).to_have_count(0)


async def test_pending_details_show_the_description_formatted_and_safe(daemon: Daemon, models: Path,
                                                                       page: Page) -> None:
    row = await daemon.wait_row(with_sidecar(models / "loras" / "waiting.safetensors", b"wait"))
    asked = await watch_remote(page)
    await page.set_viewport_size({"width": 1440, "height": 900})
    await page.goto(f"{daemon.url}/?mode=inbox&pending={row['id']}")
    text = page.get_by_test_id("pending-description").get_by_test_id("richtext")
    await assert_safe_and_formatted(page, text, asked)
    await shot(page, "richtext-pending-1440")
    await reveal_image(page, text, asked)


async def test_the_conflict_dialog_shows_the_description_formatted_and_safe(daemon: Daemon, models: Path,
                                                                            page: Page) -> None:
    await imported(daemon, write_model(models / "loras" / "orig.safetensors", seed=b"same"))
    asked = await watch_remote(page)
    await page.goto(f"{daemon.url}/?mode=inbox")
    with_sidecar(models / "checkpoints" / "twin.safetensors", b"same")
    row = page.get_by_test_id("inbox-row").filter(has_text="twin.safetensors")
    await expect(row).to_have_attribute("data-status", "conflict", timeout=WAIT)
    await row.get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    dialog = page.get_by_test_id("conflict-dialog")
    text = dialog.locator("[data-side=pending]").get_by_test_id("richtext")
    await assert_safe_and_formatted(page, text, asked)
    await expect(dialog.locator("[data-side=existing] .desc")).to_have_text("—")
    await reveal_image(page, text, asked)
    await dialog.get_by_test_id("conflict-cancel").click()
    await expect(dialog).to_be_hidden()
