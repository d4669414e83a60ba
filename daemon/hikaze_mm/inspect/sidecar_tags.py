"""The tags a sidecar names, brought to what a tag typed in may be.

Civitai gives a model's tags as plain names (`["style", "anime"]`) or, in some older files, as objects
(`[{"name": "style"}]`). A sidecar is another program's file, maybe hand-edited or broken: entries that are no name
are skipped, names are trimmed and NFC-normalised, blank or overlong ones and ones holding control characters are
left out, repeats in any case are dropped (the tags table compares names without regard to case) and only the
first MAX_SIDECAR_TAGS are kept, so a hostile file cannot flood the tag list or push a model past its limit.
"""

from __future__ import annotations

import unicodedata
from typing import Any

MAX_SIDECAR_TAGS = 50
# The longest tag name the library takes: the store's MAX_TAG_NAME, which this layer may not import (a test keeps
# the two equal).
MAX_TAG_NAME = 64


def tag_name(value: str) -> str | None:
    """`value` as a tag name, or None when it cannot be one."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name or len(name) > MAX_TAG_NAME or any(unicodedata.category(c).startswith("C") for c in name):
        return None
    return name


def names_given(value: list[Any]) -> tuple[list[str], bool]:
    """The strings of a sidecar's tag list, also those inside `{"name": ...}` objects; and whether some entry
    was neither."""
    names: list[str] = []
    odd = False
    for entry in value:
        if isinstance(entry, dict):
            entry = entry.get("name")
        if isinstance(entry, str):
            names.append(entry)
        else:
            odd = True
    return names, odd


def sidecar_tags(given: list[str]) -> list[str]:
    """The names as tags: cleaned, first spelling of each kept, at most MAX_SIDECAR_TAGS."""
    tags: list[str] = []
    seen: set[str] = set()
    for value in given:
        name = tag_name(value)
        if name is None or name.casefold() in seen:
            continue
        seen.add(name.casefold())
        tags.append(name)
        if len(tags) == MAX_SIDECAR_TAGS:
            break
    return tags
