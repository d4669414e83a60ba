"""HTTP to the metadata sources: only their own hosts (and the image hosts the answers may name), at a capped pace,
with every request timed out, every answer size-capped, and the transient failures (429, 5xx, a refused or dropped
connection, a timeout, a web page where JSON was due) retried with backoff and jitter, never taken for "not found".

Each origin (scheme, host, port) has a `Gate`: at most two requests at once, starts spaced by the configured rate,
and a pause for as long as its 429 asked (`Retry-After`), which every request to it then waits out.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import aiohttp

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_JSON_BYTES = 8 * 1024 * 1024  # a version with its images' generation parameters is well under 1 MiB
MAX_IMAGE_BYTES = 40 * 1024 * 1024  # the upload limit's order: a preview larger than this is not a preview
CONCURRENCY = 2  # requests at once per origin
MAX_REDIRECTS = 3
# Attempts after the first, for the transient failures: a lookup someone waits for fails soon, and the queue of
# lookups tries it again later (with its own, longer backoff).
RETRIES = 2
BACKOFF_BASE_S = 1.0  # Civitai's guidance: back off from about a second up to about thirty
BACKOFF_CAP_S = 30.0
# A Retry-After longer than this is not waited out within one lookup: the lookup fails now (as an error, not "not
# found") and is tried again later, while the origin's gate stays paused.
LONGEST_WAIT_S = 10.0
# A pause a source asks for is believed up to this long: a year's Retry-After would shelve every lookup for a year.
LONGEST_PAUSE_S = 6 * 3600.0
TIMEOUT = aiohttp.ClientTimeout(total=60, connect=10, sock_read=20)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


class SourceError(Exception):
    """A request that did not get an answer to go by: transient (try again later) unless `lasting`. Its message
    names the host and what happened, never a key."""

    def __init__(self, message: str, *, retry_after: float | None = None, lasting: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.lasting = lasting


@dataclass(frozen=True)
class Answer:
    status: int  # 200 or 404: every other status is a SourceError
    doc: Any  # the parsed JSON


def origin(url: str) -> Origin:
    """(scheme, host, port) of an absolute http(s) URL; ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) address: {url[:200]!r}")
    return parts.scheme, parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A Retry-After header in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), LONGEST_PAUSE_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
        return min(max(0.0, when.timestamp() - (time.time() if now is None else now)), LONGEST_PAUSE_S)
    except (TypeError, ValueError, OverflowError):
        return None


class Gate:
    """One origin's pace: `CONCURRENCY` requests at once, starts at least 1/rate apart, none while paused."""

    def __init__(self, rate: float):
        self._interval = 1.0 / rate
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._next_start = 0.0
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    async def __aenter__(self) -> None:
        await self._slots.acquire()
        try:
            while True:
                now = time.monotonic()
                start = max(now, self._next_start, self._paused_until)
                if start <= now:
                    break
                await asyncio.sleep(start - now)  # pacing, the gate's job; a pause may grow while we wait
            self._next_start = now + self._interval
        except BaseException:
            self._slots.release()
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


Origin = tuple[str, str, int]  # scheme, host, port


