"""One sha256 looked up in the configured sources, in order, until one knows the file.

The outcome is `found` (with the record), `not_found` (every source answered that it does not know the file: worth
remembering for a while) or `failed` (some source gave no answer to go by: an outage, a limit, a timeout; never
remembered as "not found", so the next lookup asks again). Civitai's version answer is completed by its model's
(description and tags); a model Civitai no longer has is looked up on CivArchive, the next source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from hikaze_mm.webmeta.client import BACKOFF_BASE_S, TIMEOUT, Answer, SourceError, WebClient, origin
from hikaze_mm.webmeta.sources import Unconfirmed, WebRecord, civarchive, civitai

FOUND, NOT_FOUND, FAILED = "found", "not_found", "failed"


@dataclass(frozen=True)
class Outcome:
    state: str  # FOUND | NOT_FOUND | FAILED
    record: WebRecord | None = None
    # What the sources said besides: an error per failed source, an answer about another file.
    notes: list[str] = field(default_factory=list)
    retry_after: float | None = None  # the longest wait a source asked for


@dataclass(frozen=True)
class SourceSite:
    name: str  # civitai | civarchive
    base: str  # its address, no trailing slash


class Lookup:
    def __init__(self, client: WebClient, sites: list[SourceSite]):
        self.client = client  # also what the images a record names are fetched with
        self._sites = sites

    async def lookup(self, sha256: str, blake3: str | None) -> Outcome:
        notes: list[str] = []
        failed = False
        retry_after: float | None = None
        for site in self._sites:
            try:
                record = await (self._civitai if site.name == "civitai" else self._civarchive)(site, sha256, blake3)
            except SourceError as e:
                failed = True
                notes.append(f"{site.name}: {e}")
                if e.retry_after is not None:
                    retry_after = max(retry_after or 0.0, e.retry_after)
                continue
            except Unconfirmed as e:
                notes.append(f"{site.name}: {e}")
                continue
            if record is not None:
                return Outcome(FOUND, record, notes)
        return Outcome(FAILED if failed else NOT_FOUND, None, notes, retry_after)

    async def _civitai(self, site: SourceSite, sha256: str, blake3: str | None) -> WebRecord | None:
        version = await self.client.json(f"{site.base}/api/v1/model-versions/by-hash/{sha256}")
        if not _known(version):
            return None
        model_id = version.doc.get("modelId")
        model: object = None
        if isinstance(model_id, int) and not isinstance(model_id, bool):
            # A model Civitai answers 404 for while its version answers is a known passing state of theirs: the
            # version's own fields still stand, and a later lookup fills the rest.
            answer = await self.client.json(f"{site.base}/api/v1/models/{model_id}")
            model = answer.doc if _known(answer) else None
        return civitai(version.doc, model, sha256, blake3, site.base)

    async def _civarchive(self, site: SourceSite, sha256: str, blake3: str | None) -> WebRecord | None:
        answer = await self.client.json(f"{site.base}/api/sha256/{sha256}")
        return civarchive(answer.doc, sha256, blake3, site.base) if _known(answer) else None


def _known(answer: Answer) -> bool:
    """Whether the source knows the file: a 200 with a document (a 404 is its "not found")."""
    return answer.status == 200 and isinstance(answer.doc, dict)


def civitai_image_host(host: str) -> bool:
    """Civitai serves previews from hosts of its own domain (image.civitai.com and others over the years)."""
    return host == "civitai.com" or host.endswith(".civitai.com")


def build(session: aiohttp.ClientSession, sites: list[SourceSite], rate: float, civitai_key: str | None,
          user_agent: str, *, timeout: aiohttp.ClientTimeout = TIMEOUT, backoff: float = BACKOFF_BASE_S) -> Lookup:
    """A lookup over these sites, in order: only their origins and Civitai's image hosts are contacted, and the key
    goes to Civitai's origin alone."""
    headers: dict[tuple[str, str, int], dict[str, str]] = {}
    for site in sites:
        sent = {"Accept": "application/json", "User-Agent": user_agent}
        if site.name == "civitai" and civitai_key:
            sent["Authorization"] = f"Bearer {civitai_key}"
        headers[origin(site.base)] = sent
    return Lookup(WebClient(session, rate, headers, civitai_image_host, timeout=timeout, backoff=backoff), sites)
