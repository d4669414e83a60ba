"""What a record from the web does to a model's metadata: it fills, it never overrides the user.

A fetched value goes into a user field only when the user has not set that field: the field is empty, or holds
what an earlier fetch put there, and the user never edited it (`user_set`, which every PATCH of the field notes,
whether it set, changed or cleared it). Each field a fetch filled remembers its source and time (`fetched`), shown
read-only in the details: so does the base model the web gave a model whose header named none, each fetch's tags
(`fetched.tags`, a list of {source, at, names}: only tags the model still has, so at most its tag limit) and each
image (under `web.images`). The record's tags join as sidecar tags do: never one the user took off the model. The
record itself is kept under `web` (names, links, what it says of the file), with the images it gave.
"""

from __future__ import annotations

from typing import Any

from hikaze_mm.inspect.sidecar_tags import sidecar_tags
from hikaze_mm.library.tag_joining import joining, names_in
from hikaze_mm.webmeta.sources import NSFW_FROM_LEVEL

# The record's fields a user field is filled from; nsfw only ever turns on (a model the source calls safe may be
# anything but, for the user).
FILLED = ("description", "trigger_words", "community_links", "nsfw")
# What `web` keeps of the record: the names and facts that are the source's, not a user field's.
KEPT = ("source", "model_id", "version_id", "model_name", "version_name", "model_type", "base_model", "page_url",
        "nsfw_level", "deleted", "confirmed_by", "listed_sha256")


def values(record: dict[str, Any]) -> dict[str, Any]:
    """The user-field values a record offers (only those it has)."""
    offered: dict[str, Any] = {}
    if isinstance(record.get("description"), str) and record["description"].strip():
        offered["description"] = record["description"]
    words = [w for w in record.get("trigger_words") or [] if isinstance(w, str)]
    if words:
        offered["trigger_words"] = words
    if isinstance(record.get("page_url"), str) and record["page_url"]:
        offered["community_links"] = [record["page_url"]]
    level = record.get("nsfw_level")
    if isinstance(level, int) and level >= NSFW_FROM_LEVEL:
        offered["nsfw"] = True
    return offered


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def web_fill(stored: dict[str, Any], record: dict[str, Any], current_tags: list[str], now: float,
             fills_base_model: bool) -> tuple[dict[str, Any], list[str]]:
    """The model's record with the web record's values in the fields it may fill, the record noted under `web`;
    and the record's tags the model lacks and the user never took off it, as many as fit. The store says whether
    it fills the model's base model with the record's (`fills_base_model`: the model has none), to be marked too.
    A model the user keeps away from the web (`never_fetch`, set while the lookup ran) takes nothing."""
    if stored.get("never_fetch") is True:
        return stored, []
    result = dict(stored)
    user_set = set(names_in(stored, "user_set"))
    fetched = dict(stored["fetched"]) if isinstance(stored.get("fetched"), dict) else {}
    mark = {"source": record.get("source"), "at": now}
    for key, value in values(record).items():
        if key in user_set or not (_empty(stored.get(key)) or key in fetched):
            continue
        result[key] = value
        fetched[key] = dict(mark)
    if fills_base_model:
        fetched["base_model"] = dict(mark)
    offered = record.get("tags")
    taken = joining(sidecar_tags([n for n in offered if isinstance(n, str)] if isinstance(offered, list) else []),
                    current_tags, stored)
    groups = [*tag_marks(fetched, current_tags), *([{**mark, "names": taken}] if taken else [])]
    if groups:
        fetched["tags"] = groups
    else:
        fetched.pop("tags", None)
    if fetched:
        result["fetched"] = fetched
    result["web"] = web_summary(stored.get("web"), record, now)
    return result, taken


