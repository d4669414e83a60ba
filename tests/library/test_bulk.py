"""POST /api/models/bulk against the real daemon: every action with its answer per model, selections by sha256s and
by filter (paged in sha256 order, with models left out), the trash's guards (a file outside the model folders is
refused and stays on disk byte for byte, as does the rest of that model), a model that is gone, hostile bodies,
and an edit landing while a bulk change runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import Daemon, digests, poll, write_model

BULK = "/api/models/bulk"


def trashed(tmp_path: Path) -> list[str]:
    folder = tmp_path / "xdg-data" / "Trash" / "files"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


async def five(d: Daemon, models: Path) -> list[str]:
    paths = [write_model(models / "loras" / f"lora_{i}.safetensors", seed=f"bulk{i}".encode()) for i in range(5)]
    return await d.import_files(*paths)


async def detail(d: Daemon, sha: str) -> dict:
    return await d.get(f"/api/models/{sha}")


async def test_tags_are_added_and_removed_with_an_answer_per_model(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    gone = "0" * 64
    answer = await daemon.call("POST", BULK, {"action": "tags_add", "sha256s": [*shas[:3], gone],
                                              "tags": ["style", "Favs"]})
    assert (answer["done"], answer["failed"]) == (3, 1)
    assert [r["sha256"] for r in answer["results"]] == [*shas[:3], gone]
    assert [r["ok"] for r in answer["results"]] == [True, True, True, False]
    assert gone in answer["results"][3]["error"]
    for sha in shas[:3]:
        assert sorted((await detail(daemon, sha))["tags"]) == ["Favs", "style"]
    assert (await detail(daemon, shas[3]))["tags"] == []
    answer = await daemon.call("POST", BULK, {"action": "tags_remove", "sha256s": shas[:2], "tags": ["favs"]})
    assert answer["done"] == 2
    assert [(await detail(daemon, s))["tags"] for s in shas[:3]] == [["style"], ["style"], ["Favs", "style"]]
    facets = await daemon.get("/api/facets?tags=style")
    assert facets["total"] == 3  # the kept counts follow


async def test_base_model_and_nsfw_are_set(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    answer = await daemon.call("POST", BULK, {"action": "set_base_model", "sha256s": shas[:2], "base_model": "Pony"})
    assert (answer["done"], answer["failed"]) == (2, 0)
    assert [(await detail(daemon, s))["base_model"] for s in shas[:3]] == ["Pony", "Pony", "unknown"]
    assert (await daemon.get("/api/models?base_model=Pony"))["total"] == 2
    await daemon.call("POST", BULK, {"action": "set_nsfw", "sha256s": shas[1:4], "nsfw": True})
    assert (await daemon.get("/api/models?hide_nsfw=true"))["total"] == 2
    await daemon.call("POST", BULK, {"action": "set_nsfw", "sha256s": shas[1:2], "nsfw": False})
    assert (await detail(daemon, shas[1]))["meta_json"].get("nsfw") is False
    assert (await daemon.get("/api/models?hide_nsfw=true"))["total"] == 3


async def test_favourites_are_set_and_cleared(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    await daemon.call("PATCH", f"/api/models/{shas[0]}", {"meta_json": {"notes": "mine"}})
    answer = await daemon.call("POST", BULK, {"action": "set_favorite", "sha256s": shas[:3], "favorite": True})
    assert (answer["done"], answer["failed"]) == (3, 0)
    assert sorted(m["sha256"] for m in (await daemon.get("/api/models?favorite=true"))["models"]) == sorted(shas[:3])
    await daemon.call("POST", BULK, {"action": "set_favorite", "sha256s": shas[:1], "favorite": False})
    assert (await daemon.get("/api/models?favorite=true"))["total"] == 2
    assert (await detail(daemon, shas[0]))["meta_json"]["notes"] == "mine"  # the rest of the record stays


async def test_remove_keeps_the_files_and_queues_them_again(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    answer = await daemon.call("POST", BULK, {"action": "remove", "sha256s": shas[:2]})
    assert answer["done"] == 2
    assert (await daemon.get("/api/models"))["total"] == 3
    for i in range(2):
        path = models / "loras" / f"lora_{i}.safetensors"
        assert digests(path)[0] == shas[i]
        await daemon.wait_row(path)


async def test_a_filter_selects_every_match_page_by_page_but_those_left_out(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    checkpoint = (await daemon.import_files(write_model(models / "checkpoints" / "c.safetensors", seed=b"c")))[0]
    left_out = shas[2]
    body = {"action": "tags_add", "tags": ["picked"], "filter": {"type": "loras"}, "except": [left_out], "limit": 2}
    first = await daemon.call("POST", BULK, body)
    assert first["total"] == 4 and len(first["results"]) == 2 and first["next"] is not None
    seen = [r["sha256"] for r in first["results"]]
    after = first["next"]
    while after is not None:
        page = await daemon.call("POST", BULK, {**body, "after": after})
        assert "total" not in page
        seen.extend(r["sha256"] for r in page["results"])
        after = page["next"]
    assert sorted(seen) == sorted(s for s in shas if s != left_out) and len(seen) == len(set(seen))
    assert sorted(m["sha256"] for m in (await daemon.get("/api/models?tags=picked"))["models"]) == sorted(seen)
    assert "picked" not in (await detail(daemon, checkpoint))["tags"]


async def test_a_filter_that_removes_what_it_matches_still_meets_every_model(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    body = {"action": "remove", "filter": {"type": "loras"}, "limit": 2}
    after, done = None, 0
    while True:
        page = await daemon.call("POST", BULK, {**body, "after": after} if after else body)
        done += page["done"]
        after = page["next"]
        if after is None:
            break
    assert done == len(shas) and (await daemon.get("/api/models"))["total"] == 0


async def test_trash_sends_the_files_to_the_trash_and_the_record_turns_missing(daemon: Daemon, models: Path,
                                                                               tmp_path: Path):
    shas = await five(daemon, models)
    preview = models / "loras" / "lora_0.preview.png"
    preview.write_bytes(b"not really a png")
    await daemon.call("PATCH", f"/api/models/{shas[0]}", {"meta_json": {"notes": "keep me"}})
    answer = await daemon.call("POST", BULK, {"action": "trash", "sha256s": shas[:1]})
    assert answer["results"][0]["ok"] and answer["results"][0]["trashed"][0].endswith("lora_0.safetensors")
    assert trashed(tmp_path) == ["lora_0.preview.png", "lora_0.safetensors"]

    async def missing() -> bool:
        return (await detail(daemon, shas[0]))["status"] == "missing"

    await poll(missing, "the trashed model to turn missing")
    assert (await detail(daemon, shas[0]))["meta_json"]["notes"] == "keep me"


async def test_trash_refuses_a_file_outside_the_model_folders_and_keeps_it(daemon_factory, models: Path,
                                                                           tmp_path: Path):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "loras").mkdir(parents=True)
    outside = write_model(elsewhere / "loras" / "outside.safetensors", seed=b"outside")
    inside = write_model(models / "loras" / "inside.safetensors", seed=b"inside")
    d = await daemon_factory("--models-root", str(models), "--models-root", str(elsewhere), "--watch-mode", "off")
    out_sha, in_sha = await d.import_files(outside, inside)
    await d.close()
    # That folder is no longer a model folder; the model stays (an unconfigured folder proves nothing gone).
    d = await daemon_factory("--models-root", str(models), "--watch-mode", "off", data_dir=d.data_dir)
    await d.wait_idle()
    before = outside.read_bytes()
    answer = await d.call("POST", BULK, {"action": "trash", "sha256s": [out_sha, in_sha]})
    assert [r["ok"] for r in answer["results"]] == [False, True]
    assert "outside the model folders" in answer["results"][0]["error"]
    assert outside.read_bytes() == before and trashed(tmp_path) == ["inside.safetensors"]
    assert (await detail(d, out_sha))["status"] == "ok"


async def test_a_model_is_trashed_whole_or_not_at_all(daemon: Daemon, models: Path, tmp_path: Path):
    sha = (await five(daemon, models))[0]
    path = Path((await daemon.get(f"/api/models/{sha}/path"))["path"])
    original = path.read_bytes()
    path.write_bytes(original[:-1] + b"!")  # changed since it was hashed
    answer = await daemon.call("POST", BULK, {"action": "trash", "sha256s": [sha]})
    assert not answer["results"][0]["ok"] and "changed since it was hashed" in answer["results"][0]["error"]
    assert path.exists() and trashed(tmp_path) == []


async def test_an_edit_landing_during_a_bulk_change_is_kept(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    bulk = daemon.call("POST", BULK, {"action": "tags_add", "sha256s": shas, "tags": ["bulk"]})
    edits = [daemon.call("PATCH", f"/api/models/{sha}", {"tags_add": ["mine"], "meta_json": {"notes": "typed"}})
             for sha in shas]
    await asyncio.gather(bulk, *edits)
    for sha in shas:
        model = await detail(daemon, sha)
        assert sorted(model["tags"]) == ["bulk", "mine"] and model["meta_json"]["notes"] == "typed"


BAD_BODIES = [
    {},
    {"action": "explode", "sha256s": ["a" * 64]},
    {"action": "tags_add", "sha256s": ["a" * 64]},  # no tags
    {"action": "tags_add", "sha256s": ["a" * 64], "tags": []},
    {"action": "tags_add", "sha256s": ["a" * 64], "tags": ["x\u0000y"]},
    {"action": "tags_add", "sha256s": ["A" * 64], "tags": ["x"]},
    {"action": "tags_add", "sha256s": [], "tags": ["x"]},
    {"action": "tags_add", "sha256s": ["a" * 64] * 501, "tags": ["x"]},
    {"action": "remove", "sha256s": ["a" * 64], "filter": {}},
    {"action": "remove"},
    {"action": "remove", "sha256s": ["a" * 64], "except": []},
    {"action": "remove", "filter": {"type": 3}},
    {"action": "remove", "filter": {"evil": "x"}},
    {"action": "remove", "filter": {"status": "gone"}},
    {"action": "remove", "filter": {}, "limit": 0},
    {"action": "remove", "filter": {}, "after": "zz"},
    {"action": "set_nsfw", "sha256s": ["a" * 64], "nsfw": "yes"},
    {"action": "set_nsfw", "sha256s": ["a" * 64], "nsfw": True, "tags": ["x"]},
    {"action": "set_favorite", "sha256s": ["a" * 64], "favorite": 1},
    {"action": "set_favorite", "sha256s": ["a" * 64], "nsfw": True},
    {"action": "set_base_model", "sha256s": ["a" * 64], "base_model": ""},
    {"action": "set_base_model", "sha256s": ["a" * 64], "base_model": "x" * 65},
]


async def test_a_bad_body_is_a_400_and_changes_nothing(daemon: Daemon, models: Path):
    shas = await five(daemon, models)
    before = await daemon.get("/api/models?limit=1000")
    for body in [*BAD_BODIES, *({"action": "remove", "sha256s": [sha], "filter": {}} for sha in shas)]:
        answer = await daemon.call("POST", BULK, body, expect=400)
        assert answer["error"], body
    assert await daemon.get("/api/models?limit=1000") == before
