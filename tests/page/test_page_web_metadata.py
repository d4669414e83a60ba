"""Metadata from the web in the page, in real Chromium against the real daemon looking its models up in the fixture
Civitai and CivArchive on loopback (`web_sources`): Fetch from Civitai fills the model and says what it added, each
filled field, added tag, given base model and fetched image says where and when it came from until the user changes
it, what the source said is shown as text (the
description's script and handler never run), not found is remembered and "Ask again" asks again, a model kept away
from the web cannot be fetched, a bulk selection's lookups run in the background with a progress line, "Fetch
missing metadata" queues the rest, lookups that are off are offered no more, and a phone's width holds it all. In the
inbox, a hashed file is looked up from its details or with others from the selection's toolbar: its row takes the
source's names and previews, and the model it becomes the rest of the record, from memory; a file not hashed yet
cannot be, and says why."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from playwright.async_api import Page, expect
from test_page_responsive import REACHABLE

from browser import shot
from conftest import Daemon, digests, poll, write_model
from web_sources import Version, WebSources, sample_version

pytestmark = pytest.mark.page

DATE = r"[A-Z][a-z]{2} \d{1,2}, \d{4}"  # a day as en-US writes it, "Dec 6, 2025"


def source_args(sources: WebSources) -> tuple[str, ...]:
    return ("--metadata-source", "civitai", "--metadata-source", "civarchive",
            "--civitai-api-base", sources.civitai, "--civarchive-api-base", sources.civarchive,
            "--metadata-auto", "never", "--metadata-rate", "50")


@pytest.fixture
async def web_daemon(daemon_factory: Any, models: Path, web_sources: WebSources) -> Daemon:
    return await daemon_factory("--models-root", str(models), *source_args(web_sources))


async def add_models(daemon: Daemon, models: Path, *names: str) -> dict[str, str]:
    """One small LoRA per name, imported; their sha256 by name."""
    paths = [write_model(models / "loras" / f"{n}.safetensors", seed=n.encode()) for n in names]
    return dict(zip(names, await daemon.import_files(*paths), strict=True))


async def model(daemon: Daemon, sha: str) -> dict[str, Any]:
    return await daemon.get(f"/api/models/{sha}")


def card(page: Page, name: str):
    return page.locator(f'[data-testid="model-card"][aria-label="{name}"]')


def toast(page: Page, text: str | re.Pattern[str]):
    """The message that says `text` (with its buttons)."""
    return page.get_by_test_id("toast").filter(has_text=text)


def said(page: Page, text: str | re.Pattern[str]):
    """The words of the message that says `text`."""
    return toast(page, text).locator("span").first


async def test_fetch_fills_the_model_and_shows_where_each_field_came_from(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    sha = (await add_models(daemon, models, "velvet"))["velvet"]
    version = web_sources.add(sample_version(1, sha))
    await page.goto(f"{daemon.url}/?model={sha}")
    await expect(page.get_by_test_id("details-name")).to_have_value("velvet")
    await expect(page.get_by_test_id("details-web")).to_have_count(0)  # nothing from the web yet
    await expect(page.get_by_test_id("fetched-badge")).to_have_count(0)

    async with page.expect_request(lambda r: r.url.endswith(f"/api/models/{sha}/metadata/fetch")) as sent:
        await page.get_by_test_id("details-fetch").click()
    assert (await sent.value).post_data in (None, "")  # not forced
    await expect(said(page, "Found on Civitai")).to_have_text(
        "Found on Civitai: added the description, a link, trigger words, 3 tags, and 2 images.")

    # The fields are filled, the tags and images added.
    view = page.get_by_test_id("details-description-view")
    await expect(view.locator("h2")).to_have_text(version.model_name)
    await expect(page.get_by_test_id("details-trigger-chip").locator(".text")).to_have_text(version.trained_words)
    chips = page.get_by_test_id("details-tag-chip").locator(".text")
    await expect(chips).to_have_count(len(version.tags))
    assert sorted(await chips.all_inner_texts()) == sorted(version.tags)
    await expect(page.get_by_test_id("details-link")).to_have_value(re.compile(r"^http"))
    await expect(page.get_by_test_id("gallery-dot")).to_have_count(2)

    # Each filled field says where it came from, and so do the base model and the image shown; the NSFW flag, not
    # filled (the record is PG), says nothing.
    badges = page.get_by_test_id("fetched-badge")
    await expect(badges).to_have_count(5)
    for field in ("description", "community_links", "trigger_words", "base_model", "image"):
        await expect(page.locator(f'[data-testid="fetched-badge"][data-field="{field}"]')).to_have_text(
            re.compile(rf"^\s*from Civitai · {DATE}\s*$"))

    # What the source said, read-only: names linking to its page in a new tab, the source, its base model.
    stored = await model(daemon, sha)
    web = page.get_by_test_id("details-web")
    link = web.get_by_test_id("details-web-link")
    await expect(link).to_contain_text(f"{version.model_name} · {version.version_name}")
    await expect(link).to_have_attribute("href", stored["meta_json"]["web"]["page_url"])
    await expect(link).to_have_attribute("target", "_blank")
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(web.get_by_test_id("details-web-source")).to_have_text("Civitai")
    await expect(web.get_by_test_id("details-web-base")).to_have_text(version.base_model)
    await expect(web.get_by_test_id("details-web-deleted")).to_have_count(0)
    await expect(web.get_by_test_id("details-web-listed")).to_have_count(0)

    # The generation parameters of the image shown, folded away until asked for, as selectable text.
    shown = int(await page.get_by_test_id("gallery-image").get_attribute("data-seq") or "-1")
    (fetched,) = [i for i in stored["meta_json"]["web"]["images"] if i["seq"] == shown]
    params = page.get_by_test_id("gallery-params")
    await expect(params.locator('dd[data-param="prompt"]')).to_be_hidden()
    await params.locator("summary").click()
    meta = fetched["meta"]
    expected = {"prompt": meta["prompt"], "negative": meta["negativePrompt"], "seed": str(meta["seed"]),
                "steps": str(meta["steps"]), "sampler": meta["sampler"], "cfg": str(meta["cfgScale"]),
                "size": meta["Size"]}
    for key, value in expected.items():
        await expect(params.locator(f'dd[data-param="{key}"]')).to_have_text(value)
    assert await params.locator('dd[data-param="prompt"]').evaluate("e => getComputedStyle(e).userSelect") != "none"
    await page.get_by_test_id("gallery-next").click()  # the other image has its own
    other = next(i for i in stored["meta_json"]["web"]["images"] if i["seq"] != shown)
    await expect(params.locator('dd[data-param="seed"]')).to_have_text(str(other["meta"]["seed"]))

    # The description came with a <script> and an onclick: neither is in the page, and neither ran.
    notes = view.locator("a", has_text="notes")
    await expect(notes).to_have_count(1)
    assert await notes.get_attribute("onclick") is None
    await expect(view.locator("script")).to_have_count(0)
    await page.evaluate("() => document.addEventListener('click', (e) => e.preventDefault(), true)")
    await notes.click()  # a click that goes nowhere: any handler left on the link would still run
    assert await page.evaluate("() => window.hacked") is None

    # The user's edit makes the field theirs: its badge goes, the others stay.
    await page.get_by_test_id("details-description-source").click()
    await page.get_by_test_id("details-description").fill("My own words.")
    await page.get_by_test_id("details-save").click()
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    await expect(badges).to_have_count(4)
    await expect(page.locator('[data-testid="fetched-badge"][data-field="description"]')).to_have_count(0)
    assert "description" not in (await model(daemon, sha))["meta_json"]["fetched"]
    await shot(page, "web-metadata-details")

    # Fetched again: nothing new (what the user set stays, each image is taken once).
    await page.get_by_test_id("details-fetch").click()
    await expect(said(page, "nothing new")).to_have_text("Found on Civitai: nothing new.")
    assert (await model(daemon, sha))["meta_json"]["description"] == "My own words."
    assert await page.evaluate("() => window.hacked") is None


async def test_the_tags_base_model_and_images_a_fetch_took_say_where_and_when(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources, tmp_path: Path) -> None:
    daemon = web_daemon
    sha = (await add_models(daemon, models, "harrier"))["harrier"]
    version = web_sources.add(sample_version(9, sha))
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags": ["mine"]})
    await page.goto(f"{daemon.url}/?model={sha}")
    await expect(page.get_by_test_id("details-base-model")).to_have_text("unknown")
    await page.get_by_test_id("details-fetch").click()
    await expect(said(page, "Found on Civitai")).to_be_visible()

    # Each tag the fetch added says its source on the chip, and the day in its tooltip; the user's own says nothing.
    chips = page.get_by_test_id("details-tag-chip")
    await expect(chips).to_have_count(len(version.tags) + 1)
    for name in version.tags:
        mark = chips.filter(has=page.locator(".text", has_text=re.compile(rf"^{name}$"))).get_by_test_id("chip-source")
        await expect(mark).to_have_text("Civitai")
        await expect(mark).to_have_attribute("data-from", "civitai")
        await expect(mark).to_have_attribute("title", re.compile(rf"^Added by a fetch from Civitai on {DATE}\."))
    await expect(chips.filter(has_text="mine").get_by_test_id("chip-source")).to_have_count(0)

    # The base model it gave, and the image shown, with their source and day.
    assert version.base_model == "SDXL 1.0"
    await expect(page.get_by_test_id("details-base-model")).to_have_text("SDXL")  # in the library's words
    base = page.locator('[data-testid="fetched-badge"][data-field="base_model"]')
    await expect(base).to_have_text(re.compile(rf"^\s*from Civitai · {DATE}\s*$"))
    await expect(base).to_have_attribute("title", re.compile(r"^Given by a fetch from Civitai on .*header named none"))
    image = page.locator('[data-testid="fetched-badge"][data-field="image"]')
    await expect(image).to_have_text(re.compile(rf"^\s*from Civitai · {DATE}\s*$"))
    await expect(image).to_have_attribute("title", re.compile(rf"^Fetched from Civitai on {DATE}\.$"))
    await page.get_by_test_id("gallery-next").click()
    await expect(image).to_have_count(1)  # the other fetched image too
    await chips.first.scroll_into_view_if_needed()
    await shot(page, "web-metadata-marks")

    # An image the user uploads says nothing of the web.
    red = tmp_path / "red.png"
    PILImage.new("RGB", (30, 40), (200, 30, 30)).save(red, "PNG")
    await page.get_by_test_id("gallery-upload-input").set_input_files(str(red))
    await expect(page.get_by_test_id("gallery-dot")).to_have_count(3)
    await expect(page.get_by_test_id("gallery-image")).to_have_attribute(
        "data-seq", str(max(i["seq"] for i in (await model(daemon, sha))["images"])))
    await expect(image).to_have_count(0)

    # A fetched tag the user takes off goes with its mark; the others keep theirs.
    gone = version.tags[0]
    await chips.filter(has=page.locator(".text", has_text=re.compile(rf"^{gone}$"))).get_by_role("button").click()
    await page.get_by_test_id("details-save").click()
    await expect(page.get_by_test_id("details-dirty")).to_have_count(0)
    await expect(chips).to_have_count(len(version.tags))
    await expect(page.locator('[data-testid="chip-source"][data-from="civitai"]')).to_have_count(len(version.tags) - 1)
    (group,) = (await model(daemon, sha))["meta_json"]["fetched"]["tags"]
    assert group["names"] == version.tags[1:]

    # A base model the user sets (the bulk bar's) is theirs: its mark goes.
    await daemon.call("POST", "/api/models/bulk", {"action": "set_base_model", "sha256s": [sha], "base_model": "Pony"})
    await page.reload()
    await expect(page.get_by_test_id("details-base-model")).to_have_text("Pony")
    await expect(base).to_have_count(0)
    await expect(page.locator('[data-testid="fetched-badge"][data-field="description"]')).to_have_count(1)


async def test_what_the_source_says_is_text_and_its_warnings_are_shown(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    shas = await add_models(daemon, models, "gone", "relisted")
    # Taken off Civitai, kept by CivArchive, with markup in its name.
    web_sources.add(sample_version(2, shas["gone"], deleted=True,
                                   model_name='<img src="x" onerror="window.hacked = 1">Gone'))
    # Civitai lists another sha256 for this file; its BLAKE3 matches.
    _, blake3 = digests(models / "loras" / "relisted.safetensors")
    listed = "f" * 64
    web_sources.add(sample_version(3, shas["relisted"], listed_sha256=listed, blake3=blake3))

    await page.goto(f"{daemon.url}/?model={shas['gone']}")
    await page.get_by_test_id("details-fetch").click()
    await expect(toast(page, "Found on CivArchive")).to_be_visible()
    web = page.get_by_test_id("details-web")
    await expect(web.get_by_test_id("details-web-source")).to_have_text("CivArchive")
    await expect(web.get_by_test_id("details-web-deleted")).to_have_text("Taken off Civitai; found on CivArchive.")
    link = web.get_by_test_id("details-web-link")
    await expect(link).to_contain_text('<img src="x" onerror="window.hacked = 1">Gone')
    await expect(link.locator("img")).to_have_count(0)
    await expect(page.get_by_test_id("fetched-badge").first).to_contain_text("from CivArchive")

    await page.goto(f"{daemon.url}/?model={shas['relisted']}")
    await page.get_by_test_id("details-fetch").click()
    await expect(toast(page, "Found on Civitai")).to_be_visible()
    await expect(page.get_by_test_id("details-web-listed")).to_have_text(
        f"Civitai lists another sha256 for this file: {listed}; this file was matched by its BLAKE3. Not adopted.")
    assert (await model(daemon, shas["relisted"]))["sha256"] == shas["relisted"]
    assert await page.evaluate("() => window.hacked") is None


async def test_not_found_is_said_and_ask_again_asks_again(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    sha = (await add_models(daemon, models, "unknown"))["unknown"]
    await page.goto(f"{daemon.url}/?model={sha}")
    fetch = page.get_by_test_id("details-fetch")

    # An outage is not "not found": the page says the sources could not be reached.
    web_sources.fail("by-hash", 503, times=3, body="<title>Just a moment...</title>", content_type="text/html")
    await fetch.click()
    await expect(toast(page, "could not be reached")).to_contain_text(
        "The sources could not be reached; try again later. (the metadata sources gave no answer to go by")
    await page.get_by_test_id("toast").get_by_role("button", name="Close").first.click()
    await expect(page.get_by_test_id("toast")).to_have_count(0)

    await expect(fetch).to_be_enabled()
    await fetch.click()
    await expect(said(page, "Not found")).to_have_text("Not found on Civitai or CivArchive.")
    asked = web_sources.count("by-hash")
    await page.get_by_test_id("toast").get_by_role("button", name="Close").click()

    # Within the week the daemon answers from memory: no request, the day it asked, and "Ask again".
    await fetch.click()
    remembered = toast(page, "checked on")
    await expect(remembered.locator("span").first).to_have_text(
        re.compile(rf"^Not found on Civitai or CivArchive \(checked on {DATE}\)\.$"))
    await expect(remembered.get_by_test_id("toast-action")).to_have_text("Ask again")
    assert web_sources.count("by-hash") == asked
    async with page.expect_request(lambda r: r.url.endswith("/metadata/fetch")) as sent:
        await remembered.get_by_test_id("toast-action").click()
    assert json.loads((await sent.value).post_data or "{}") == {"force": True}
    await expect(toast(page, "Not found on Civitai or CivArchive.")).to_be_visible()
    await poll(lambda: _at_least(web_sources, asked + 1), "Ask again to reach Civitai")
    await expect(remembered).to_have_count(0)  # the message with the button went when it was used


async def _at_least(sources: WebSources, n: int) -> bool:
    return sources.count("by-hash") >= n


async def test_never_fetch_disables_the_fetch_and_survives_a_reload(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    sha = (await add_models(daemon, models, "private"))["private"]
    web_sources.add(sample_version(4, sha))
    await page.goto(f"{daemon.url}/?model={sha}")
    fetch = page.get_by_test_id("details-fetch")
    never = page.get_by_test_id("details-never-fetch")
    await expect(fetch).to_be_enabled()
    await expect(never).not_to_be_checked()
    async with page.expect_request(lambda r: r.method == "PATCH") as sent:
        await never.check()
    assert json.loads((await sent.value).post_data or "{}") == {"meta_json": {"never_fetch": True}}
    await expect(fetch).to_be_disabled()
    why = page.get_by_test_id("details-fetch-why")
    await expect(why).to_contain_text("kept away from the web")
    await expect(fetch).to_have_attribute("aria-describedby", "details-fetch-why")
    assert (await model(daemon, sha))["meta_json"]["never_fetch"] is True

    await page.reload()
    await expect(never).to_be_checked()
    await expect(fetch).to_be_disabled()
    await never.uncheck()
    await expect(fetch).to_be_enabled()
    await expect(why).to_have_count(0)
    assert (await model(daemon, sha))["meta_json"]["never_fetch"] is False
    assert web_sources.requests == []

    # Unsaved edits first: the fetch waits for them to be saved or reverted.
    await page.get_by_test_id("details-notes").fill("mine")
    await expect(fetch).to_be_disabled()
    await expect(why).to_contain_text("Save or revert")
    await page.get_by_test_id("details-revert").click()
    await expect(fetch).to_be_enabled()


async def test_a_bulk_fetch_shows_its_progress_and_fills_the_models(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    names = ("amber", "birch", "cedar", "dune", "ember")
    shas = await add_models(daemon, models, *names)
    versions: dict[str, Version] = {
        n: web_sources.add(sample_version(20 + i, shas[n])) for i, n in enumerate(names[:3])}  # dune: nowhere
    web_sources.slow("by-hash", 0.4, times=100)  # slow enough to watch the line move
    await page.goto(daemon.url + "/?type=loras")
    await expect(page.get_by_test_id("library-count")).to_have_text("5 models")
    await expect(page.get_by_test_id("lookup-progress")).to_have_count(0)
    chosen = names[:4]
    for n in chosen:
        await card(page, n).click(modifiers=["ControlOrMeta"])
    await expect(page.get_by_test_id("bulk-count")).to_have_text("4 selected")

    async with page.expect_request(lambda r: r.url.endswith("/api/metadata/fetch")) as sent:
        await page.get_by_test_id("bulk-fetch").click()
    body = json.loads((await sent.value).post_data or "{}")
    assert sorted(body) == ["sha256s"] and sorted(body["sha256s"]) == sorted(shas[n] for n in chosen)
    await expect(said(page, "Queued")).to_have_text(re.compile(r"^Queued for a lookup on the web: [1-4] waiting\.$"))
    line = page.get_by_test_id("lookup-progress")
    await expect(line).to_have_text(re.compile(r"^\s*Looking up on the web: [0-3] done of 4 — \d found, \d not found"))
    await shot(page, "web-metadata-progress")
    await expect(said(page, "finished")).to_have_text(
        "Lookups on the web finished: 4 done — 3 found, 1 not found.", timeout=30_000)
    await expect(line).to_have_count(0)

    for n, version in versions.items():
        stored = (await model(daemon, shas[n]))["meta_json"]
        assert stored["description"] == version.description and stored["trigger_words"] == version.trained_words
    assert "web" not in (await model(daemon, shas["dune"]))["meta_json"]
    assert "web" not in (await model(daemon, shas["ember"]))["meta_json"]  # not chosen, not looked up
    assert web_sources.count("by-hash") == 4

    # The cards and the details show what came in.
    await page.get_by_test_id("bulk-clear").click()
    await card(page, "birch").click()
    await expect(page.get_by_test_id("details-web-source")).to_have_text("Civitai")
    await expect(page.get_by_test_id("fetched-badge")).to_have_count(5)  # 3 fields, the base model, the image


async def test_a_whole_filter_is_sent_as_the_filter_and_one_with_exceptions_as_its_models(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    shas = await add_models(daemon, models, "alpha1", "alpha2", "beta")
    await page.goto(daemon.url + "/?type=loras&q=alpha")
    await expect(page.get_by_test_id("library-count")).to_have_text("2 models")
    await card(page, "alpha1").click(modifiers=["ControlOrMeta"])
    await page.get_by_test_id("bulk-select-all").click()
    await expect(page.get_by_test_id("bulk-count")).to_have_text("2 selected")
    async with page.expect_request(lambda r: r.url.endswith("/api/metadata/fetch")) as sent:
        await page.get_by_test_id("bulk-fetch").click()
    body = json.loads((await sent.value).post_data or "{}")
    assert body == {"filter": {"q": "alpha", "type": "loras", "hide_nsfw": "true"}}
    await expect(said(page, "finished")).to_have_text("Lookups on the web finished: 2 done — 0 found, 2 not found.",
                                                      timeout=30_000)
    assert sorted(r.path.rsplit("/", 1)[-1] for r in web_sources.hits("by-hash")) == sorted(
        [shas["alpha1"], shas["alpha2"]])

    # One taken out again: the daemon takes no exceptions, so the filter's other models go by their sha256.
    await card(page, "alpha1").click(modifiers=["ControlOrMeta"])
    await expect(page.get_by_test_id("bulk-count")).to_have_text("1 selected")
    async with page.expect_request(lambda r: r.url.endswith("/api/metadata/fetch")) as sent:
        await page.get_by_test_id("bulk-fetch").click()
    assert json.loads((await sent.value).post_data or "{}") == {"sha256s": [shas["alpha2"]]}
    await expect(said(page, "Queued")).to_be_visible()


async def test_fetch_missing_metadata_queues_every_model_not_looked_up(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    shas = await add_models(daemon, models, "first", "second")
    web_sources.add(sample_version(30, shas["first"]))
    await page.goto(daemon.url + "/")
    await page.get_by_test_id("fetch-missing").click()
    dialog = page.get_by_test_id("confirm-dialog")
    await expect(dialog).to_contain_text("Look up the models not looked up yet?")
    await page.get_by_test_id("confirm-cancel").click()
    assert web_sources.requests == []
    await page.get_by_test_id("fetch-missing").click()
    async with page.expect_request(lambda r: r.url.endswith("/api/metadata/fetch")) as sent:
        await page.get_by_test_id("confirm-ok").click()
    assert json.loads((await sent.value).post_data or "null") == {}
    await expect(said(page, "finished")).to_have_text(
        "Lookups on the web finished: 2 done — 1 found, 1 not found.", timeout=30_000)
    assert (await model(daemon, shas["first"]))["meta_json"]["web"]["source"] == "civitai"
    # All looked up now: nothing is queued again.
    await page.get_by_test_id("fetch-missing").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(toast(page, "Nothing to look up")).to_be_visible()


async def test_lookups_that_are_off_are_offered_no_more(daemon: Daemon, page: Page, models: Path) -> None:
    sha = (await add_models(daemon, models, "offline"))["offline"]  # the daemon names no metadata source
    await page.goto(f"{daemon.url}/?model={sha}")
    await expect(page.get_by_test_id("fetch-missing")).to_be_visible()
    await page.get_by_test_id("details-fetch").click()
    message = "the metadata lookups are off: `metadata_sources` names no source"
    await expect(said(page, "metadata lookups are off")).to_have_text(message)
    await expect(page.get_by_test_id("details-fetch")).to_have_count(0)
    await expect(page.get_by_test_id("details-fetch-off")).to_have_text(message)
    await expect(page.get_by_test_id("details-never-fetch")).to_be_visible()  # the model's own setting stays
    await expect(page.get_by_test_id("fetch-missing")).to_have_count(0)
    await card(page, "offline").get_by_test_id("card-check").click()
    await expect(page.get_by_test_id("bulk-bar")).to_be_visible()
    await expect(page.get_by_test_id("bulk-fetch")).to_have_count(0)


async def test_a_phone_holds_the_progress_and_the_web_metadata(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    await page.set_viewport_size({"width": 390, "height": 844})
    shas = await add_models(daemon, models, "tidewater", "obsidian")
    web_sources.add(sample_version(6, shas["tidewater"], listed_sha256="e" * 64,
                                   blake3=digests(models / "loras" / "tidewater.safetensors")[1]))
    web_sources.add(sample_version(5, shas["obsidian"]))
    web_sources.slow("by-hash", 0.6, times=100)
    await page.goto(daemon.url + "/?type=loras")
    await expect(page.get_by_test_id("library-count")).to_have_text("2 models")
    await daemon.call("POST", "/api/metadata/fetch", {}, expect=202)
    line = page.get_by_test_id("lookup-progress")
    await expect(line).to_be_visible()
    assert await page.evaluate(REACHABLE) == [], "library with the progress line at 390px"
    await shot(page, "web-metadata-phone-progress")
    await expect(line).to_have_count(0, timeout=30_000)

    await card(page, "tidewater").click()
    await expect(page.get_by_test_id("details-web-listed")).to_be_visible()
    await page.get_by_test_id("gallery-params").locator("summary").click()
    await expect(page.get_by_test_id("gallery-params").locator('dd[data-param="prompt"]')).to_be_visible()
    for where in ("gallery-params", "details-web-actions", "details-web"):
        await page.get_by_test_id(where).scroll_into_view_if_needed()
        assert await page.evaluate(REACHABLE) == [], f"details at 390px, {where} in view"
        if where == "gallery-params":
            await shot(page, "web-metadata-phone-params")
    await expect(page.get_by_test_id("fetched-badge").first).to_be_visible()
    await shot(page, "web-metadata-phone-details")


async def test_a_lookup_put_back_after_an_outage_is_counted_with_its_error_and_shown_at_load(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    sha = (await add_models(daemon, models, "stormy"))["stormy"]
    web_sources.add(sample_version(7, sha, on_civarchive=False))  # only Civitai knows it, and Civitai is down
    await page.goto(daemon.url + "/")
    await expect(page.get_by_test_id("library-count")).to_have_text("1 model")
    web_sources.fail("by-hash", 503, times=3, body="<title>Just a moment...</title>", content_type="text/html")
    await daemon.call("POST", "/api/metadata/fetch", {"sha256s": [sha]}, expect=202)
    line = page.get_by_test_id("lookup-progress")
    await expect(line.locator(".text")).to_have_text(
        "Looking up on the web: 0 done of 1 — 0 found, 0 not found, 1 to retry")
    # The last error is the line's tooltip, and read out with it.
    await expect(line).to_have_attribute("title", re.compile(r"^Last error: civitai: .*503"))
    await expect(line.locator(".visually-hidden")).to_have_text(re.compile(r"^Last error: civitai: .*503"))
    # A page opened now reads the waiting lookup from the status.
    await page.reload()
    await expect(line.locator(".text")).to_have_text(
        "Looking up on the web: 0 done of 1 — 0 found, 0 not found, 1 to retry")  # the last run's totals stay


async def test_the_inbox_shows_what_the_web_says_of_a_file_before_it_is_imported(
        daemon_factory: Any, models: Path, web_sources: WebSources, page: Page) -> None:
    path = write_model(models / "loras" / "queued.safetensors", seed=b"queued")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(7, sha, model_name="<b>Nimbus</b> & co"))
    args = [a for a in source_args(web_sources) if a not in ("--metadata-auto", "never")]
    daemon = await daemon_factory("--models-root", str(models), *args)  # looks new files up by itself
    (row,) = await daemon.ready_rows(path)

    async def looked_up() -> bool:
        detail = await daemon.get(f"/api/pending/{row['id']}")
        return bool(detail["meta_json"].get("web")) and len(detail["images"]) == 2

    await poll(looked_up, "the queued file to be looked up")
    await page.goto(f"{daemon.url}/?mode=inbox&pending={row['id']}")
    details = page.get_by_test_id("pending-details")
    web = details.get_by_test_id("details-web")
    link = web.get_by_test_id("details-web-link")
    await expect(link).to_contain_text(f"{version.model_name} · {version.version_name}")  # markup shown as text
    await expect(link).to_have_attribute("rel", "noopener noreferrer")
    await expect(details.get_by_test_id("pending-meta")).not_to_contain_text("model_name")  # not as raw metadata
    await expect(details.locator(".thumbs button")).to_have_count(2)  # the fetched previews


def inbox_row(page: Page, name: str):
    return page.get_by_test_id("inbox-row").filter(has_text=name)


def thumbnail(page: Page, name: str):
    return inbox_row(page, name).get_by_test_id("inbox-row-thumb").locator("img")


def lookups_idle(daemon: Daemon):
    async def idle() -> bool:
        lookups = (await daemon.get("/api/status"))["lookups"]
        return not lookups["running"] and lookups["queued"] == 0

    return idle


async def test_a_queued_file_is_looked_up_from_its_details_and_its_model_takes_the_rest_at_import(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon  # looks up only when asked
    path = write_model(models / "loras" / "drifter.safetensors", seed=b"drifter")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(40, sha))
    (row,) = await daemon.ready_rows(path)
    await page.goto(f"{daemon.url}/?mode=inbox&pending={row['id']}")
    details = page.get_by_test_id("pending-details")
    await expect(details.locator("h2")).to_have_text("drifter.safetensors")
    await expect(details.get_by_test_id("details-web")).to_have_count(0)  # nothing from the web yet
    await expect(details.locator(".preview")).to_have_count(0)
    assert web_sources.requests == []

    fetch = details.get_by_test_id("pending-fetch")
    await expect(fetch).to_have_text("Look up on Civitai")
    async with page.expect_request(lambda r: r.url.endswith(f"/api/pending/{row['id']}/metadata/fetch")) as sent:
        await fetch.click()
    assert (await sent.value).post_data in (None, "")  # not forced
    await expect(said(page, "Found on Civitai")).to_have_text(
        "Found on Civitai: 2 previews added; the description, trigger words and tags are filled in at import.")

    # What the source said, and its two previews, in the details; the row shows the first as its thumbnail.
    web = details.get_by_test_id("details-web")
    await expect(web.get_by_test_id("details-web-link")).to_contain_text(
        f"{version.model_name} · {version.version_name}")
    await expect(web.get_by_test_id("details-web-source")).to_have_text("Civitai")
    await expect(details.locator(".thumbs button")).to_have_count(2)
    await expect(thumbnail(page, "drifter.safetensors")).to_be_visible()
    await shot(page, "web-metadata-inbox-details")
    asked = len(web_sources.requests)

    # Imported, the model takes the rest of the record from memory: no request to the sources.
    await inbox_row(page, "drifter.safetensors").get_by_test_id("inbox-row-check").click()
    await page.get_by_test_id("inbox-import").click()
    await expect(page.get_by_test_id("import-report").get_by_test_id("report-imported")).to_have_text("1 imported")

    async def filled() -> dict[str, Any] | None:
        stored = await model(daemon, sha)
        return stored if stored["meta_json"].get("description") else None

    stored = await poll(filled, "the imported model to take the remembered record")
    assert stored["meta_json"]["trigger_words"] == version.trained_words
    assert sorted(stored["tags"]) == sorted(version.tags) and len(stored["images"]) == 2
    await poll(lookups_idle(daemon), "the lookups to finish")
    assert len(web_sources.requests) == asked

    await page.goto(f"{daemon.url}/?model={sha}")
    await expect(page.get_by_test_id("details-trigger-chip").locator(".text")).to_have_text(version.trained_words)
    await expect(page.locator('[data-testid="fetched-badge"][data-field="description"]')).to_contain_text(
        "from Civitai")
    await expect(page.get_by_test_id("gallery-dot")).to_have_count(2)  # the previews were not fetched twice
    assert len(web_sources.requests) == asked


async def test_the_selected_files_of_the_queue_are_looked_up_in_the_background(
        web_daemon: Daemon, page: Page, models: Path, web_sources: WebSources) -> None:
    daemon = web_daemon
    names = ("harbor", "lantern", "meadow")
    paths = {n: write_model(models / "loras" / f"{n}.safetensors", seed=n.encode()) for n in names}
    versions = {n: web_sources.add(sample_version(41 + i, digests(paths[n])[0])) for i, n in enumerate(names)}
    rows = dict(zip(names, await daemon.ready_rows(*paths.values()), strict=True))
    web_sources.slow("by-hash", 0.4, times=100)  # slow enough to see the progress line
    await page.goto(f"{daemon.url}/?mode=inbox")
    fetch = page.get_by_test_id("inbox-fetch")
    await expect(fetch).to_be_disabled()  # nothing selected
    chosen = names[:2]
    for n in chosen:
        await inbox_row(page, f"{n}.safetensors").get_by_test_id("inbox-row-check").click()
    await expect(page.get_by_test_id("inbox-selected-count")).to_have_text("2 selected")

    async with page.expect_request(lambda r: r.url.endswith("/api/metadata/fetch")) as sent:
        await fetch.click()
    body = json.loads((await sent.value).post_data or "{}")
    assert sorted(body) == ["pending_ids"] and sorted(body["pending_ids"]) == sorted(rows[n]["id"] for n in chosen)
    await expect(said(page, "Queued")).to_have_text(re.compile(r"^Queued for a lookup on the web: [1-2] waiting\.$"))
    line = page.get_by_test_id("lookup-progress")  # the library's line, above the queue
    await expect(line).to_have_text(re.compile(r"^\s*Looking up on the web: [0-1] done of 2 — \d found, \d not found"))
    await expect(said(page, "finished")).to_have_text(
        "Lookups on the web finished: 2 done — 2 found, 0 not found.", timeout=30_000)
    await expect(line).to_have_count(0)

    # Both rows took their previews (the first is their thumbnail); the one not chosen was not looked up.
    for n in chosen:
        await expect(thumbnail(page, f"{n}.safetensors")).to_be_visible()
    await expect(thumbnail(page, "meadow.safetensors")).to_have_count(0)
    assert web_sources.count("by-hash") == 2
    await inbox_row(page, "lantern.safetensors").click()
    details = page.get_by_test_id("pending-details")
    await expect(details.get_by_test_id("details-web-link")).to_contain_text(versions["lantern"].model_name)
    await expect(details.locator(".thumbs button")).to_have_count(2)


async def test_a_file_not_hashed_yet_cannot_be_looked_up_and_says_why(
        daemon_factory: Any, models: Path, web_sources: WebSources, page: Page) -> None:
    # A long settle period keeps the new file waiting, not hashed, for the whole test.
    daemon = await daemon_factory("--models-root", str(models), *source_args(web_sources), settle=60.0)
    await daemon.wait_idle()
    await page.goto(f"{daemon.url}/?mode=inbox")
    write_model(models / "loras" / "unsettled.safetensors")
    row = inbox_row(page, "unsettled.safetensors")
    await expect(row).to_have_attribute("data-status", "settling", timeout=20_000)
    await row.click()
    details = page.get_by_test_id("pending-details")
    fetch = details.get_by_test_id("pending-fetch")
    await expect(fetch).to_be_disabled()
    await expect(details.get_by_test_id("pending-fetch-why")).to_have_text(
        "Not hashed yet: the file is looked up by its content once it is hashed.")
    await expect(fetch).to_have_attribute("aria-describedby", "pending-fetch-why")
    await row.get_by_test_id("inbox-row-check").click()
    await expect(page.get_by_test_id("inbox-fetch")).to_be_disabled()
    await expect(page.get_by_test_id("inbox-fetch")).to_have_attribute(
        "title", "None of the selected files is hashed yet: they are looked up by their content.")
    assert web_sources.requests == []


async def test_lookups_that_are_off_are_offered_no_more_in_the_inbox(daemon: Daemon, page: Page,
                                                                     models: Path) -> None:
    path = write_model(models / "loras" / "offline.safetensors")  # the daemon names no metadata source
    (row,) = await daemon.ready_rows(path)
    await page.goto(f"{daemon.url}/?mode=inbox&pending={row['id']}")
    details = page.get_by_test_id("pending-details")
    await expect(page.get_by_test_id("inbox-fetch")).to_be_visible()
    await details.get_by_test_id("pending-fetch").click()
    message = "the metadata lookups are off: `metadata_sources` names no source"
    await expect(said(page, "metadata lookups are off")).to_have_text(message)
    await expect(details.get_by_test_id("pending-fetch")).to_have_count(0)
    await expect(details.get_by_test_id("pending-fetch-off")).to_have_text(message)
    await expect(page.get_by_test_id("inbox-fetch")).to_have_count(0)
    # The same switch as the library's: its actions are gone too.
    await page.get_by_test_id("pending-toggle").click()
    await expect(page.get_by_test_id("library-count")).to_be_visible()
    await expect(page.get_by_test_id("fetch-missing")).to_have_count(0)
