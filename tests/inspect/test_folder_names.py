"""A folder's names listed once for a batch of files: what is surely absent, what is there under any case, and
that looking for previews and sidecars through a shared listing finds what looking alone finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import without_root_powers
from hikaze_mm.inspect.folder_names import FolderNames
from hikaze_mm.inspect.previews import find_previews
from hikaze_mm.inspect.sidecars import read_sidecars
from hikaze_mm.pipeline import settle


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"x")


def test_absent_only_when_no_name_in_the_folder_matches_even_ignoring_case(tmp_path: Path):
    _touch(tmp_path, "a.safetensors", "Foo.JSON", "bar.civitai.info")
    names = FolderNames()
    assert not names.absent(str(tmp_path / "a.safetensors"))
    assert not names.absent(str(tmp_path / "bar.civitai.info"))
    assert not names.absent(str(tmp_path / "foo.json"))  # Foo.JSON: on a case-insensitive disk this is it
    assert not names.absent(str(tmp_path / "FOO.json"))
    assert names.absent(str(tmp_path / "b.safetensors"))
    assert names.absent(str(tmp_path / "a.json"))
    assert names.absent(str(tmp_path / "a.safetensors.part"))


def test_a_folder_that_cannot_be_listed_never_says_absent(tmp_path: Path):
    _touch(tmp_path, "file.safetensors")
    names = FolderNames()
    assert not names.absent(str(tmp_path / "missing" / "x.json"))
    assert not names.absent(str(tmp_path / "file.safetensors" / "x.json"))  # not a folder
    assert names.like(str(tmp_path / "missing"), "x.json") is None
    assert names.like(str(tmp_path / "file.safetensors"), "x.json") is None


_UNLISTABLE = """
import sys
from hikaze_mm.inspect.folder_names import FolderNames
names = FolderNames()
print(names.absent(sys.argv[1] + "/b.json"), names.like(sys.argv[1], "b.json"))
"""


def test_a_folder_without_read_permission_never_says_absent(tmp_path: Path):
    locked = tmp_path / "locked"
    _touch(locked, "a.json")
    locked.chmod(0o311)  # can be entered, not listed
    try:
        # In a process of its own, without the powers that let root list any folder.
        out = subprocess.run([*without_root_powers(), sys.executable, "-c", _UNLISTABLE, str(locked)],
                             capture_output=True, text=True, check=True).stdout
        assert out.split() == ["False", "None"]
    finally:
        locked.chmod(0o755)


def test_a_relative_path_is_looked_up_in_the_current_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    _touch(tmp_path, "here.json")
    monkeypatch.chdir(tmp_path)
    names = FolderNames()
    assert not names.absent("here.json") and names.absent("there.json")
    assert names.like("", "here.json") == ["here.json"]


def test_like_gives_every_name_that_differs_only_in_case(tmp_path: Path):
    _touch(tmp_path, "Foo.png", "foo.png", "FOO.PNG", "foo.jpg", "foobar.png")
    names = FolderNames()
    assert sorted(names.like(str(tmp_path), "foo.png") or []) == ["FOO.PNG", "Foo.png", "foo.png"]
    assert names.like(str(tmp_path), "foo.jpg") == ["foo.jpg"]
    assert names.like(str(tmp_path), "foo.webp") == []


def test_each_folder_is_listed_once_for_the_life_of_the_object(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    one, two = tmp_path / "one", tmp_path / "two"
    _touch(one, "a.json")
    _touch(two, "b.json")
    listed: list[str] = []
    real = os.listdir

    def counting(folder: str) -> list[str]:
        listed.append(folder)
        return real(folder)

    monkeypatch.setattr(os, "listdir", counting)
    names = FolderNames()
    for _ in range(3):
        for name in ("a.json", "x.json", "A.JSON"):
            names.absent(str(one / name))
        names.like(str(two), "b.json")
    names.absent(str(tmp_path / "missing" / "a.json"))
    names.absent(str(tmp_path / "missing" / "b.json"))  # a folder that failed is not listed again either
    assert sorted(listed) == sorted([str(one), str(two), str(tmp_path / "missing")])
    _touch(one, "later.json")  # a name that appears later is not seen: the object lives for one batch
    assert names.absent(str(one / "later.json"))
    assert not FolderNames().absent(str(one / "later.json"))


def _preview_folder(folder: Path) -> list[Path]:
    """Several models and their previews in one folder, case variants included."""
    models = [folder / n for n in ("Foo.safetensors", "bar.ckpt", "Baz Qux.pt", "lonely.safetensors",
                                   "foo.preview.safetensors")]
    _touch(folder, *(m.name for m in models))
    _touch(folder, "FOO.jpeg", "Foo.PNG", "foo.png", "Foo.preview.WEBP", "foo.Preview.png", "Foo.txt",
           "Foobar.png", "Foo.png.bak", "bar.webp", "BAR.preview.png", "Bar.JPG", "baz qux.png", "Baz Qux.gif",
           "foo.preview.png.jpg", "Foo.Preview.jpg")
    (folder / "bar.png").mkdir()  # a folder with a preview's name is not a preview
    return models


def test_find_previews_with_a_shared_listing_finds_what_each_alone_finds(tmp_path: Path):
    models = _preview_folder(tmp_path)
    names = FolderNames()
    for model in models:
        assert find_previews(str(model), names) == find_previews(str(model)), model.name
    assert find_previews(str(models[0]), names) == [
        str(tmp_path / n) for n in ("foo.Preview.png", "Foo.PNG", "foo.png", "FOO.jpeg", "Foo.Preview.jpg",
                                        "Foo.preview.WEBP")]
    assert find_previews(str(models[1]), names) == [str(tmp_path / n) for n in ("BAR.preview.png", "Bar.JPG",
                                                                               "bar.webp")]
    assert find_previews(str(models[3]), names) == []
    assert find_previews(str(tmp_path / "gone" / "x.safetensors"), names) == []


def test_find_previews_of_models_in_several_folders_share_one_listing(tmp_path: Path):
    first = _preview_folder(tmp_path / "a")
    second = _preview_folder(tmp_path / "b" / "deeper")
    (tmp_path / "b" / "deeper" / "Foo.PNG").unlink()
    names = FolderNames()
    for model in [*first, *second]:
        assert find_previews(str(model), names) == find_previews(str(model)), model
    assert str(tmp_path / "b" / "deeper" / "Foo.PNG") not in find_previews(str(second[0]), names)


def test_a_relative_model_path_finds_its_previews_through_a_listing(tmp_path: Path, monkeypatch):
    _preview_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert find_previews("Foo.safetensors", FolderNames()) == find_previews("Foo.safetensors") == [
        "foo.Preview.png", "Foo.PNG", "foo.png", "FOO.jpeg", "Foo.Preview.jpg", "Foo.preview.WEBP"]


def test_read_sidecars_through_a_listing_reads_those_present_and_skips_the_absent(tmp_path: Path):
    civitai = {"description": "<p>From Civitai</p>", "baseModel": "SDXL 1.0", "trainedWords": ["ciwi"]}
    a1111 = {"description": "a1111 notes", "activation text": "aword", "sd version": "SD1"}
    _touch(tmp_path, "one.safetensors", "two.safetensors", "three.safetensors", "four.safetensors")
    (tmp_path / "one.civitai.info").write_text(json.dumps(civitai))
    (tmp_path / "two.json").write_text(json.dumps(a1111))
    (tmp_path / "two.civitai.info").write_text("{ not json")
    (tmp_path / "THREE.JSON").write_text(json.dumps(a1111))  # another case: not this model's on this disk
    (tmp_path / "four.json").mkdir()  # not a regular file: an error, as without a listing
    names = FolderNames()
    for name in ("one", "two", "three", "four", "five"):
        model = str(tmp_path / f"{name}.safetensors")
        assert read_sidecars(model, names) == read_sidecars(model), name
    one = read_sidecars(str(tmp_path / "one.safetensors"), names)
    assert one["description"] == "<p>From Civitai</p>" and one["sources"] == ["one.civitai.info"]
    two = read_sidecars(str(tmp_path / "two.safetensors"), names)
    assert two["description"] == "a1111 notes" and two["sources"] == ["two.json"]
    assert [e.split(":")[0] for e in two["errors"]] == ["two.civitai.info"]
    assert read_sidecars(str(tmp_path / "three.safetensors"), names) == {}
    assert read_sidecars(str(tmp_path / "five.safetensors"), names) == {}


def test_read_sidecars_does_not_look_for_what_the_listing_lacks(tmp_path: Path, monkeypatch):
    _touch(tmp_path, "m.safetensors")
    (tmp_path / "m.json").write_text(json.dumps({"description": "there"}))
    names = FolderNames()
    names.absent(str(tmp_path / "m.json"))  # the folder is listed now
    looked: list[str] = []
    real = os.stat

    def counting(path, *args, **kw):  # type: ignore[no-untyped-def]
        looked.append(os.fspath(path))
        return real(path, *args, **kw)

    monkeypatch.setattr(os, "stat", counting)
    assert read_sidecars(str(tmp_path / "m.safetensors"), names)["description"] == "there"
    assert looked == [str(tmp_path / "m.json")]  # the three sidecars not in the listing are not stat'ed


def test_the_settler_sees_a_partial_download_through_a_listing(tmp_path: Path):
    count = settle.LIST_FOLDERS_FROM + 4  # enough files due at once that their folders are listed
    paths = [tmp_path / f"m{i:02d}.safetensors" for i in range(count)]
    _touch(tmp_path, *(p.name for p in paths))
    _touch(tmp_path, "m03.safetensors.part", "m07.safetensors.ARIA2", "m09.safetensors.aria2")
    looks = settle._check_all([str(p) for p in paths])
    assert [i for i, look in enumerate(looks) if look.partial] == [3, 9]
    assert all(look.st is not None for look in looks)
    few = settle._check_all([str(paths[3]), str(paths[4])])  # a few files: each name looked for
    assert [look.partial for look in few] == [True, False]
