"""The lookup by sha256 against the fixture sites on loopback (`web_sources`): what a found file's record holds,
"not found" only when every source said so, the transient failures retried (a 429's Retry-After waited out) and
never taken for "not found", and nothing sent where it does not belong (another host, the key to CivArchive)."""

from __future__ import annotations

import asyncio
import bisect
import hashlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hikaze_mm.webmeta.client import Gate
from hikaze_mm.webmeta.lookup import FAILED, FOUND, NOT_FOUND, Lookup, SourceSite, build
from web_sources import Request, WebSources, sample_version

KEY = "civitai-key-0123456789"
QUICK = aiohttp.ClientTimeout(total=2, connect=1, sock_read=1)


def at(sources: WebSources, site: str) -> list[Request]:
    return [r for r in sources.requests if r.site == site]


def sha(n: int) -> str:
    return hashlib.sha256(f"file {n}".encode()).hexdigest()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def lookup(session: aiohttp.ClientSession, sources: WebSources, *, rate: float = 100.0,
           names: tuple[str, ...] = ("civitai", "civarchive")) -> Lookup:
    bases = {"civitai": sources.civitai, "civarchive": sources.civarchive}
    return build(session, [SourceSite(n, bases[n]) for n in names], rate, KEY, "hikaze-mm/test",
                 timeout=QUICK, backoff=0.01)


async def test_a_file_civitai_knows_gets_its_version_and_model_fields(web_sources: WebSources,
                                                                       session: aiohttp.ClientSession) -> None:
    version = web_sources.add(sample_version(3, sha(3)))
    outcome = await lookup(session, web_sources).lookup(sha(3).upper().lower(), None)
    assert outcome.state == FOUND and outcome.record is not None
    record = outcome.record
    assert (record.source, record.model_id, record.version_id) == ("civitai", version.model_id, version.version_id)
    assert (record.model_name, record.version_name) == (version.model_name, version.version_name)
    assert record.base_model == version.base_model and record.trigger_words == version.trained_words
    assert record.description == version.description  # the model's HTML, as given: the page sanitises it
    assert record.tags == version.tags
    assert record.page_url == f"{web_sources.civitai}/models/{version.model_id}?modelVersionId={version.version_id}"
    assert [i.url for i in record.images] == [web_sources.image_url(i) for i in version.images]
    assert record.images[0].meta == version.images[0].meta and record.images[0].width == 640
    assert record.confirmed_by == "sha256" and record.listed_sha256 is None and not record.deleted
    assert web_sources.count("archive") == 0  # the first source knew it


async def test_unknown_everywhere_is_not_found_after_asking_each_source(web_sources: WebSources,
                                                                      session: aiohttp.ClientSession) -> None:
    outcome = await lookup(session, web_sources).lookup(sha(1), None)
    assert outcome.state == NOT_FOUND and outcome.record is None
    assert web_sources.count("by-hash") == 1 and web_sources.count("archive") == 1


async def test_a_model_deleted_from_civitai_is_found_on_civarchive(web_sources: WebSources,
                                                                   session: aiohttp.ClientSession) -> None:
    version = web_sources.add(sample_version(4, sha(4), deleted=True))
    outcome = await lookup(session, web_sources).lookup(sha(4), None)
    assert outcome.state == FOUND and outcome.record is not None
    assert outcome.record.source == "civarchive" and outcome.record.deleted
    assert outcome.record.trigger_words == version.trained_words and outcome.record.tags == version.tags


async def test_a_429_is_waited_out_as_its_retry_after_asks(web_sources: WebSources,
                                                          session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(5, sha(5)))
    web_sources.fail("by-hash", 429, retry_after="1")
    outcome = await lookup(session, web_sources).lookup(sha(5), None)
    assert outcome.state == FOUND
    first, second = web_sources.hits("by-hash")
    assert second.at - first.at >= 1.0


async def test_a_long_pause_asked_for_fails_the_lookup_at_once_and_the_next_without_asking(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(15, sha(15)))
    web_sources.fail("by-hash", 429, retry_after="3600")
    look = lookup(session, web_sources, names=("civitai",))
    first = await look.lookup(sha(15), None)
    assert first.state == FAILED and first.retry_after == 3600
    second = await look.lookup(sha(15), None)
    assert second.state == FAILED and second.retry_after is not None and second.retry_after > 3500
    assert web_sources.count("by-hash") == 1  # the source was not asked again during its pause


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (500, None, "application/json"),
    (503, "<html><title>Just a moment...</title></html>", "text/html"),
    (200, "<html><title>Just a moment...</title></html>", "text/html"),  # a check page answered 200
    (404, "<html><h1>404</h1></html>", "text/html"),  # a web page, not the source's own "not found"
    (200, "[]", "application/json"),  # JSON, but not an answer
    (200, "null", "application/json"),
    (200, "{}", "application/json"),  # an object, but no version: a proxy's or a broken page's answer
    (200, '{"error": "Internal server error"}', "application/json"),
    (200, '{"id": 1, "nsfwLevel": NaN}', "application/json"),  # not JSON, though Python would read it
    (200, "[" * 100_000, "application/json"),  # nested past what a parser may recurse
])
async def test_an_outage_is_a_failure_never_not_found(web_sources: WebSources, session: aiohttp.ClientSession,
                                                      status: int, body: str | None, content_type: str) -> None:
    web_sources.add(sample_version(6, sha(6)))
    web_sources.fail("by-hash", status, times=100, body=body, content_type=content_type)
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(6), None)
    assert outcome.state == FAILED and outcome.record is None
    assert ("civitai" in outcome.notes[0] and str(status) in outcome.notes[0]) or "JSON" in outcome.notes[0] \
        or "not a model version" in outcome.notes[0]
    # Each is asked again twice, as an outage is; an object that is no model fails at once.
    assert web_sources.count("by-hash") == (1 if "not a model version" in outcome.notes[0] else 3)


