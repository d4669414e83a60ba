"""A model's metadata: the fields a user edits, their limits, and how two records combine on edit and import.

Stored in `meta_json` beside `header` (what the file's own header says) and, on pending rows, `sidecars` and `legacy`
(what other tools and the first version knew). A model's record also remembers where its tags came from:
`sidecar_tags` (the tags an import took from sidecars) and `removed_tags` (the tags the user took off, which neither
sidecars nor the web bring back); and what came from the web, the tags it added among it (`library.fetched`). The
user fields are the ones below: a client's edit names no others and keeps to these limits (the API checks both), so
a typo is an error instead of a silently kept key.
"""

from __future__ import annotations

from typing import Any

from hikaze_mm.library.fetched import FILLED, not_fetched, noted_user_edit, web_fill, with_tag_marks
from hikaze_mm.library.tag_joining import joining, names_in
from hikaze_mm.store.interfaces import MetadataRules

USER_FIELDS = ("description", "community_links", "prompts", "trigger_words", "nsfw", "favorite", "notes",
               "never_fetch")
LIST_FIELDS = ("trigger_words", "community_links")  # the fields `meta_add` / `meta_remove` edit item by item
MAX_TEXT = 100_000
MAX_ITEMS = 200
# The tags taken off a model that are remembered; the oldest are forgotten first. A bound, so that years of edits
# cannot grow the record without end.
MAX_REMOVED_TAGS = 1000


class MetaError(ValueError):
    pass


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
    (`patched`), then the list items put in and taken out (`edited_lists`); every field it names that a fetch
    from the web could fill is the user's from now on (no fetch changes it again). Raises MetaError."""
    return noted_user_edit(edited_lists(patched(stored, change), added, removed),
                           {*change, *added, *removed} & set(FILLED))


def override(model: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
    """Import with `override`: every user field the incoming record has a value for replaces the model's, and so
    does a base model its header names."""
    replaced = user_fields(incoming)
    base = incoming.get("base_model")
    header_base = {"base_model"} if isinstance(base, str) and base and base != "unknown" else set()
    result = not_fetched(model, set(replaced) | header_base)  # what replaced them is not the web's
    for key, value in replaced.items():
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
    """What a freshly imported model keeps of its pending row's metadata (its `web` entry numbered as the model's
    images by the importer)."""
    result = user_fields(pending)
    for kept in ("header", "legacy", "web"):
        if pending.get(kept):
            result[kept] = pending[kept]
    return result


def take_sidecar_tags(model: dict[str, Any], incoming: dict[str, Any],
                      current: list[str]) -> tuple[dict[str, Any], list[str]]:
    """The tags the incoming record's sidecars name that the model (whose tags are `current`) lacks and the user
    never took off it, as many as fit under the model's limit; and the model's record with them noted in
    `sidecar_tags`. Tags only ever join: the model keeps every tag it has, and one the user has stays theirs."""
    sidecars = incoming.get("sidecars")
    taken = joining(names_in(sidecars, "tags") if isinstance(sidecars, dict) else [], current, model)
    if not taken:
        return model, []
    return {**model, "sidecar_tags": [*names_in(model, "sidecar_tags"), *taken]}, taken


def tags_edited(model: dict[str, Any], before: list[str], after: list[str]) -> dict[str, Any]:
    """The model's record after the user changed its tags from `before` to `after`: a tag taken off is remembered
    as removed (and is no longer the sidecar's or the web's), one put (back) on is forgotten as removed."""
    was = {name.casefold() for name in before}
    now = {name.casefold() for name in after}
    gone = [name for name in before if name.casefold() not in now]
    came = now - was
    dropped = was - now
    removed = [name for name in names_in(model, "removed_tags")
               if name.casefold() not in came and name.casefold() not in dropped] + gone
    sidecar = [name for name in names_in(model, "sidecar_tags") if name.casefold() not in dropped]
    result = dict(with_tag_marks(model, after))
    for key, names in (("removed_tags", removed[-MAX_REMOVED_TAGS:]), ("sidecar_tags", sidecar)):
        if names:
            result[key] = names
        else:
            result.pop(key, None)
    return result


# The rules as the store applies them inside its transactions (it never imports this module).
RULES = MetadataRules(merge=merge, override=override, for_new_model=for_new_model, patch=patch,
                      user_fields=user_fields, take_sidecar_tags=take_sidecar_tags, tags_edited=tags_edited,
                      web_fill=web_fill, user_edited=noted_user_edit)
