"""A model's metadata: the fields a user edits, their checks, and how two records combine on import.

Stored in `meta_json` beside `header` (what the file's own header says) and, on pending rows, `sidecars` and
`legacy` (what other tools and the first version knew). The user fields are the ones below; nothing else is
accepted from a client, so a typo is an error instead of a silently kept key.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from hikaze_mm.store.interfaces import MetadataRules

USER_FIELDS = ("description", "community_links", "prompts", "trigger_words", "nsfw", "notes")
LIST_FIELDS = ("trigger_words", "community_links")  # the fields `meta_add` / `meta_remove` edit item by item
MAX_TEXT = 100_000
MAX_ITEMS = 200


class MetaError(ValueError):
    pass


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise MetaError(f"`meta_json.{key}` must be a string")
    if len(value) > MAX_TEXT:
        raise MetaError(f"`meta_json.{key}` is longer than {MAX_TEXT} characters")
    return value


def _strings(key: str, value: Any, where: str = "meta_json") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MetaError(f"`{where}.{key}` must be a list of strings")
    if len(value) > MAX_ITEMS:
        raise MetaError(f"`{where}.{key}` has more than {MAX_ITEMS} items")
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
            raise MetaError(f"`{where}.community_links` holds {link[:200]!r}, which is not an http(s) URL")
    return links


def validate(meta: Any) -> dict[str, Any]:
    """A client's metadata change: known fields only, each of the right type. Raises MetaError."""
    if not isinstance(meta, dict):
        raise MetaError("`meta_json` must be an object")
    unknown = sorted(set(meta) - set(USER_FIELDS))
    if unknown:
        raise MetaError(f"`meta_json` has unknown field(s) {', '.join(unknown)}; known: {', '.join(USER_FIELDS)}")
    clean: dict[str, Any] = {}
    for key, value in meta.items():
        if key in ("description", "notes"):
            clean[key] = _text(key, value)
        elif key == "community_links":
            clean[key] = _links(value)
        elif key == "trigger_words":
            clean[key] = _strings(key, value)
        elif key == "nsfw":
            if not isinstance(value, bool):
                raise MetaError("`meta_json.nsfw` must be true or false")
            clean[key] = value
        else:
            if not isinstance(value, dict) or set(value) - {"positive", "negative"}:
                raise MetaError("`meta_json.prompts` must be an object with `positive` and/or `negative`")
            clean[key] = {k: _text(f"prompts.{k}", v) for k, v in value.items()}
    return clean


def _list_edit(where: str, value: Any, *, adding: bool) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        raise MetaError(f"`{where}` must be an object of lists, such as {{\"trigger_words\": [\"word\"]}}")
    unknown = sorted(set(value) - set(LIST_FIELDS))
    if unknown:
        raise MetaError(f"`{where}` has unknown field(s) {', '.join(unknown)}; known: {', '.join(LIST_FIELDS)}")
    # A link is checked on its way in only: taking out one that is not a URL must stay possible.
    return {key: _links(items, where) if adding and key == "community_links" else _strings(key, items, where)
            for key, items in value.items()}


def list_edits(add: Any, remove: Any, replaced: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """A client's `meta_add` / `meta_remove` ({} when absent), checked as `validate` checks whole lists. An item
    both added and removed, or a list both replaced (`replaced`, the checked `meta_json`) and edited, is an error:
    no order of the two would be what the client meant. Raises MetaError."""
    added = _list_edit("meta_add", add, adding=True)
    removed = _list_edit("meta_remove", remove, adding=False)
    for key in (*added, *removed):
        if key in replaced:
            raise MetaError(f"`meta_json.{key}` replaces the list that `meta_add` / `meta_remove` edit; send one "
                            "or the other")
    for key, items in added.items():
        both = [item for item in items if item in removed.get(key, ())]
        if both:
            raise MetaError(f"{both[0][:200]!r} is in both `meta_add.{key}` and `meta_remove.{key}`")
    return added, removed


def edited_lists(stored: dict[str, Any], added: dict[str, list[str]], removed: dict[str, list[str]]) -> dict[str, Any]:
    """The stored lists with the removed items taken out and the added ones not there yet appended, in order.
    Applied to the metadata as it stands in the write, so edits of one list from two tabs both stay. Raises
    MetaError when a list would grow past the limit."""
    result = dict(stored)
    for key in dict.fromkeys([*removed, *added]):
        value = stored.get(key)
        current = value if isinstance(value, list) else [value] if isinstance(value, str) and value else []
        items = [item for item in current if item not in removed.get(key, ())]
        items += [item for item in added.get(key, ()) if item not in items]
        if len(items) > MAX_ITEMS:
            raise MetaError(f"`meta_json.{key}` would have more than {MAX_ITEMS} items; remove some first")
        result[key] = items
    return result


def is_empty(value: Any) -> bool:
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    return value is None or value == "" or value == [] or value is False


def user_fields(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: meta[k] for k in USER_FIELDS if k in meta and not is_empty(meta[k])}


def patched(stored: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    """PATCH semantics: the named keys replace the stored ones; `prompts` merges key by key."""
    result = dict(stored)
    for key, value in change.items():
        if key == "prompts" and isinstance(result.get("prompts"), dict):
            result["prompts"] = {**result["prompts"], **value}
        else:
            result[key] = value
    return result


def patch(stored: dict[str, Any], change: dict[str, Any], added: dict[str, list[str]],
          removed: dict[str, list[str]]) -> dict[str, Any]:
    """A PATCH of the metadata, applied by the store to the record as it stands in the write: the changed keys
    (`patched`), then the list items put in and taken out (`edited_lists`). Raises MetaError."""
    return edited_lists(patched(stored, change), added, removed)


def override(model: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Import with `override`: every user field the incoming record has a value for replaces the model's."""
    result = dict(model)
    for key, value in user_fields(incoming).items():
        if key == "prompts":
            result["prompts"] = {**(result.get("prompts") or {}), **{k: v for k, v in value.items() if v}}
        else:
            result[key] = value
    if incoming.get("header"):
        result["header"] = incoming["header"]
    return result


def merge(model: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Import with `merge`: the model wins; only its empty fields are filled, key by key."""
    result = dict(model)
    for key, value in user_fields(incoming).items():
        if key == "prompts":
            mine = dict(result.get("prompts") or {})
            for k, v in value.items():
                if v and not mine.get(k):
                    mine[k] = v
            result["prompts"] = mine
        elif is_empty(result.get(key)):
            result[key] = value
    if not result.get("header") and incoming.get("header"):
        result["header"] = incoming["header"]
    return result


def for_new_model(pending: dict[str, Any]) -> dict[str, Any]:
    """What a freshly imported model keeps of its pending row's metadata."""
    result = user_fields(pending)
    for kept in ("header", "legacy"):
        if pending.get(kept):
            result[kept] = pending[kept]
    return result


# The rules as the store applies them inside its transactions (it never imports this module).
RULES = MetadataRules(merge=merge, override=override, for_new_model=for_new_model, patch=patch,
                      user_fields=user_fields)
