"""Python functions that numbered migrations call from their SQL, for what SQL cannot say. Like the migrations,
each is frozen once shipped: it reproduces the rules of the version it upgrades from, not today's."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

# Migration 8's view of the rule it undoes: before it, trigger words were suggested from the sidecars' words, then
# the header's `modelspec.trigger_phrase`, then the ten most used tags of its `ss_tag_frequency` (the captions).
_V7_CAPTION_TAGS = 10


def _unique(items: list[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        item = item.strip()
        if item and item.casefold() not in seen:
            seen.add(item.casefold())
            out.append(item)
    return out


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    return None


def _phrase(metadata: dict[str, Any]) -> list[str]:
    phrase = metadata.get("modelspec.trigger_phrase")
    return phrase.split(",") if isinstance(phrase, str) else []


def _v7_captions(metadata: dict[str, Any]) -> list[str]:
    frequency = metadata.get("ss_tag_frequency")
    if not isinstance(frequency, dict):
        return []
    counts: dict[str, float] = {}
    for tags in frequency.values():
        if not isinstance(tags, dict):
            continue
        for tag, count in tags.items():
            word = tag.strip()
            if word and isinstance(count, (int, float)) and not isinstance(count, bool):
                counts[word] = counts.get(word, 0) + count
    return sorted(counts, key=lambda tag: -counts[tag])[:_V7_CAPTION_TAGS]


def v8_trigger_words(meta_text: bytes | None, pending: int) -> str | None:
    """The row's trigger words without the training captions, as a JSON list, when its stored list is exactly
    what schema 7's rule suggested from what the row still holds (its stored header; on a pending row, its sidecars
    too); NULL when the list stays as it is. A list that differs in any way was edited by the user (or came from the
    first version, whose words are the user's), and is kept whole. A model keeps no sidecars, so a model whose list
    joined a sidecar's words and captions cannot be told from an edited one, and is kept whole as well."""
    try:
        meta = json.loads((meta_text or b"{}").decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    stored = _strings(meta.get("trigger_words")) if isinstance(meta, dict) else None
    if not stored:
        return None
    header = meta.get("header")
    metadata = header.get("metadata") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        return None
    sidecars = meta.get("sidecars") if pending else None
    beside = (_strings(sidecars.get("trigger_words")) if isinstance(sidecars, dict) else None) or []
    # What the header suggested then, from the rule above and as the header itself recorded it (its own
    # `trigger_words`, which holds the captions even where a long value was left out of the stored metadata).
    suggested = [_unique([*beside, *_phrase(metadata), *_v7_captions(metadata)])]
    recorded = _strings(header.get("trigger_words")) if isinstance(header, dict) else None
    if recorded is not None:
        suggested.append(_unique([*beside, *recorded]))
    if stored not in suggested:
        return None
    kept = _unique([*beside, *_phrase(metadata)])
    return json.dumps(kept) if kept != stored else None


FUNCTIONS: dict[str, tuple[int, Callable[..., Any]]] = {"v8_trigger_words": (2, v8_trigger_words)}

