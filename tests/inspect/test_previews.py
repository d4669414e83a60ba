"""Finding the preview images other tools leave beside a model file."""

from __future__ import annotations

import os
from pathlib import Path

from hikaze_mm.inspect.previews import find_previews


def test_find_previews_matches_case_insensitively_in_priority_order(tmp_path: Path):
    model = tmp_path / "Foo.safetensors"
    model.write_bytes(b"model")
    names = ["FOO.jpeg", "Foo.PNG", "foo.png", "Foo.preview.WEBP", "foo.Preview.png", "Foo.txt", "Foobar.png"]
    names += ["Foo.png.bak", "other.png", "Foo.safetensors.png"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "Foo.jpg").mkdir()  # a folder with a preview's name is not a preview
    found = find_previews(str(model))
    assert found == [
        os.path.join(tmp_path, name)
        for name in ("foo.Preview.png", "Foo.PNG", "foo.png", "FOO.jpeg", "Foo.preview.WEBP")
    ]
    assert find_previews(str(tmp_path / "gone" / "x.safetensors")) == []
