"""A model edit as a client sends it (PATCH /api/models/{sha256}) and tag names (POST and PATCH /api/tags), read
into the library's `ModelEdit` and clean tag names. Only the user fields of the metadata are taken, so a typo is
an error instead of a silently kept key."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlparse

from hikaze_mm.api.errors import BadRequest
from hikaze_mm.library import edit_guard
from hikaze_mm.library.metadata import LIST_FIELDS, MAX_ITEMS, MAX_TEXT, USER_FIELDS
from hikaze_mm.library.service import ModelEdit
from hikaze_mm.store.records import MAX_TAG_NAME, MAX_TAGS

MAX_TAG = MAX_TAG_NAME
MAX_NAME = 256
PATCH_FIELDS = ("name", "tags", "tags_add", "tags_remove", "meta_json", "meta_add", "meta_remove", "if_unchanged")


def clean_tag(value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest("a tag name must be a string")
    name = unicodedata.normalize("NFC", value).strip()
    if not name or len(name) > MAX_TAG:
        raise BadRequest(f"a tag name must be 1 to {MAX_TAG} characters, got {value[:80]!r}")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise BadRequest(f"a tag name may not hold control characters: {value[:80]!r}")
    return name


def _tag_list(body: dict[str, Any], key: str) -> list[str]:
    """The list of tag names under `key` (empty when absent), each checked, repeats (any case) dropped."""
    value = body.get(key, [])
    if not isinstance(value, list) or len(value) > MAX_TAGS:
        raise BadRequest(f"`{key}` must be a list of at most {MAX_TAGS} tag names")
    names: list[str] = []
    for item in value:
        name = clean_tag(item)
        if name.lower() not in (n.lower() for n in names):
            names.append(name)
    return names


def model_edit(body: dict[str, Any]) -> ModelEdit:
    unknown = sorted(set(body) - set(PATCH_FIELDS))
    if unknown:
        raise BadRequest(f"unknown field(s) {', '.join(unknown)}; a model takes {', '.join(PATCH_FIELDS)}")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name.strip()) > MAX_NAME):
        raise BadRequest(f"`name` must be a string of at most {MAX_NAME} characters")
    tags = _tag_list(body, "tags") if "tags" in body else None
    tags_add = _tag_list(body, "tags_add")
    tags_remove = _tag_list(body, "tags_remove")
    if tags is not None and (tags_add or tags_remove):
        raise BadRequest("`tags` replaces the list that `tags_add` / `tags_remove` edit; send one or the other")
    both = [t for t in tags_add if t.lower() in {r.lower() for r in tags_remove}]
    if both:
        raise BadRequest(f"{both[0]!r} is in both `tags_add` and `tags_remove`")
    change = _meta_change(body["meta_json"]) if "meta_json" in body else None
    meta_add, meta_remove = _list_edits(body.get("meta_add", {}), body.get("meta_remove", {}), change or {})
    if_unchanged = None
    if "if_unchanged" in body:
        try:
            if_unchanged = edit_guard.validate(body["if_unchanged"])
        except edit_guard.GuardError as e:
            raise BadRequest(str(e)) from None
    return ModelEdit(name=name.strip() if name is not None else None, tags=tags, tags_add=tags_add,
                     tags_remove=tags_remove, meta_change=change, meta_add=meta_add, meta_remove=meta_remove,
                     if_unchanged=if_unchanged)


# -- metadata ---------------------------------------------------------------------------------------------------
def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"`meta_json.{key}` must be a string")
    if len(value) > MAX_TEXT:
        raise BadRequest(f"`meta_json.{key}` is longer than {MAX_TEXT} characters")
    return value


def _strings(key: str, value: Any, where: str = "meta_json") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"`{where}.{key}` must be a list of strings")
    if len(value) > MAX_ITEMS:
        raise BadRequest(f"`{where}.{key}` has more than {MAX_ITEMS} items")
    cleaned: list[str] = []
    for v in value:
        v = v.strip()
        if v and v not in cleaned:
            cleaned.append(v)
    return cleaned


def _links(value: Any, where: str = "meta_json") -> list[str]:
    links = _strings("community_links", value, where)
    for link in links:
        try:
            parsed = urlparse(link)
        except ValueError:  # a malformed bracketed host, "http://[x"
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise BadRequest(f"`{where}.community_links` holds {link[:200]!r}, which is not an http(s) URL")
    return links


def _meta_change(meta: Any) -> dict[str, Any]:
    """`meta_json`: known fields only, each of the right type."""
    if not isinstance(meta, dict):
        raise BadRequest("`meta_json` must be an object")
    unknown = sorted(set(meta) - set(USER_FIELDS))
    if unknown:
        raise BadRequest(f"`meta_json` has unknown field(s) {', '.join(unknown)}; known: {', '.join(USER_FIELDS)}")
    clean: dict[str, Any] = {}
    for key, value in meta.items():
        if key in ("description", "notes"):
            clean[key] = _text(key, value)
        elif key == "community_links":
            clean[key] = _links(value)
        elif key == "trigger_words":
            clean[key] = _strings(key, value)
        elif key in ("nsfw", "favorite", "never_fetch"):
            if not isinstance(value, bool):
                raise BadRequest(f"`meta_json.{key}` must be true or false")
            clean[key] = value
        else:
            if not isinstance(value, dict) or set(value) - {"positive", "negative"}:
                raise BadRequest("`meta_json.prompts` must be an object with `positive` and/or `negative`")
            clean[key] = {k: _text(f"prompts.{k}", v) for k, v in value.items()}
    return clean


def _list_edit(where: str, value: Any, *, adding: bool) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise BadRequest(f"`{where}` must be an object of lists, such as {{\"trigger_words\": [\"word\"]}}")
    unknown = sorted(set(value) - set(LIST_FIELDS))
    if unknown:
        raise BadRequest(f"`{where}` has unknown field(s) {', '.join(unknown)}; known: {', '.join(LIST_FIELDS)}")
    # A link is checked on its way in only: taking out one that is not a URL must stay possible.
    return {key: _links(items, where) if adding and key == "community_links" else _strings(key, items, where)
            for key, items in value.items()}


def _list_edits(add: Any, remove: Any, replaced: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """`meta_add` / `meta_remove` ({} when absent), checked as `meta_json` checks whole lists. An item both added
    and removed, or a list both replaced (`replaced`, the checked `meta_json`) and edited, is an error: no order of
    the two would be what the client meant."""
    added = _list_edit("meta_add", add, adding=True)
    removed = _list_edit("meta_remove", remove, adding=False)
    for key in (*added, *removed):
        if key in replaced:
            raise BadRequest(f"`meta_json.{key}` replaces the list that `meta_add` / `meta_remove` edit; send one "
                             "or the other")
    for key, items in added.items():
        both = [item for item in items if item in removed.get(key, ())]
        if both:
            raise BadRequest(f"{both[0][:200]!r} is in both `meta_add.{key}` and `meta_remove.{key}`")
    return added, removed