async def test_an_archive_answer_that_is_not_a_model_is_a_failure(web_sources: WebSources,
                                                                  session: aiohttp.ClientSession) -> None:
    web_sources.fail("archive", 200, body='{"data": {"name": "x"}}')
    outcome = await lookup(session, web_sources, names=("civarchive",)).lookup(sha(6), None)
    assert outcome.state == FAILED and "not a model with its version" in outcome.notes[0]


async def test_civitai_down_and_civarchive_knowing_the_file_is_found_but_partial(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(8, sha(8)))
    web_sources.fail("by-hash", 500, times=3)
    outcome = await lookup(session, web_sources).lookup(sha(8), None)
    assert outcome.state == FOUND and outcome.record is not None and outcome.record.source == "civarchive"
    assert outcome.partial and "civitai" in outcome.notes[0]
    again = await lookup(session, web_sources).lookup(sha(8), None)  # Civitai answers again
    assert again.record is not None and again.record.source == "civitai" and not again.partial


async def test_a_model_civitai_took_down_takes_its_pictures_from_civarchive(web_sources: WebSources,
                                                                           session: aiohttp.ClientSession) -> None:
    version = web_sources.add(sample_version(9, sha(9), mode="TakenDown"))
    outcome = await lookup(session, web_sources).lookup(sha(9), None)
    assert outcome.state == FOUND and outcome.record is not None and not outcome.partial
    assert outcome.record.source == "civarchive" and outcome.record.deleted  # still says it was taken down
    assert [i.url for i in outcome.record.images] == [web_sources.image_url(i) for i in version.images]
    assert web_sources.count("by-hash") == 1 and web_sources.count("archive") == 1


async def test_a_model_taken_down_everywhere_but_civitai_keeps_civitais_record(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(10, sha(10), mode="TakenDown", on_civarchive=False))
    outcome = await lookup(session, web_sources).lookup(sha(10), None)
    assert outcome.state == FOUND and outcome.record is not None
    assert (outcome.record.source, outcome.record.deleted, outcome.record.images) == ("civitai", True, [])


async def test_a_failure_then_an_answer_is_found(web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(7, sha(7)))
    web_sources.fail("by-hash", 502, times=2)
    outcome = await lookup(session, web_sources).lookup(sha(7), None)
    assert outcome.state == FOUND and web_sources.count("by-hash") == 3


async def test_a_source_that_does_not_answer_in_time_is_a_failure(web_sources: WebSources,
                                                                  session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(8, sha(8)))
    web_sources.slow("by-hash", 30, times=100)
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(8), None)
    assert outcome.state == FAILED and "in time" in outcome.notes[0]


async def test_a_redirect_elsewhere_is_refused_and_never_followed(web_sources: WebSources,
                                                                  session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(9, sha(9)))
    web_sources.redirect("by-hash", f"{web_sources.cdn}/api/v1/model-versions/by-hash/{sha(9)}")
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(9), None)
    assert outcome.state == FAILED and "refused to contact localhost" in outcome.notes[0]
    assert at(web_sources, "cdn") == []


async def test_a_redirect_within_the_source_is_followed(web_sources: WebSources,
                                                        session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(10, sha(10)))
    web_sources.redirect("by-hash", f"{web_sources.civitai}/api/v1/model-versions/by-hash/{sha(10).upper()}")
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(10), None)
    assert outcome.state == FOUND


async def test_an_answer_over_the_size_cap_is_refused(web_sources: WebSources,
                                                      session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(11, sha(11)))
    web_sources.oversize("by-hash", 9 * 1024 * 1024)
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(11), None)
    assert outcome.state == FAILED and "bytes" in outcome.notes[0]


async def test_the_key_goes_to_civitai_alone(web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(12, sha(12), deleted=True))
    look = lookup(session, web_sources)
    outcome = await look.lookup(sha(12), None)
    assert outcome.state == FOUND
    # A picture an answer names on Civitai's own origin goes without the key too: the answer chose that GET.
    await look.client.image(web_sources.image_url(web_sources.versions[-1].images[0]).replace(
        web_sources.civarchive, web_sources.civitai))
    civitai, archive = at(web_sources, "civitai"), at(web_sources, "civarchive")
    assert [r.route for r in civitai if "authorization" not in r.headers] == ["image"]
    assert civitai and all(r.headers.get("authorization") == f"Bearer {KEY}" for r in civitai if r.route != "image")
    assert archive and all("authorization" not in r.headers for r in archive)
    assert all(KEY not in r.path + r.query for r in civitai + archive)


