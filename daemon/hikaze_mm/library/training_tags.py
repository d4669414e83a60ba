"""The captions a model was trained on, as kohya's trainers count them in `ss_tag_frequency`: shown beside a model
for the user to read (and to make a trigger word of, if one is), never taken for trigger words by themselves."""

from __future__ import annotations

from typing import Any

MAX_TRAINING_TAGS = 50


def training_tags(header: Any, limit: int = MAX_TRAINING_TAGS) -> list[dict[str, Any]]:
    """The most used tags of a stored header, most used first, as [{"tag", "count"}]; [] when it names none."""
    metadata = header.get("metadata") if isinstance(header, dict) else None
    frequency = metadata.get("ss_tag_frequency") if isinstance(metadata, dict) else None
    if not isinstance(frequency, dict):
        return []
    counts: dict[str, int | float] = {}
    # Keys are dataset folders ("10_mychar"); the tags and their counts sit one level down, and a tag used in two
    # folders counts for both.
    for tags in frequency.values():
        if not isinstance(tags, dict):
            continue
        for tag, count in tags.items():
            word = tag.strip()
            if word and isinstance(count, (int, float)) and not isinstance(count, bool) and count > 0:
                counts[word] = counts.get(word, 0) + count
    # sorted() is stable, so tags with equal counts keep the order the trainer wrote them in.
    ranked = sorted(counts, key=lambda tag: -counts[tag])[:limit]
    return [{"tag": tag, "count": counts[tag]} for tag in ranked]
