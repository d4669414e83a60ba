"""The library page in real Chromium against the real daemon: filters, search, the NSFW default, the URL,
and the virtualised grid on a generated library of 100,000 models."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, quote, urlparse

import pytest
from playwright.async_api import Page, Route, expect

from browser import answer_picker, open_picker, received, shot
from conftest import DEADLINE_S, Daemon, Databases, poll, write_model

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from library_scale import generate

DaemonFactory = Callable[..., Awaitable[Daemon]]


async def generated_daemon(daemon_factory: DaemonFactory, databases: Databases, tmp_path: Path,
                           count: int) -> Daemon:
    data = tmp_path / f"library-{count}"
    data.mkdir()
    await databases.filled(data, lambda file: asyncio.to_thread(generate, file, count, 11, ()))
    (tmp_path / "empty-root").mkdir()
    return await daemon_factory("--models-root", str(tmp_path / "empty-root"), data_dir=data)


async def card_names(page: Page) -> list[str]:
    return await page.get_by_test_id("model-card").evaluate_all("cards => cards.map(c => c.getAttribute('aria-label'))")


@pytest.fixture
async def tagged(daemon: Daemon, models: Path) -> dict[str, str]:
    """Four small models: plain, tagged `NSFW`, flagged NSFW, and one tagged anime + style."""
    names = ("plain", "tagged", "flagged", "anime")
    shas = await daemon.import_files(*(write_model(models / "loras" / f"{n}.safetensors") for n in names))
    by_name = dict(zip(names, shas, strict=True))
    await daemon.call("PATCH", f"/api/models/{by_name['tagged']}", {"tags": ["NSFW", "anime"]})
    await daemon.call("PATCH", f"/api/models/{by_name['flagged']}", {"meta_json": {"nsfw": True}})
    await daemon.call("PATCH", f"/api/models/{by_name['anime']}", {"tags": ["anime", "style"]})
    await daemon.call("PATCH", f"/api/models/{by_name['plain']}", {"tags": ["style"]})
    return by_name


async def test_nsfw_models_are_hidden_until_the_user_shows_them(daemon: Daemon, page: Page,
                                                                  tagged: dict[str, str]) -> None:
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("library-count")).to_have_text("2 models")
    assert sorted(await card_names(page)) == ["anime", "plain"]
    await page.get_by_test_id("nsfw-mode").select_option("show")
    await expect(page.get_by_test_id("library-count")).to_have_text("4 models")
    await page.reload()
    await expect(page.get_by_test_id("library-count")).to_have_text("4 models")
    assert sorted(await card_names(page)) == ["anime", "flagged", "plain", "tagged"]
    await expect(page.locator(f'[data-sha="{tagged["flagged"]}"]').get_by_text("NSFW")).to_be_visible()


async def test_tag_filter_cycles_include_exclude_off_and_the_url_keeps_it(daemon: Daemon, page: Page,
                                                                           tagged: dict[str, str]) -> None:
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("library-count")).to_have_text("2 models")
    await page.get_by_test_id("tag-filter-button").click()
    options = page.get_by_test_id("tag-option")
    # Tags of the shown models, by count: style is on both, anime on one; nsfw is hidden with its models.
    await expect(options).to_have_count(2)
    labels = await options.evaluate_all("os => os.map(o => o.dataset.tag + ':' + o.lastElementChild.textContent)")
    assert labels == ["style:2", "anime:1"]
    anime = page.locator('[data-testid="tag-option"][data-tag="anime"]')
    await anime.click()
    await expect(anime).to_have_attribute("data-state", "include")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    assert await card_names(page) == ["anime"]
    assert "tags=anime" in page.url
    await anime.click()
    await expect(anime).to_have_attribute("data-state", "exclude")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    assert await card_names(page) == ["plain"]
    assert "not=anime" in page.url and "tags=" not in page.url
    await shot(page, "library-tag-filter")
    await page.reload()
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    assert await card_names(page) == ["plain"]
    await page.go_back()
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    assert await card_names(page) == ["anime"]
    await page.get_by_test_id("tag-filter-button").click()
    await page.locator('[data-testid="tag-option"][data-tag="anime"]').click()
    await page.locator('[data-testid="tag-option"][data-tag="anime"]').click()
    await expect(page.get_by_test_id("library-count")).to_have_text("2 models")


async def test_popups_give_focus_back_and_cards_are_buttons_in_a_list(daemon: Daemon, page: Page,
                                                                      tagged: dict[str, str]) -> None:
    await page.goto(daemon.url + "/")
    # A card keeps its button role inside a list item (a button posing as the list item was read as text).
    plain = page.get_by_role("listitem").get_by_role("button", name="plain", exact=True)
    await expect(plain).to_have_count(1)

    tags = page.get_by_test_id("tag-filter-button")
    await tags.click()
    await expect(page.get_by_test_id("tag-filter-panel")).to_be_visible()
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("tag-filter-panel")).to_be_hidden()
    await expect(tags).to_be_focused()

    await plain.click()
    remove = page.get_by_test_id("details-remove")
    await remove.click()
    await expect(page.get_by_test_id("confirm-ok")).to_be_focused()
    await page.keyboard.press("Escape")
    await expect(page.get_by_test_id("confirm-dialog")).to_be_hidden()
    await expect(remove).to_be_focused()


async def test_search_asks_the_server_and_selecting_a_model_is_in_the_url(daemon: Daemon, page: Page,
                                                                           tagged: dict[str, str]) -> None:
    await page.goto(daemon.url + "/")
    async with page.expect_response(lambda r: "/api/models?" in r.url and "q=plai" in r.url):
        await page.get_by_test_id("search").fill("plai")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    await page.get_by_test_id("model-card").first.click()
    assert f"model={tagged['plain']}" in page.url and "q=plai" in page.url
    await page.reload()
    await expect(page.get_by_test_id("search")).to_have_value("plai")
    await expect(page.locator(f'[data-sha="{tagged["plain"]}"]')).to_have_attribute("aria-current", "true")
    await page.get_by_test_id("view-list").click()
    await expect(page.get_by_test_id("model-row")).to_have_count(1)


async def test_missing_models_show_a_badge_and_can_be_listed_alone(daemon: Daemon, page: Page,
                                                                    models: Path) -> None:
    gone, kept = write_model(models / "loras" / "gone.safetensors"), write_model(models / "loras" / "kept.safetensors")
    sha_gone, _ = await daemon.import_files(gone, kept)
    gone.unlink()

    async def is_missing() -> bool:
        return (await daemon.get(f"/api/models/{sha_gone}"))["status"] == "missing"

    await poll(is_missing, "the model to be missing")
    await page.goto(daemon.url + "/?status=missing")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    await expect(page.locator(f'[data-sha="{sha_gone}"]').get_by_text("Missing")).to_be_visible()


async def test_a_grid_of_100000_models_keeps_few_cards_in_the_page(daemon_factory: DaemonFactory, page: Page,
                                                                   databases: Databases, tmp_path: Path) -> None:
    daemon = await generated_daemon(daemon_factory, databases, tmp_path, 100_000)
    total = (await daemon.get("/api/models?hide_nsfw=true&limit=0"))["total"]
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("library-count")).to_have_text(f"{total:,} models")
    await expect(page.get_by_test_id("model-card").first).to_be_visible()
    await shot(page, "library")
    grid = page.get_by_test_id("model-grid")
    # Scroll in steps to the end, as a user dragging the scrollbar would, and check the DOM at each stop.
    most = 0
    for fraction in (0.1, 0.35, 0.6, 0.85, 1.0):
        await grid.evaluate("(g, f) => { g.scrollTop = (g.scrollHeight - g.clientHeight) * f; }", fraction)
        await page.wait_for_function("() => !document.querySelector('[data-testid=model-grid] .skeleton')")
        most = max(most, await page.locator("[data-testid=model-grid] .cell").count())
    assert most < 500
    last = page.locator(f'[data-testid="model-card"][data-index="{total - 1}"]')
    await expect(last).to_be_visible()
    await page.get_by_test_id("columns").fill("10")
    await page.get_by_test_id("columns").press("Enter")
    await expect(page.locator("[data-testid=model-card] .caption")).to_have_count(0)
    assert await page.locator("[data-testid=model-grid] .cell").count() < 500


async def test_scrolling_on_asks_for_the_page_after_the_last_one_shown(daemon_factory: DaemonFactory, page: Page,
                                                                        databases: Databases, tmp_path: Path) -> None:
    daemon = await generated_daemon(daemon_factory, databases, tmp_path, 1_000)
    total = (await daemon.get("/api/models?hide_nsfw=true&limit=0"))["total"]
    asked: list[dict[str, list[str]]] = []
    page.on("request", lambda r: asked.append(parse_qs(urlparse(r.url).query)) if "/api/models?" in r.url else None)
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("model-card").first).to_be_visible()
    grid = page.get_by_test_id("model-grid")
    # Down a screen at a time, as a user scrolls, until cards of the second page of 200 are drawn. Any of them will
    # do: under load a screen may still show skeletons when it is looked at, and the next screen is past a card
    # that was waited for by its number.
    second_page_drawn = "cards => cards.some(c => c.dataset.index >= 200 && c.dataset.index < 400)"
    for _ in range(100):
        if await page.get_by_test_id("model-card").evaluate_all(second_page_drawn):
            break
        await grid.evaluate("g => { g.scrollTop += g.clientHeight; }")
        await page.wait_for_function("() => !document.querySelector('[data-testid=model-grid] .skeleton')")
    await page.wait_for_function(
        f"() => ({second_page_drawn})([...document.querySelectorAll('[data-testid=model-card]')])")
    assert asked[0]["offset"] == ["0"] and "after" not in asked[0]
    onwards = [q for q in asked if "after" in q]
    assert onwards and not any("offset" in q for q in onwards), asked
    # The cards drawn from the second page are the daemon's models 200 on, in order.
    expected = [m["name"] for m in (await daemon.get("/api/models?hide_nsfw=true&limit=200&offset=200"))["models"]]
    drawn = await page.get_by_test_id("model-card").evaluate_all(
        "cards => cards.map(c => [Number(c.dataset.index), c.getAttribute('aria-label')])")
    second_page = [(i, name) for i, name in drawn if 200 <= i < 400]
    assert second_page and all(name == expected[i - 200] for i, name in second_page), second_page
    # A jump to the end has no page before it loaded: that page is asked for by its offset.
    asked.clear()
    await grid.evaluate("g => { g.scrollTop = g.scrollHeight; }")
    await expect(page.locator(f'[data-testid="model-card"][data-index="{total - 1}"]')).to_be_visible()
    assert any("offset" in q and "after" not in q for q in asked), asked


@pytest.fixture
async def opener(openers: Callable[[], Awaitable[str]]) -> str:
    return await openers()


async def trust(daemon: Daemon, opener: str) -> None:
    """The opener plays a ComfyUI whose node pack announced itself: the picker answers only such origins."""
    await daemon.call("POST", "/api/comfyui/announce", {"origin": opener})


async def test_the_lora_picker_returns_the_merged_list_to_its_opener(daemon: Daemon, page: Page, models: Path,
                                                                     opener: str) -> None:
    old, new = await daemon.import_files(write_model(models / "loras" / "old.safetensors"),
                                  write_model(models / "loras" / "new.safetensors"))
    payload = {"version": 2, "loras": [
        {"name": "old one", "full_path": "/was/here/old.safetensors", "sha256": old, "strength_model": 0.4,
         "strength_clip": 0.7, "enabled": False},
        {"name": "typed", "full_path": "/elsewhere/typed.safetensors", "sha256": "", "strength_model": 0.9,
         "strength_clip": 0.8, "enabled": True},
        {"name": "gone", "full_path": "/was/gone.safetensors", "sha256": "ab" * 32, "strength_model": 1.25,
         "strength_clip": 1, "enabled": True},
    ]}
    await trust(daemon, opener)
    popup = await open_picker(page, opener, f"{daemon.url}/?pick=loras&payload={quote(json.dumps(payload))}")
    items = popup.get_by_test_id("picker-item")
    await expect(items).to_have_count(3)
    # What the node gave each entry is shown, and an entry the library cannot load is marked, not ordinary.
    await expect(items.get_by_test_id("picker-strengths")).to_have_text(
        ["model 0.40 · clip 0.70 · off", "model 0.90 · clip 0.80", "model 1.25 · clip 1.00"])
    await expect(items.nth(0).get_by_test_id("picker-absent")).to_have_count(0)
    await expect(items.nth(1).get_by_test_id("picker-absent")).to_be_visible()
    await expect(items.nth(2).get_by_test_id("picker-absent")).to_be_visible()
    await expect(popup.get_by_test_id("tab-all")).to_have_count(0)
    await popup.locator(f'[data-testid="model-card"][data-sha="{new}"]').click()
    await expect(items).to_have_count(4)
    await expect(items.nth(3).get_by_test_id("picker-strengths")).to_have_text("model 1.00 · clip 1.00")
    await shot(popup, "picker-loras")
    await answer_picker(popup)
    (message,) = await received(page)
    assert message["origin"] == daemon.url
    assert message["data"] == {"type": "hikaze-pick", "result": {"version": 2, "loras": [
        {"name": "old one", "full_path": str(models / "loras" / "old.safetensors"), "sha256": old,
         "strength_model": 0.4, "strength_clip": 0.7, "enabled": False},
        payload["loras"][1],
        payload["loras"][2],
        {"name": "new", "full_path": str(models / "loras" / "new.safetensors"), "sha256": new,
         "strength_model": 1, "strength_clip": 1, "enabled": True},
    ]}}


async def test_the_checkpoint_picker_returns_one_model_and_cancel_returns_null(daemon: Daemon, page: Page,
                                                                               models: Path, opener: str) -> None:
    (ckpt,) = await daemon.import_files(write_model(models / "checkpoints" / "base.safetensors"))
    await trust(daemon, opener)
    popup = await open_picker(page, opener, f"{daemon.url}/?pick=checkpoint")
    await popup.locator(f'[data-testid="model-card"][data-sha="{ckpt}"]').click()
    await answer_picker(popup)
    (message,) = await received(page)
    assert message["data"] == {"type": "hikaze-pick", "result": {
        "ckpt_path": str(models / "checkpoints" / "base.safetensors"), "sha256": ckpt, "name": "base"}}

    await page.evaluate("() => { window.received = []; }")
    popup = await open_picker(page, opener, f"{daemon.url}/?pick=checkpoint")
    await answer_picker(popup, "picker-cancel")
    (message,) = await received(page)
    assert message["data"] == {"type": "hikaze-pick", "result": None}


async def test_a_cancel_before_the_daemon_vouched_for_the_opener_is_sent_once_it_has(
        daemon: Daemon, page: Page, opener: str) -> None:
    """Escape pressed at once must not be lost while the picker still asks whether it may answer its opener."""
    await trust(daemon, opener)
    held: list[Route] = []
    asked = asyncio.Event()

    async def hold(route: Route) -> None:
        held.append(route)
        asked.set()

    await page.context.route("**/api/picker/origin-check*", hold)
    popup = await open_picker(page, opener, f"{daemon.url}/?pick=checkpoint")
    await asyncio.wait_for(asked.wait(), DEADLINE_S)
    await expect(popup.get_by_test_id("picker-cancel")).to_be_visible()
    await popup.keyboard.press("Escape")
    async with popup.expect_event("close"):
        await held[0].continue_()
    (message,) = await received(page)
    assert message["data"] == {"type": "hikaze-pick", "result": None}
