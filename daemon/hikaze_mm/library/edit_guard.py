"""Compare-and-set for a PATCH's single-valued fields: a client names the value each field had when it loaded the
model (`if_unchanged`), and the edit is refused when one of them moved since, so a save from a second tab never
silently overwrites what the first one wrote. Lists need no guard: they are edited item by item.
"""

from __future__ import annotations

from typing import Any

from hikaze_mm.library import metadata as meta_mod

# The guarded fields, by their place in a model's answer: a name, or a metadata key (a prompt by its half).
TEXT_FIELDS = ("name", "meta_json.description", "meta_json.notes", "meta_json.prompts.positive",
               "meta_json.prompts.negative")
FIELDS = (*TEXT_FIELDS, "meta_json.nsfw")


class GuardError(ValueError):
    """A malformed `if_unchanged`."""


class Moved(Exception):
    """Fields whose stored value moved from the one the client started from; nothing was written."""

    def __init__(self, fields: list[str], changed: dict[str, Any]):
        super().__init__(f"{', '.join(fields)} changed since this edit started from them; nothing was saved. Load "
                         "the model again, or send the edit again with the values now stored in `if_unchanged`")
        self.changed = changed


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GuardError(f"`{where}` must be an object")
    return value


def _flatten(value: Any) -> dict[str, Any]:
    """{"meta_json": {"prompts": {"positive": v}}} as {"meta_json.prompts.positive": v}."""
    flat: dict[str, Any] = {}
    for key, item in _object(value, "if_unchanged").items():
        if key != "meta_json":
            flat[key] = item
            continue
        for meta_key, meta_item in _object(item, "if_unchanged.meta_json").items():
            if meta_key == "prompts":
                prompts = _object(meta_item, "if_unchanged.meta_json.prompts")
                flat.update({f"meta_json.prompts.{half}": text for half, text in prompts.items()})
            else:
                flat[f"meta_json.{meta_key}"] = meta_item
    return flat


def validate(value: Any) -> dict[str, Any]:
    """`if_unchanged` as {field: value}, each a known field with a value of its type. Raises GuardError."""
    flat = _flatten(value)
    unknown = sorted(set(flat) - set(FIELDS))
    if unknown:
        raise GuardError(f"`if_unchanged` names {', '.join(unknown)}, which cannot be guarded; it takes "
                         f"{', '.join(FIELDS)}")
    for field, expected in flat.items():
        if field in TEXT_FIELDS and (not isinstance(expected, str) or len(expected) > meta_mod.MAX_TEXT):
            raise GuardError(f"`if_unchanged.{field}` must be a string of at most {meta_mod.MAX_TEXT} characters")
        if field == "meta_json.nsfw" and not isinstance(expected, bool):
            raise GuardError("`if_unchanged.meta_json.nsfw` must be true or false")
    return flat


def _stored(name: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The guarded fields as a client that loaded this record sees them: a missing text is empty, nsfw false."""
    stored_prompts = meta.get("prompts")
    prompts = stored_prompts if isinstance(stored_prompts, dict) else {}
    texts = {"meta_json.description": meta.get("description"), "meta_json.notes": meta.get("notes"),
             "meta_json.prompts.positive": prompts.get("positive"),
             "meta_json.prompts.negative": prompts.get("negative")}
    return {"name": name, **{k: v if isinstance(v, str) else "" for k, v in texts.items()},
            "meta_json.nsfw": meta.get("nsfw") is True}


def writing(name: str | None, change: dict[str, Any] | None) -> dict[str, Any]:
    """The guarded fields a PATCH writes, by the same names."""
    out: dict[str, Any] = {} if name is None else {"name": name}
    for key, value in (change or {}).items():
        if key == "prompts":
            out.update({f"meta_json.prompts.{k}": v for k, v in value.items()})
        else:
            out[f"meta_json.{key}"] = value
    return out


def check(expected: dict[str, Any], written: dict[str, Any], name: str, meta: dict[str, Any]) -> None:
    """Raises Moved with the stored values of the fields that moved from `expected`. A field that already holds
    what this edit writes did not move in any way that matters: both tabs wanted the same."""
    stored = _stored(name, meta)
    moved = [f for f, v in expected.items() if stored[f] != v and written.get(f, v) != stored[f]]
    if moved:
        changed: dict[str, Any] = {}
        for field in moved:
            *parents, leaf = field.split(".")
            place = changed
            for part in parents:
                place = place.setdefault(part, {})
            place[leaf] = stored[field]
        raise Moved(moved, changed)
