"""The folder tree (`GET /api/folders`) and the `folder` filter of the listing and the facets."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from realistic_library import Library

from conftest import Daemon, poll, write_model


def _node(tree: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    for node in tree:
        if node["path"] == path:
            return node
        if path.startswith(node["path"] + "/"):
            return _node(node["children"], path)
    return None


def _in(lib: Library, folder: str, *, hide_nsfw: bool = False) -> list[Path]:
    """The library's imported models whose folder (below the models root) is `folder` or inside it."""
    found = []
    for p in [*lib.loras, *lib.checkpoints]:
        rel = p.parent.relative_to(lib.root).as_posix()
        if (rel == folder or rel.startswith(folder + "/")) and not (hide_nsfw and p in lib.nsfw):
            found.append(p)
    return found


async def test_the_tree_counts_each_folder_with_its_sub_folders(realistic: tuple[Daemon, Library]):
    d, lib = realistic
    tree = await d.get("/api/folders")
    assert [n["path"] for n in tree["folders"]] == ["checkpoints", "loras"]
    assert tree["total"] == len(lib.loras) + len(lib.checkpoints)
    for folder in ("loras", "loras/styles", "loras/styles/anime", "loras/characters", "checkpoints/sdxl"):
        node = _node(tree["folders"], folder)
        assert node is not None and node["count"] == len(_in(lib, folder)), folder
    styles = _node(tree["folders"], "loras/styles")
    assert styles is not None and [c["name"] for c in styles["children"]] == ["anime", "photo"]
    # The copy waiting in `loras/backup` and the damaged file are not models: no folder for them.
    assert _node(tree["folders"], "loras/backup") is None

    hidden = await d.get("/api/folders?hide_nsfw=true&type=loras")
    assert [n["path"] for n in hidden["folders"]] == ["loras"]
    assert hidden["total"] == len(lib.loras) - len(lib.nsfw)
    anime = _node(hidden["folders"], "loras/styles/anime")
    assert anime is not None and anime["count"] == len(_in(lib, "loras/styles/anime", hide_nsfw=True))


async def test_the_folder_filter_composes_with_the_others(realistic: tuple[Daemon, Library]):
    d, lib = realistic
    page = await d.get("/api/models?folder=loras/styles&limit=1000")
    assert {m["file_name"] for m in page["models"]} == {p.name for p in _in(lib, "loras/styles")}
    assert page["total"] == len(_in(lib, "loras/styles"))

    hidden = await d.get("/api/models?folder=loras/styles/anime&hide_nsfw=1&type=loras&limit=1000")
    assert {m["file_name"] for m in hidden["models"]} == {p.name for p in _in(lib, "loras/styles/anime",
                                                                               hide_nsfw=True)}
    # A search, a tag and a base model narrow the folder's models further; the facets count the same models.
    for extra in ("&q=lora_0", "&tags=anime", "&base_model=Pony", "&exclude_tags=anime"):
        url = f"/api/models?folder=loras/styles&limit=1000{extra}"
        everywhere = await d.get(f"/api/models?limit=1000{extra}")
        narrowed = await d.get(url)
        inside = {p.name for p in _in(lib, "loras/styles")}
        assert {m["file_name"] for m in narrowed["models"]} == \
            {m["file_name"] for m in everywhere["models"] if m["file_name"] in inside}, extra
        facets = await d.get(f"/api/facets?folder=loras/styles{extra}")
        assert facets["total"] == narrowed["total"], extra

    assert (await d.get("/api/models?folder=loras/nowhere"))["total"] == 0
    assert (await d.get("/api/models?folder=/"))["total"] == len(lib.loras) + len(lib.checkpoints)


@pytest.mark.parametrize("sort", ["name", "size", "created"])
async def test_paging_by_next_stays_inside_the_folder(realistic: tuple[Daemon, Library], sort: str):
    d, lib = realistic
    seen: list[str] = []
    url = f"/api/models?folder=loras/styles&sort={sort}&limit=7"
    page = await d.get(url)
    while True:
        seen.extend(m["sha256"] for m in page["models"])
        if page["next"] is None:
            break
        page = await d.get(f"{url}&after={quote(page['next'])}")
    assert len(seen) == len(set(seen)) == len(_in(lib, "loras/styles"))


@pytest.mark.parametrize("folder", ["loras/../checkpoints", "loras//styles", "loras/./x", "a\\b", "a%00b",
                                    "x" * 5000])
async def test_a_folder_that_names_no_folder_is_refused(daemon: Daemon, folder: str):
    for route in ("/api/models", "/api/facets"):
        status, body = await daemon.request("GET", f"{route}?folder={folder}")
        assert status == 400 and "`folder`" in body["error"], (route, folder, body)


async def test_cjk_names_spaces_and_moves(daemon_factory: Callable[..., Awaitable[Daemon]], models: Path):
    d = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict")
    old = write_model(models / "loras" / "人物 风格" / "sub dir" / "少女 a.safetensors")
    write_model(models / "loras" / "other.safetensors")

    async def tree_has(path: str, count: int) -> dict[str, Any] | None:
        tree = await d.get("/api/folders")
        node = _node(tree["folders"], path)
        return tree if node is not None and node["count"] == count else None

    # Both files are filed in their own time: wait for the pair, then check where each went.
    tree = await poll(lambda: tree_has("loras", 2), "both models under loras")
    assert _node(tree["folders"], "loras/人物 风格/sub dir")["count"] == 1  # type: ignore[index]
    page = await d.get("/api/models?folder=" + quote("loras/人物 风格"))
    assert [m["file_name"] for m in page["models"]] == [old.name]

    # A moved file takes its model to the new folder: the tree and the filter follow the path.
    new = models / "loras" / "水彩" / old.name
    new.parent.mkdir()
    old.rename(new)
    tree = await poll(lambda: tree_has("loras/水彩", 1), "the moved model in its new folder")
    assert _node(tree["folders"], "loras/人物 风格") is None
    assert (await d.get("/api/models?folder=" + quote("loras/人物 风格")))["total"] == 0
    assert (await d.get("/api/models?folder=" + quote("loras/水彩")))["total"] == 1

    # A model whose file is gone is counted under `missing`, in the folder it was last seen in.
    new.unlink()
    await poll(lambda: tree_has("loras", 1), "the vanished model to leave the tree of present models")
    missing = await d.get("/api/folders?status=missing")
    assert _node(missing["folders"], "loras/水彩")["count"] == 1  # type: ignore[index]
