"""What ComfyUI used, in real Chromium: the library sorted by last and most used (the cards say how often and how
lately), the "unused for" filter with the size of what it lists (ready choices and a custom number of days, in the
URL), the details' line about a model's use kept live by the event stream, and all of it on a phone."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from playwright.async_api import Page, expect

from browser import shot
from conftest import Daemon, write_model

DAY = 86400
SIZE = 3000  # bytes of each file: two of them are 5.86 KiB


def cards(page: Page):
    return page.get_by_test_id("model-card")


async def names(page: Page) -> list[str]:
    return [await c.get_attribute("aria-label") or "" for c in await cards(page).all()]


async def used_library(daemon: Daemon, models: Path) -> dict[str, str]:
    """Four LoRAs: `busy` used 3 times (2 days ago), `stale` once 45 days ago, `idle` never; all three in the
    library for 100 days. `fresh`, imported today, never used."""
    paths = {name: write_model(models / "loras" / f"{name}.safetensors", SIZE) for name in ("busy", "stale", "idle",
                                                                                            "fresh")}
    shas = dict(zip(paths, await daemon.import_files(*paths.values()), strict=True))
    now = time.time()
    for name in ("busy", "stale", "idle"):
        await daemon.db.rows("UPDATE models SET created_at = ? WHERE sha256 = ?", now - 100 * DAY, shas[name])
    uses = [{"id": f"page-busy-{i}", "at": now - 2 * DAY - i, "kind": "loras", "path": str(paths["busy"]),
             "sha256": None, "node": "LoraLoader"} for i in range(3)]
    uses.append({"id": "page-stale-1", "at": now - 45 * DAY, "kind": "loras", "path": "", "sha256": shas["stale"],
                 "node": "HikazeLoraPowerLoader"})
    assert await daemon.call("POST", "/api/usage", {"uses": uses}) == {"counted": 4, "repeated": 0, "unknown": 0}
    return shas


async def test_usage_sorts_the_unused_filter_and_the_details(daemon: Daemon, models: Path, page: Page) -> None:
    shas = await used_library(daemon, models)
    await page.goto(f"{daemon.url}/?type=loras")
    await expect(cards(page)).to_have_count(4)

    await page.get_by_test_id("sort").select_option("most_used")
    assert parse_qs(urlparse(page.url).query)["sort"] == ["most_used"]
    await expect(cards(page).first).to_have_attribute("aria-label", "busy")
    assert (await names(page))[:2] == ["busy", "stale"]
    await expect(cards(page).first.get_by_test_id("card-usage")).to_have_text("3× · 2 days ago")
    await expect(page.locator('[aria-label="idle"] [data-testid="card-usage"]')).to_have_text("Never used")
    await page.get_by_test_id("sort").select_option("last_used")
    await expect(cards(page).nth(1)).to_have_attribute("aria-label", "stale")

    # Unused for 30 days: `stale` and `idle`, not `busy` (used) nor `fresh` (new), with what they take.
    await page.get_by_test_id("unused-filter").select_option("30")
    assert parse_qs(urlparse(page.url).query)["unused"] == ["30"]
    await expect(page.get_by_test_id("library-count")).to_have_text(f"2 models, {2 * SIZE / 1024:.2f} KiB")
    assert sorted(await names(page)) == ["idle", "stale"]
    # A custom number of days: 60 leaves `idle` alone.
    await page.get_by_test_id("unused-filter").select_option("custom")
    box = page.get_by_test_id("unused-days")
    await box.fill("60")
    await box.press("Enter")
    await expect(page.get_by_test_id("library-count")).to_have_text(f"1 model, {SIZE / 1024:.2f} KiB")
    assert parse_qs(urlparse(page.url).query)["unused"] == ["60"]
    await page.reload()
    await expect(page.get_by_test_id("unused-days")).to_have_value("60")
    await expect(cards(page)).to_have_count(1)
    await shot(page, "wide-unused-filter")

    # The details say how the model was used, and hear of the next use at once.
    await page.goto(f"{daemon.url}/?type=loras&sort=most_used&model={shas['busy']}")
    usage = page.get_by_test_id("details-usage")
    await expect(usage).to_have_text("Used 3 times, last 2 days ago")
    await daemon.call("POST", "/api/usage", {"uses": [{"id": "page-busy-live", "at": time.time(), "kind": "loras",
                                                       "path": "", "sha256": shas["busy"], "node": "LoraLoader"}]})
    await expect(usage).to_have_text("Used 4 times, last now")
    await expect(cards(page).first.get_by_test_id("card-usage")).to_have_text("4× · now")
    await page.goto(f"{daemon.url}/?type=loras&model={shas['fresh']}")
    await expect(page.get_by_test_id("details-usage")).to_have_text("Never used")


async def test_the_usage_controls_on_a_phone(daemon: Daemon, models: Path, page: Page) -> None:
    await used_library(daemon, models)
    await page.set_viewport_size({"width": 360, "height": 780})
    await page.goto(f"{daemon.url}/?type=loras&sort=last_used&unused=44")
    await expect(page.get_by_test_id("library-count")).to_have_text(f"2 models, {2 * SIZE / 1024:.2f} KiB")
    await expect(page.get_by_test_id("library-filters-active")).to_have_text("1")
    await page.get_by_test_id("library-filters-toggle").click()
    for control in ("unused-filter", "unused-days", "sort"):
        await expect(page.get_by_test_id(control)).to_be_in_viewport()
    await expect(page.get_by_test_id("unused-days")).to_have_value("44")
    wide = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
    assert wide <= 0, f"the page overflows sideways by {wide}px"
    await shot(page, "phone-unused-filter")
    await page.get_by_test_id("unused-filter").select_option("")
    await expect(page.get_by_test_id("library-count")).to_have_text("4 models")
    assert "unused" not in parse_qs(urlparse(page.url).query)


async def test_select_all_by_unused_reaches_what_the_page_listed(daemon: Daemon, models: Path, page: Page) -> None:
    shas = await used_library(daemon, models)
    async with page.expect_response(lambda r: "/api/models?" in r.url and "unused_days=30" in r.url) as first:
        await page.goto(f"{daemon.url}/?type=loras&unused=30")
    cut = (await (await first.value).json())["unused_before"]
    await expect(cards(page)).to_have_count(2)
    await cards(page).first.click(modifiers=["ControlOrMeta"])
    await page.get_by_test_id("bulk-select-all").click()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("2 selected")
    # `stale` is used now: the page hears it and lists again by the cut-off it was given, which leaves it out.
    async with page.expect_request(lambda r: "/api/models?" in r.url and "unused_before=" in r.url) as again:
        await daemon.call("POST", "/api/usage", {"uses": [{"id": "page-stale-now", "at": time.time(),
                                                           "kind": "loras", "path": "", "sha256": shas["stale"],
                                                           "node": "LoraLoader"}]})
    assert "unused_days" not in (await again.value).url
    await expect(cards(page)).to_have_count(1)
    await expect(page.get_by_test_id("library-count")).to_have_text(f"1 model, {SIZE / 1024:.2f} KiB")

    await page.get_by_test_id("bulk-tags").fill("listed")
    async with page.expect_request("**/api/models/bulk") as sent:
        await page.get_by_test_id("bulk-add-tags").click()
    chosen = (await sent.value).post_data_json["filter"]
    assert "unused_days" not in chosen and float(chosen["unused_before"]) == cut, chosen
    await expect(page.get_by_test_id("bulk-report")).to_contain_text("1 done, 0 failed")
    tagged = {name: "listed" in (await daemon.get(f"/api/models/{sha}"))["tags"] for name, sha in shas.items()}
    assert tagged == {"busy": False, "stale": False, "idle": True, "fresh": False}
