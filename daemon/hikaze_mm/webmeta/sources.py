"""The sources' answers read into one shape, `WebRecord`, whichever source gave it.

Every value is untrusted: a field of the wrong type is read as absent, text is kept as given (HTML stays HTML; the
page sanitises it), lists are bounded. Which file of the answer is ours is decided by its hashes: Civitai's
`by-hash` route matches a hash of any kind, so an answer whose files list neither our sha256 nor our BLAKE3 is not
trusted to be about our file (Civitai has listed other files' hashes for a version), and a sha256 it lists that
differs from ours is reported, never adopted.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_WORDS = 200
MAX_TAGS = 100
MAX_IMAGES = 20
MAX_TEXT = 100_000
MAX_NAME = 500
MAX_IMAGE_META = 16 * 1024  # an image's generation parameters as JSON: a workflow beyond this is left out
# Civitai's NSFW levels are bit flags, from PG (1) through PG-13 (2), R (4) and X (8) to the highest (16). R and up
# is what the library calls NSFW.
NSFW_FROM_LEVEL = 4
SHA256_TEXT = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class WebImage:
    url: str
    kind: str  # image | video
    width: int | None
    height: int | None
    nsfw_level: int
    meta: dict[str, Any] | None  # the generation parameters the source gives for it


@dataclass(frozen=True)
class WebRecord:
    source: str  # civitai | civarchive
    model_id: int | None
    version_id: int | None
    model_name: str
    version_name: str
    model_type: str
    base_model: str
    trigger_words: list[str]
    description: str  # HTML, as the source wrote it
    tags: list[str]
    page_url: str
    nsfw_level: int
    images: list[WebImage] = field(default_factory=list)
    deleted: bool = False  # the source says the model was taken off Civitai
    # Our file among the answer's: confirmed by its sha256 or by its BLAKE3; the sha256 the source lists for it
    # when that is not ours (reported, never adopted).
    confirmed_by: str = "sha256"
    listed_sha256: str | None = None

    @property
    def nsfw(self) -> bool:
        return self.nsfw_level >= NSFW_FROM_LEVEL

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WebRecord:
        """A record as `to_json` stored it."""
        fields = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        fields["images"] = [WebImage(**{k: v for k, v in i.items() if k in WebImage.__dataclass_fields__})
                            for i in doc.get("images") or []]
        return cls(**fields)


class Unconfirmed(ValueError):
    """An answer none of whose files has our sha256 or BLAKE3."""


class NotARecord(ValueError):
    """A 200 whose document is not a version at all (`{}`, an error object): no answer, never "not found"."""


def civitai(version: Any, model: Any, sha256: str, blake3: str | None, base: str) -> WebRecord:
    """Civitai's `model-versions/by-hash` answer, with its model's (`models/{id}`: description, tags) when it was
    fetched. Raises Unconfirmed, NotARecord."""
    version = _dict(version)
    if _int(version.get("id")) is None:
        raise NotARecord("the answer is not a model version (it has no id)")
    model = _dict(model)
    about = _dict(version.get("model"))
    files = [_dict(f) for f in _list(version.get("files"))]
    confirmed_by, listed = _ours(((_dict(f.get("hashes")).get("SHA256"), _dict(f.get("hashes")).get("BLAKE3"))
                                  for f in files), sha256, blake3)
    model_id = _int(version.get("modelId")) or _int(model.get("id"))
    version_id = _int(version.get("id"))
    level = _int(version.get("nsfwLevel")) or _int(model.get("nsfwLevel")) or (
        NSFW_FROM_LEVEL if about.get("nsfw") is True or model.get("nsfw") is True else 1)
    return WebRecord(
        source="civitai", model_id=model_id, version_id=version_id,
        model_name=_text(about.get("name") or model.get("name"), MAX_NAME),
        version_name=_text(version.get("name"), MAX_NAME),
        model_type=_text(about.get("type") or model.get("type"), MAX_NAME),
        base_model=_text(version.get("baseModel"), MAX_NAME),
        trigger_words=_words(version.get("trainedWords")),
        description=_text(model.get("description") or version.get("description"), MAX_TEXT),
        tags=_words(model.get("tags"), MAX_TAGS),
        page_url=_page(base, model_id, version_id),
        nsfw_level=level,
        images=_images(version.get("images")),
        deleted=model.get("mode") == "TakenDown" or about.get("mode") == "TakenDown",
        confirmed_by=confirmed_by, listed_sha256=listed,
    )


def civarchive(answer: Any, sha256: str, blake3: str | None, base: str) -> WebRecord:
    """CivArchive's `sha256/{hash}` answer (the model, with the matched version under `version`; sometimes wrapped
    in `data`). Its page links to CivArchive's copy of the model. Raises Unconfirmed, NotARecord."""
    answer = _dict(answer)
    model = _dict(answer.get("data")) if "data" in answer else answer
    version = _dict(model.get("version"))
    if _int(version.get("id")) is None:
        raise NotARecord("the answer is not a model with its version (the version has no id)")
    files = [_dict(f) for f in _list(version.get("files"))]
    confirmed_by, listed = _ours(((f.get("sha256"), None) for f in files), sha256, blake3)
    model_id = _int(version.get("modelId")) or _int(model.get("id"))
    version_id = _int(version.get("id"))
    level = _int(version.get("nsfw_level")) or _int(model.get("nsfw_level")) or (
        NSFW_FROM_LEVEL if model.get("is_nsfw") is True else 1)
    return WebRecord(
        source="civarchive", model_id=model_id, version_id=version_id,
        model_name=_text(model.get("name"), MAX_NAME),
        version_name=_text(version.get("name"), MAX_NAME),
        model_type=_text(model.get("type"), MAX_NAME),
        base_model=_text(version.get("baseModel") or version.get("base_model"), MAX_NAME),
        trigger_words=_words(version.get("trigger") or version.get("trainedWords")),
        description=_text(model.get("description") or version.get("description"), MAX_TEXT),
        tags=_words(model.get("tags"), MAX_TAGS),
        page_url=_page(base, model_id, version_id),
        nsfw_level=level,
        images=_images(version.get("images")),
        deleted=bool(model.get("deletedAt") or version.get("deletedAt")),
        confirmed_by=confirmed_by, listed_sha256=listed,
    )


