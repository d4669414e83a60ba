"""One sha256 looked up in the configured sources, in order, until one knows the file.

The outcome is `found` (with the record), `not_found` (every source answered that it does not know the file: worth
remembering for a while) or `failed` (some source gave no answer to go by: an outage, a limit, a timeout, a
document that is no answer; never remembered as "not found", so the next lookup asks again). Civitai's version
answer is completed by its model's (description and tags); a model Civitai no longer has is looked up on
CivArchive, the next source, and so is one Civitai took down (it keeps the text but not the pictures). A record
found after an earlier source gave no answer is `partial`: the earlier source is to be asked again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import aiohttp

from hikaze_mm.webmeta.client import BACKOFF_BASE_S, TIMEOUT, Answer, Origin, SourceError, WebClient, origin
from hikaze_mm.webmeta.sources import NotARecord, Unconfirmed, WebRecord, civarchive, civitai

FOUND, NOT_FOUND, FAILED = "found", "not_found", "failed"


@dataclass(frozen=True)
class Outcome:
    state: str  # FOUND | NOT_FOUND | FAILED
    record: WebRecord | None = None
    # What the sources said besides: an error per failed source, an answer about another file.
    notes: list[str] = field(default_factory=list)
    retry_after: float | None = None  # the longest wait a source asked for
    partial: bool = False  # found, but a source before the one that knew it gave no answer


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
        taken_down: WebRecord | None = None  # what a source says of a model it took down, if no later one knows more
        for site in self._sites:
            try:
                record = await (self._civitai if site.name == "civitai" else self._civarchive)(site, sha256, blake3)
            except (SourceError, NotARecord) as e:
                failed = True
                notes.append(f"{site.name}: {e}")
                if isinstance(e, SourceError) and e.retry_after is not None:
                    retry_after = max(retry_after or 0.0, e.retry_after)
                continue
            except Unconfirmed as e:
                notes.append(f"{site.name}: {e}")
                continue
            if record is None:
                continue
            if record.deleted and not record.images and taken_down is None:
                notes.append(f"{site.name}: the model was taken down; its pictures are looked for on the next source")
                taken_down = record
                continue
            if taken_down is not None:  # the archive's copy, of a model the first source says was taken down
                record = replace(record, deleted=True)
            return Outcome(FOUND, record, notes, retry_after, partial=failed)
        if taken_down is not None:
            return Outcome(FOUND, taken_down, notes, retry_after, partial=failed)
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


# Where Civitai's answers, and CivArchive's copies of them, say the previews are: Civitai's image CDN, over https.
# Only this one origin, whichever sources are on: a source with Civitai turned off still names its pictures there.
CIVITAI_IMAGES: Origin = ("https", "image.civitai.com", 443)


def build(session: aiohttp.ClientSession, sites: list[SourceSite], rate: float, civitai_key: str | None,
          user_agent: str, *, timeout: aiohttp.ClientTimeout = TIMEOUT, backoff: float = BACKOFF_BASE_S) -> Lookup:
    """A lookup over these sites, in order: only their origins are contacted, and for images Civitai's image CDN;
    the key goes to Civitai's origin alone."""
    headers: dict[Origin, dict[str, str]] = {}
    for site in sites:
        sent = {"Accept": "application/json", "User-Agent": user_agent}
        if site.name == "civitai" and civitai_key:
            sent["Authorization"] = f"Bearer {civitai_key}"
        headers[origin(site.base)] = sent
    return Lookup(WebClient(session, rate, headers, frozenset({CIVITAI_IMAGES}), timeout=timeout, backoff=backoff),
                  sites)