def tag_marks(fetched: Any, tags: list[str]) -> list[dict[str, Any]]:
    """The fetches' tag marks (`fetched.tags`) of those of these tags they name: a tag the model no longer has (the
    user took it off, renamed or deleted it) is no longer the web's. A fetch none of whose tags are left drops out."""
    groups = fetched.get("tags") if isinstance(fetched, dict) else None
    have = {name.casefold() for name in tags}
    kept = []
    for group in groups if isinstance(groups, list) else []:
        names = [n for n in names_in(group, "names") if n.casefold() in have] if isinstance(group, dict) else []
        if names:
            kept.append({**group, "names": names})
    return kept


def with_tag_marks(meta: dict[str, Any], tags: list[str]) -> dict[str, Any]:
    """The record with its tag marks kept to these tags (the model's, as they stand)."""
    fetched = meta.get("fetched")
    if not isinstance(fetched, dict) or "tags" not in fetched:
        return meta
    groups = tag_marks(fetched, tags)
    rest = {k: v for k, v in fetched.items() if k != "tags"}
    kept = {**rest, "tags": groups} if groups else rest
    return {**meta, "fetched": kept} if kept else {k: v for k, v in meta.items() if k != "fetched"}


def web_summary(earlier: Any, record: dict[str, Any], now: float, sha256: str | None = None) -> dict[str, Any]:
    """What a record's `web` entry keeps (of a model or a pending row): the source's facts, and the images taken
    from it so far. The images the caller took this time carry their `seq` (numbered as the model's or the row's)
    and the source and time they came from: known by their address, so a later fetch takes none of them again, not
    even one the user deleted. A row's entry names the content it is about (`sha256`): its file may change before
    it is imported."""
    web = dict(earlier) if isinstance(earlier, dict) else {}
    web.update({key: record.get(key) for key in KEPT})
    if sha256 is not None:
        web["sha256"] = sha256
    web["checked_at"] = now
    taken = [{**{k: image.get(k) for k in ("url", "seq", "meta", "nsfw_level", "width", "height")},
              "source": record.get("source"), "at": now}
             for image in record.get("images") or [] if isinstance(image, dict) and "seq" in image]
    before = web.get("images")
    web["images"] = [*(before if isinstance(before, list) else []), *taken]
    return web


def renumbered(meta: dict[str, Any], seqs: dict[int, int], sha256: str) -> dict[str, Any]:
    """A pending row's `web` entry for the model of content `sha256` it becomes: its images numbered as the
    model's (`seqs`, row's number -> model's); one the row no longer has keeps its address only, so it is not
    fetched again. An entry about another content (the file changed since) is left behind."""
    web = meta.get("web")
    if isinstance(web, dict) and web.get("sha256", sha256) != sha256:
        return {k: v for k, v in meta.items() if k != "web"}
    if not isinstance(web, dict) or not isinstance(web.get("images"), list):
        return meta
    images = [{**i, "seq": seqs.get(i["seq"]) if isinstance(i.get("seq"), int) else None}
              for i in web["images"] if isinstance(i, dict)]
    return {**meta, "web": {**web, "images": images}}


def fetched_image_urls(meta: dict[str, Any]) -> set[str]:
    """The addresses of the images earlier fetches took for this model."""
    web = meta.get("web")
    images = web.get("images") if isinstance(web, dict) else None
    return {i["url"] for i in images if isinstance(i, dict) and isinstance(i.get("url"), str)} \
        if isinstance(images, list) else set()


def noted_user_edit(meta: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The record after the user edited these fields: theirs from now on, no longer the web's."""
    if not keys:
        return meta
    result = not_fetched(meta, keys)
    result["user_set"] = sorted(set(names_in(meta, "user_set")) | keys)
    return result


def not_fetched(meta: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    """The record with these fields no longer marked as the web's (something else put their values there)."""
    result = dict(meta)
    if isinstance(meta.get("fetched"), dict):
        fetched = {k: v for k, v in meta["fetched"].items() if k not in keys}
        if fetched:
            result["fetched"] = fetched
        else:
            result.pop("fetched")
    return result