def _ours(hashes: Any, sha256: str, blake3: str | None) -> tuple[str, str | None]:
    """How our file is confirmed among the answer's files (each a (sha256, BLAKE3) as listed), and the sha256 the
    source lists for it when that differs from ours."""
    listed: list[tuple[str | None, str | None]] = [
        (h.lower() if isinstance(h, str) else None, b.lower() if isinstance(b, str) else None) for h, b in hashes]
    if any(h == sha256 for h, _ in listed):
        return "sha256", None
    if blake3 is not None:
        for h, b in listed:
            if b == blake3:
                # Kept only when it reads as a sha256: it is shown and stored, and the answer's text is anyone's.
                return "blake3", h if h is not None and SHA256_TEXT.fullmatch(h) else None
    shown = ", ".join(h for h, _ in listed if h) or "none"
    raise Unconfirmed(f"the answer's files list other hashes ({shown[:300]}), not this file's")


def _page(base: str, model_id: int | None, version_id: int | None) -> str:
    if model_id is None:
        return ""
    return f"{base}/models/{model_id}" + (f"?modelVersionId={version_id}" if version_id is not None else "")


def _images(value: Any) -> list[WebImage]:
    found = []
    for item in _list(value)[:MAX_IMAGES]:
        image = _dict(item)
        url = image.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            continue
        meta = image.get("meta")
        if isinstance(meta, dict) and len(json.dumps(meta, default=str)) > MAX_IMAGE_META:
            meta = {k: v for k, v in meta.items() if k != "comfy"}  # ComfyUI's whole workflow, first to go
            if len(json.dumps(meta, default=str)) > MAX_IMAGE_META:
                meta = None
        found.append(WebImage(
            url=url, kind="video" if image.get("type") == "video" else "image",
            width=_int(image.get("width")), height=_int(image.get("height")),
            nsfw_level=_int(image.get("nsfwLevel")) or _int(image.get("nsfw_level")) or 1,
            meta=meta if isinstance(meta, dict) else None,
        ))
    return found


def _words(value: Any, limit: int = MAX_WORDS) -> list[str]:
    """Distinct non-empty strings, in order, each trimmed; Civitai writes several trigger words in one string
    separated by commas, which stay one entry as the author wrote it."""
    seen: dict[str, None] = {}
    for item in _list(value):
        if isinstance(item, str) and item.strip():
            seen.setdefault(item.strip()[:MAX_NAME], None)
    return list(seen)[:limit]


def _text(value: Any, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
