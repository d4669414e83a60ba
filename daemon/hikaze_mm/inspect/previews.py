"""Preview images that other tools leave beside a model file.

This finds them and nothing more: decoding and encoding them is the library's business (`library.images`).
"""

from __future__ import annotations

import os

from hikaze_mm.inspect.folder_names import FolderNames

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


def find_previews(model_path: str, names: FolderNames | None = None) -> list[str]:
    """Preview images that tools write beside `model_path`, best first; names are matched case-insensitively.

    One directory listing instead of a stat per candidate: it is as cheap, and it also finds `Foo.PNG` on a
    case-sensitive file system. Two files differing only in case are both returned, in name order. With `names`,
    the listing is shared with the other files of the folder.
    """
    folder, name = os.path.split(model_path)
    stem = os.path.splitext(name)[0].lower()
    names = names or FolderNames()
    found: list[tuple[int, str]] = []
    for i, suffix in enumerate(_PREVIEW_SUFFIXES):
        for candidate in sorted(names.like(folder, stem + suffix) or []):
            if os.path.isfile(os.path.join(folder, candidate)):
                found.append((i, candidate))
    return [os.path.join(folder, n) for _, n in found]