async def test_a_wrong_listed_sha256_is_reported_and_confirmed_by_blake3(web_sources: WebSources,
                                                                          session: aiohttp.ClientSession) -> None:
    ours_blake3 = hashlib.blake2s(b"13").hexdigest()  # any 64-digit hash stands for our BLAKE3
    web_sources.add(sample_version(13, sha(13), listed_sha256=sha(99), blake3=ours_blake3))
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(13), ours_blake3)
    assert outcome.state == FOUND and outcome.record is not None
    assert outcome.record.confirmed_by == "blake3" and outcome.record.listed_sha256 == sha(99)


async def test_an_answer_about_another_file_is_not_taken(web_sources: WebSources,
                                                         session: aiohttp.ClientSession) -> None:
    web_sources.add(sample_version(14, sha(14), listed_sha256=sha(98)))
    outcome = await lookup(session, web_sources, names=("civitai",)).lookup(sha(14), None)
    assert outcome.state == NOT_FOUND and outcome.record is None
    assert sha(98) in outcome.notes[0]


async def test_requests_to_a_source_keep_to_the_rate(web_sources: WebSources,
                                                     session: aiohttp.ClientSession) -> None:
    """Ten lookups at once at 20 requests a second: no half second takes more than its ten (two more for the
    gate's two at once). Counted where they arrive, on the test's own loop: under load one arrival can land late and
    the next on time, so the gap between two says less than a window does."""
    for n in range(20, 30):
        web_sources.add(sample_version(n, sha(n)))
    look = lookup(session, web_sources, rate=20.0, names=("civitai",))
    outcomes = await asyncio.gather(*(look.lookup(sha(n), None) for n in range(20, 30)))
    assert all(o.state == FOUND for o in outcomes)
    starts = sorted(r.at for r in at(web_sources, "civitai"))
    assert len(starts) == 20  # a version and its model each
    assert max(bisect.bisect_left(starts, t + 0.5) - i for i, t in enumerate(starts)) <= 12
    assert starts[-1] - starts[0] >= 19 / 20.0 * 0.9  # and the whole run took about its time


async def test_a_gate_lets_two_through_at_once() -> None:
    gate = Gate(rate=1000.0)
    inside = 0
    most = 0
    two_in = asyncio.Event()
    release = asyncio.Event()

    async def one() -> None:
        nonlocal inside, most
        async with gate:
            inside += 1
            most = max(most, inside)
            if inside == 2:
                two_in.set()
            await release.wait()
            inside -= 1

    tasks = [asyncio.create_task(one()) for _ in range(5)]
    await asyncio.wait_for(two_in.wait(), 5)
    assert gate._slots.locked() and inside == 2  # the other three wait for a slot
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2


@pytest.mark.parametrize(("url", "image", "allowed"), [
    ("https://image.civitai.com/xG1n/abc/original=true/1.jpeg", True, True),  # Civitai's image CDN
    ("https://image.civitai.com/x.jpeg", False, False),  # pictures only: no JSON from the CDN
    ("https://image.civitai.com:8443/x.jpeg", True, False),  # another port is another server
    ("http://image.civitai.com/x.jpeg", True, False),
    ("https://anything.civitai.com/x.jpeg", True, False),  # the domain is not the host
    ("https://civitai.com/x.jpeg", True, False),  # not a configured source here (the fixture is)
    ("https://image.civitai.com@evil.example/x.jpeg", True, False),
    ("https://evil.example/image.civitai.com/x.jpeg", True, False),
])
async def test_only_the_sources_and_civitais_image_cdn_may_be_contacted(
        web_sources: WebSources, session: aiohttp.ClientSession, url: str, image: bool, allowed: bool) -> None:
    client = lookup(session, web_sources, names=("civarchive",)).client
    assert client.allowed(url, image=image) is allowed
    assert client.allowed(f"{web_sources.civarchive}/api/sha256/{sha(1)}", image=False)
    assert not client.allowed(f"{web_sources.civitai}/api/v1/model-versions/by-hash/{sha(1)}", image=False)


async def test_a_lone_surrogate_in_an_answer_becomes_a_replacement_character(
        web_sources: WebSources, session: aiohttp.ClientSession) -> None:
    # An emoji cut in half where the source truncated its text: JSON escapes it, no database stores it as text.
    version = sample_version(40, sha(40), description="<p>Cute \ud83d</p>", trained_words=("cat\udc80",))
    version.images[0].meta["prompt"] = "x \ud800"
    web_sources.add(version)
    outcome = await lookup(session, web_sources).lookup(sha(40), None)
    assert outcome.state == FOUND and outcome.record is not None
    assert outcome.record.description == "<p>Cute \ufffd</p>" and outcome.record.trigger_words == ["cat\ufffd"]
    assert outcome.record.images[0].meta is not None and outcome.record.images[0].meta["prompt"] == "x \ufffd"
    outcome.record.to_json()["description"].encode("utf-8")  # what PostgreSQL needs of every text
