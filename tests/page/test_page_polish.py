"""Issue 14 item 7 (and the rest of items 3 and 4), the small things a new user trips over: the page asks for nothing
that is gone (no 404 in the console after importing the open row or removing the open model), tabs are named in the
page's language and count what their list shows, the inbox's way back names the library's size, not the queue's,
one inbox filter looks chosen at a time, sidecar tags are marked and a pending file shows its training tags."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.async_api import ConsoleMessage, Page, Response, expect
from realistic_library import Library

from browser import shot
from conftest import Daemon, write_model

WAIT = 20_000


def record_failures(page: Page) -> list[str]:
    """Every answer of 400 or more and every console error or warning, as text, from now on."""
    failures: list[str] = []

    def answered(r: Response) -> None:
        if r.status >= 400:
            failures.append(f"{r.status} {r.request.method} {r.url}")

    def logged(m: ConsoleMessage) -> None:
        if m.type in ("error", "warning"):
            failures.append(f"console {m.type}: {m.text}")

    page.on("response", answered)
    page.on("console", logged)
    return failures


async def test_importing_the_open_row_and_removing_the_open_model_ask_for_nothing_gone(
        daemon: Daemon, models: Path, page: Page) -> None:
    await daemon.wait_idle()
    await page.goto(f"{daemon.url}/?mode=inbox")
    write_model(models / "loras" / "fresh.safetensors")
    row = page.get_by_test_id("inbox-row").filter(has_text="fresh")
    await expect(row).to_have_attribute("data-status", "ready", timeout=WAIT)
    failures = record_failures(page)
    await row.click()
    await expect(page.get_by_test_id("pending-details")).to_contain_text("fresh.safetensors")
    await row.get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    await page.get_by_test_id("import-report-close").click()
    await expect(page.get_by_test_id("pending-details-gone")).to_be_visible()

    (model,) = (await daemon.get("/api/models"))["models"]
    await page.goto(f"{daemon.url}/?model={model['sha256']}")
    await expect(page.get_by_test_id("details-name")).to_have_value("fresh")
    await page.get_by_test_id("details-remove").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("details-panel")).to_be_hidden()
    # The library reloads after the removal; once it shows the empty library every read has answered.
    await expect(page.get_by_test_id("library-empty")).to_be_visible()
    await expect(page.get_by_test_id("tab-all")).to_contain_text("0")
    assert failures == []


async def test_tabs_are_named_in_the_pages_language_and_count_what_their_list_shows(
        daemon_factory, tmp_path: Path, page: Page) -> None:
    models = tmp_path / "models"
    for folder in ("loras", "upscale_models", "my_custom_things"):
        (models / folder).mkdir(parents=True)
    d: Daemon = await daemon_factory("--models-root", str(models))
    shas = await d.import_files(write_model(models / "loras" / "a.safetensors"),
                                write_model(models / "loras" / "b.safetensors"),
                                write_model(models / "upscale_models" / "x4.pth"),
                                write_model(models / "my_custom_things" / "odd.safetensors"))
    await d.call("PATCH", f"/api/models/{shas[1]}", {"tags": ["nsfw"]})
    await page.goto(d.url + "/")
    tabs = page.get_by_test_id("type-tabs")
    # NSFW models are hidden by default, and so left out of the counts.
    await expect(page.get_by_test_id("tab-loras")).to_have_text(re.compile(r"^\s*LoRAs\s+1\s*$"))
    await expect(page.get_by_test_id("tab-all")).to_contain_text("3")
    await expect(page.get_by_test_id("tab-upscale_models")).to_have_text(re.compile(r"^\s*Upscalers\s+1\s*$"))
    await expect(page.get_by_test_id("tab-my_custom_things")).to_have_text(re.compile(r"^\s*My custom things\s+1\s*$"))
    await page.get_by_test_id("nsfw-mode").select_option("show")
    await expect(page.get_by_test_id("tab-loras")).to_contain_text("2")
    await expect(page.get_by_test_id("tab-all")).to_contain_text("4")
    await page.get_by_test_id("language").select_option("zh-CN")
    await expect(page.get_by_test_id("tab-upscale_models")).to_contain_text("放大模型")
    await expect(page.get_by_test_id("tab-checkpoints")).to_have_count(0)
    await expect(tabs).not_to_contain_text("upscale_models")


async def test_the_way_back_from_the_inbox_names_the_librarys_size(daemon: Daemon, models: Path, page: Page) -> None:
    await daemon.import_files(write_model(models / "loras" / "kept.safetensors"))
    await daemon.wait_row(write_model(models / "loras" / "waiting.safetensors"))
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("pending-count")).to_have_text("1")
    await page.get_by_test_id("pending-toggle").click()
    toggle = page.get_by_test_id("pending-toggle")
    await expect(toggle).to_have_text(re.compile(r"^\s*Library\s+1\s*$"))
    await expect(toggle.get_by_test_id("pending-count")).to_have_count(0)
    await expect(toggle.get_by_test_id("library-total")).to_have_text("1")


async def test_sidecar_tags_are_marked_and_a_pending_file_shows_its_training_tags(
        realistic: tuple[Daemon, Library], page: Page) -> None:
    d, lib = realistic
    listing = (await d.get("/api/models?limit=500&hide_nsfw=false"))["models"]
    by_path = {m["file_name"]: m["sha256"] for m in listing}
    sha = by_path[lib.with_sidecar[1].name]
    await d.call("PATCH", f"/api/models/{sha}", {"tags_add": ["mine"]})
    await page.goto(f"{d.url}/?model={sha}")
    chips = page.get_by_test_id("details-tag-chip")
    await expect(chips).to_have_count(3)
    # The sidecar's tags say where they came from; the one the user added does not.
    await expect(chips.filter(has_text="character").get_by_test_id("chip-source")).to_be_visible()
    await expect(chips.filter(has_text="mine").get_by_test_id("chip-source")).to_have_count(0)
    await shot(page, "details-sidecar-tags")

    _, copy = lib.copies[0]
    (row,) = [r for r in await d.pending() if r["path"] == str(copy)]
    await page.goto(f"{d.url}/?mode=inbox&pending={row['id']}")
    training = page.get_by_test_id("pending-details").get_by_test_id("details-training-tag")
    await expect(training.first).to_contain_text("1girl")
    await expect(training.filter(has_text="1girl").get_by_test_id("details-training-count")).to_have_text("120")
    # A pending file is not edited: its training tags are only shown.
    await expect(page.get_by_test_id("details-training-promote")).to_have_count(0)


async def test_one_inbox_filter_looks_chosen(realistic: tuple[Daemon, Library], page: Page) -> None:
    d, _ = realistic
    await page.goto(f"{d.url}/?mode=inbox")
    pills = page.locator("[data-testid^='inbox-filter-']")
    for chosen in ("conflicts", "ready", "active"):
        await page.get_by_test_id(f"inbox-filter-{chosen}").click()
        await expect(page.get_by_test_id(f"inbox-filter-{chosen}")).to_have_attribute("aria-pressed", "true")
        # Only the chosen pill is filled. (The Active pill used to carry the class `active` whichever was chosen.)
        filled = await pills.evaluate_all("ps => ps.filter(p => getComputedStyle(p).backgroundColor "
                                          "!== 'rgba(0, 0, 0, 0)').map(p => p.dataset.testid)")
        assert filled == [f"inbox-filter-{chosen}"], chosen