class WebClient:
    """GETs to the sources' origins (each with its headers: the Civitai key goes to Civitai's origin alone) and,
    for images only, to those and to `image_origins` besides."""

    def __init__(self, session: aiohttp.ClientSession, rate: float, headers: dict[Origin, dict[str, str]],
                 image_origins: frozenset[Origin] = frozenset(), *, timeout: aiohttp.ClientTimeout = TIMEOUT,
                 backoff: float = BACKOFF_BASE_S):
        self._session = session
        self._timeout = timeout
        self._backoff = backoff
        self._rate = rate
        self._headers = headers
        self._image_origins = image_origins
        self._gates: dict[Origin, Gate] = {}

    def gate(self, where: Origin) -> Gate:
        found = self._gates.get(where)
        if found is None:
            found = self._gates[where] = Gate(self._rate)
        return found

    def allowed(self, url: str, *, image: bool) -> bool:
        try:
            where = origin(url)
        except ValueError:
            return False
        return where in self._headers or (image and where in self._image_origins)

    def _sent(self, where: Origin, image: bool) -> dict[str, str]:
        """The origin's headers; a picture goes without the key, whatever host an answer named it on."""
        headers = self._headers.get(where, {})
        return {k: v for k, v in headers.items() if k != "Authorization"} if image else headers

    async def json(self, url: str) -> Answer:
        """A source's JSON answer: 200 with its document, or 404 with one (the source's own "not found"). A 404
        that is a web page (a wrong path, a proxy's page) is an error: only the source itself may say a hash is
        unknown. An answer that is no JSON object is retried as an outage is."""
        return await self._get(url, image=False, cap=MAX_JSON_BYTES, answers=(200, 404), read=_json_answer)

    async def image(self, url: str) -> tuple[bytes, str]:
        """An image's bytes and content type."""
        return await self._get(url, image=True, cap=MAX_IMAGE_BYTES, answers=(200,),
                               read=lambda _, status, content_type, body: (body, content_type))

    async def _get(self, url: str, *, image: bool, cap: int, answers: tuple[int, ...],
                   read: Callable[[str, int, str, bytes], T]) -> T:
        """What `read` makes of a GET's status, content type and body, retried while the failure (the request's,
        or `read`'s SourceError) is transient."""
        attempt = 0
        while True:
            try:
                return read(url, *await self._once(url, image=image, cap=cap, answers=answers))
            except SourceError as e:
                if e.lasting or attempt >= RETRIES:
                    raise
                wait = random.uniform(0, min(BACKOFF_CAP_S, self._backoff * 2 ** attempt))
                if e.retry_after is not None:
                    if e.retry_after > LONGEST_WAIT_S:
                        raise
                    wait = max(wait, e.retry_after)
                attempt += 1
                log.info("%s; trying again in %.1f s (%d of %d)", e, wait, attempt, RETRIES)
                await asyncio.sleep(wait)  # the backoff itself

    async def _once(self, url: str, *, image: bool, cap: int, answers: tuple[int, ...]) -> tuple[int, str, bytes]:
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url, image=image):
                raise SourceError(f"refused to contact {_host(url)}: not one of the metadata sources' hosts",
                                  lasting=True)
            where = origin(url)
            gate = self.gate(where)
            wait = gate.paused_for()
            if wait > LONGEST_WAIT_S:  # a limit the source set: asking again before it is over would not help
                raise SourceError(f"{_host(url)} asked for a pause of {wait:.0f} s more", retry_after=wait)
            async with gate:
                try:
                    async with self._session.get(url, headers=self._sent(where, image), allow_redirects=False,
                                                 timeout=self._timeout) as resp:
                        if resp.status in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                            url = urljoin(url, resp.headers["Location"])
                            continue
                        if resp.status in answers:
                            return resp.status, resp.content_type, await _body(resp, cap, url)
                        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
                        if resp.status == 429:
                            gate.pause(retry_after if retry_after is not None else self._backoff)
                        raise SourceError(f"{_host(url)} answered {resp.status}", retry_after=retry_after,
                                          lasting=resp.status not in TRANSIENT_STATUSES)
                except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError) as e:
                    # (ValueError: an address aiohttp cannot use, such as a host name IDNA refuses.)
                    raise SourceError(f"{_host(url)} could not be reached: {_reason(e)}") from None
        raise SourceError(f"{_host(url)} redirected more than {MAX_REDIRECTS} times", lasting=True)


async def _body(resp: aiohttp.ClientResponse, cap: int, url: str) -> bytes:
    """The body, refused past `cap` bytes whether or not the answer said its length up front."""
    if resp.content_length is not None and resp.content_length > cap:
        raise SourceError(f"{_host(url)} answered {resp.content_length} bytes, more than the {cap} accepted",
                          lasting=True)
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > cap:
            raise SourceError(f"{_host(url)} answered more than the {cap} bytes accepted", lasting=True)
    return bytes(body)


def _json_answer(url: str, status: int, content_type: str, body: bytes) -> Answer:
    if "json" not in content_type:
        raise SourceError(f"{_host(url)} answered {status} with {content_type or 'no content type'}, not "
                          "JSON (a check page or maintenance?)")
    try:
        doc = _scrubbed(json.loads(body, parse_constant=_no_constant))
    except (ValueError, RecursionError):
        raise SourceError(f"{_host(url)} answered {status} with JSON that does not parse") from None
    if not isinstance(doc, dict):  # every answer of theirs is an object: anything else is no answer
        raise SourceError(f"{_host(url)} answered {status} with JSON that is not an object")
    return Answer(status, doc)


def _scrubbed(value: Any) -> Any:
    """The document with each lone surrogate (`\\ud83d`, an emoji cut in half by a truncation at the source) as
    U+FFFD: JSON may escape one, but no database keeps one as text (PostgreSQL refused the whole record)."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    return value


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python reads them; the databases would refuse the record)."""
    raise ValueError(f"{name} is not JSON")


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2] or url[:100]


def _reason(error: BaseException) -> str:
    if isinstance(error, asyncio.TimeoutError):
        return "no answer in time"
    return str(error) or type(error).__name__
