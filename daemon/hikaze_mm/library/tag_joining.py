"""The part of the metadata rules that sidecars and the web share: which offered tags join a model."""

from __future__ import annotations

from typing import Any

from hikaze_mm.store.records import MAX_TAGS


def names_in(meta: dict[str, Any], key: str) -> list[str]:
    """The strings of a list in a record (none when the key holds anything else)."""
    value = meta.get(key)
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


def joining(offered: list[str], current: list[str], model: dict[str, Any]) -> list[str]:
    """The offered tags the model (whose tags are `current`) lacks and the user never took off it (its
    `removed_tags`), in order, as many as fit under the model's limit; names compare without regard to case."""
    have = {name.casefold() for name in current}
    refused = {name.casefold() for name in names_in(model, "removed_tags")}
    taken: list[str] = []
    for name in offered:
        if len(have) >= MAX_TAGS:
            break
        if name.casefold() not in have | refused:
            have.add(name.casefold())
            taken.append(name)
    return taken
