"""Preview images that other tools leave beside a model file.

This finds them and nothing more: decoding and encoding them is the library's business (`library.images`).
"""

from __future__ import annotations

import os

_PREVIEW_SUFFIXES = (
    ".preview.png",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".preview.jpg",
    ".preview.jpeg",
    ".preview.webp",
)


def find_previews(model_path: str) -> list[str]:
    """Preview images that tools write beside `model_path`, best first; names are matched case-insensitively.

    One directory listing instead of a stat per candidate: it is as cheap, and it also finds `Foo.PNG` on a
    case-sensitive file system. Two files differing only in case are both returned, in name order.
    """
    folder, name = os.path.split(model_path)
    stem = os.path.splitext(name)[0].lower()
    rank = {stem + suffix: i for i, suffix in enumerate(_PREVIEW_SUFFIXES)}
    found: list[tuple[int, str]] = []
    try:
        with os.scandir(folder or ".") as entries:
            for entry in entries:
                i = rank.get(entry.name.lower())
                if i is not None and entry.is_file():
                    found.append((i, entry.name))
    except (FileNotFoundError, NotADirectoryError):
        return []  # the folder went away with the model; there is nothing beside it
    return [os.path.join(folder, n) for _, n in sorted(found)]
