"""Tags from sidecars against the real daemon: a `.civitai.info` beside a model file gives the model its tags at
import (new, merge, override, delete of a duplicate, auto-import), marked as the sidecar's; a tag the user took off
never comes back with a later import or rescan; hostile tag lists cost nothing but their own tags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conftest import Daemon, poll, write_model

VERSION: dict[str, Any] = {"id": 222, "modelId": 111, "baseModel": "SDXL 1.0", "trainedWords": ["their_word"]}


def with_tags(path: Path, model_tags: list[Any], top_tags: list[Any] | None = None, seed: bytes | None = None) -> Path:
    """A model file and its Civitai Helper sidecar naming these tags (under `model`, and at the top)."""
    doc: dict[str, Any] = {**VERSION, "model": {"nsfw": False, "tags": model_tags}}
    if top_tags is not None:
        doc["tags"] = top_tags
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".civitai.info").write_text(json.dumps(doc))
    return write_model(path, seed=seed)


async def detail(d: Daemon, sha: str) -> dict[str, Any]:
    return await d.get(f"/api/models/{sha}")


async def tag_counts(d: Daemon) -> dict[str, int]:
    return {t["name"]: t["models"] for t in (await d.get("/api/tags"))["tags"] if t["models"]}


async def names_tagged(d: Daemon, tags: str) -> list[str]:
    return sorted(m["name"] for m in (await d.get(f"/api/models?tags={tags}"))["models"])


async def merge_copy(d: Daemon, path: Path, strategy: str = "merge") -> None:
    """The conflict row of `path` (a copy of a model) imported with `strategy`."""
    row = await d.wait_row(path, status="conflict")
    report = await d.call("POST", "/api/pending/import", {"ids": [row["id"]], "conflict_strategy": strategy})
    assert not report["failed"], report


async def test_sidecar_tags_become_the_models_tags_and_fill_the_tag_filter(daemon: Daemon, models: Path):
    anime = with_tags(models / "loras" / "anime_style.safetensors", ["Anime", {"name": "style"}], [" character "])
    photo = with_tags(models / "checkpoints" / "photo.safetensors", [{"name": "photorealistic"}, "STYLE"])
    plain = write_model(models / "vae" / "plain.safetensors", seed=b"plain")
    (anime_sha,) = await daemon.import_files(anime)  # first, so that its spelling of `style` is the tag's
    photo_sha, plain_sha = await daemon.import_files(photo, plain)
    model = await detail(daemon, anime_sha)
    assert model["tags"] == ["Anime", "character", "style"]
    assert model["sidecar_tags"] == ["Anime", "character", "style"] and model["removed_tags"] == []
    assert "sidecar_tags" not in model["meta_json"]  # not a field a client edits
    assert (await detail(daemon, photo_sha))["tags"] == ["photorealistic", "style"]  # one tag `style`, any case
    assert (await detail(daemon, plain_sha))["tags"] == []
    assert await tag_counts(daemon) == {"Anime": 1, "character": 1, "photorealistic": 1, "style": 2}
    assert await names_tagged(daemon, "style") == ["anime_style", "photo"]
    assert await names_tagged(daemon, "anime") == ["anime_style"]
    assert (await daemon.get("/api/models?q=photorealistic"))["total"] == 1  # the search sees them too


async def test_a_tag_the_user_removed_never_comes_back(daemon: Daemon, models: Path):
    original = with_tags(models / "loras" / "mine.safetensors", ["anime", "style", "wip"], seed=b"same")
    (sha,) = await daemon.import_files(original)
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags_remove": ["ANIME"], "tags_add": ["mine"]})
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags": ["mine", "style"]})  # `wip` goes as a whole list
    model = await detail(daemon, sha)
    assert model["tags"] == ["mine", "style"] and model["sidecar_tags"] == ["style"]
    assert model["removed_tags"] == ["anime", "wip"]
    await daemon.rescan()
    assert (await detail(daemon, sha))["tags"] == ["mine", "style"]
    # Copies of the file with sidecars that name the removed tags again, and one more: each way of importing a
    # duplicate adds the new tag and none of the removed ones.
    expected = ["mine", "style"]
    for n, strategy in enumerate(("merge", "override", "delete")):
        copy = with_tags(models / "checkpoints" / f"copy{n}.safetensors", ["Anime", f"new{n}", "WIP"], seed=b"same")
        await merge_copy(daemon, copy, strategy)
        expected = sorted([*expected, f"new{n}"])
        model = await detail(daemon, sha)
        assert model["tags"] == expected, strategy
        assert model["removed_tags"] == ["anime", "wip"]
    assert model["sidecar_tags"] == ["new0", "new1", "new2", "style"]
    # Put back by the user, a tag is theirs again and no longer remembered as removed.
    await daemon.call("PATCH", f"/api/models/{sha}", {"tags_add": ["anime"]})
    model = await detail(daemon, sha)
    assert "anime" in model["tags"] and model["removed_tags"] == ["wip"] and "anime" not in model["sidecar_tags"]
    assert await names_tagged(daemon, "wip") == []


async def test_twins_imported_together_keep_the_union_of_their_tags(daemon: Daemon, models: Path):
    first = with_tags(models / "loras" / "twin.safetensors", ["a", "b"], seed=b"twin")
    second = with_tags(models / "checkpoints" / "twin.safetensors", ["B", "c"], seed=b"twin")
    rows = [await daemon.wait_row(first), await daemon.wait_row(second, status="ready")]
    report = await daemon.call("POST", "/api/pending/import", {"ids": [r["id"] for r in rows],
                                                               "conflict_strategy": "merge"})
    assert not report["failed"] and len(report["imported"]) == 2, report
    (model,) = (await daemon.get("/api/models"))["models"]
    assert (await detail(daemon, model["sha256"]))["tags"] == ["a", "b", "c"]
    await daemon.call("PATCH", f"/api/models/{model['sha256']}", {"tags_remove": ["c"]})
    third = with_tags(models / "vae" / "twin.safetensors", ["c", "d"], seed=b"twin")
    await merge_copy(daemon, third)
    assert (await detail(daemon, model["sha256"]))["tags"] == ["a", "b", "d"]


async def test_hostile_tag_lists_are_capped_and_ignored_without_failing_the_import(daemon: Daemon, models: Path):
    junk: list[Any] = ["", "   ", 7, None, True, {"name": 3}, {"id": 1}, ["x"], "x" * 5000, "bell\x07", "ok"]
    hostile = with_tags(models / "loras" / "hostile.safetensors", [*junk, *(f"t{i}" for i in range(200_000))])
    broken = models / "loras" / "broken.safetensors"
    broken.with_suffix(".civitai.info").write_text(json.dumps({**VERSION, "model": {"tags": "a, b"}, "tags": 5}))
    write_model(broken, seed=b"broken")
    hostile_sha, broken_sha = await daemon.import_files(hostile, broken)
    tags = (await detail(daemon, hostile_sha))["tags"]
    assert len(tags) == 50 and "ok" in tags and "t0" in tags and not any(len(t) > 64 for t in tags)
    model = await detail(daemon, broken_sha)
    assert model["tags"] == [] and model["meta_json"]["trigger_words"] == ["their_word"]
    assert sum((await tag_counts(daemon)).values()) == 50


async def test_auto_import_takes_the_sidecar_tags(daemon_factory, models: Path):
    d: Daemon = await daemon_factory("--models-root", str(models), "--auto-import", "no_conflict")
    with_tags(models / "loras" / "auto.safetensors", ["anime", {"name": "style"}])

    async def imported() -> list[dict[str, Any]] | None:
        listing = (await d.get("/api/models?tags=anime"))["models"]
        return listing or None

    (item,) = await poll(imported, "the file to be imported with its tags")
    model = await detail(d, item["sha256"])
    assert model["tags"] == model["sidecar_tags"] == ["anime", "style"]
