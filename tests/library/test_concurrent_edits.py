"""Edits that arrive at the same time, against the real daemon: every change that was answered 200 is there
afterwards. Each PATCH changes one field; a PATCH reads the stored metadata, merges its change and writes the result
back, and an import that merges a conflict row does the same, so the read must happen inside the write's own
transaction for two of them never to overwrite each other."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from conftest import Daemon, write_model

ROUNDS = 8


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(out, "PNG")
    return out.getvalue()


async def upload(d: Daemon, sha: str, data: bytes) -> int:
    form = aiohttp.FormData()
    form.add_field("image", data, filename="x.png", content_type="application/octet-stream")
    status, body = await d.request("POST", f"/api/models/{sha}/images", data=form)
    assert status == 201, (status, body)
    return body["seq"]


def one_field_patches(r: int) -> list[dict[str, Any]]:
    """Nine PATCH bodies, each changing one different field (five of them keys of meta_json, two of them the two
    halves of `prompts`), to values unique to round `r`."""
    return [
        {"name": f"name {r}"},
        {"tags": [f"tag-{r}", "kept"]},
        {"meta_json": {"description": f"description {r}"}},
        {"meta_json": {"notes": f"notes {r}"}},
        {"meta_json": {"trigger_words": [f"word{r}"]}},
        {"meta_json": {"prompts": {"positive": f"positive {r}"}}},
        {"meta_json": {"prompts": {"negative": f"negative {r}"}}},
        {"meta_json": {"community_links": [f"https://example.com/{r}"]}},
        {"meta_json": {"nsfw": r % 2 == 1}},
    ]


async def test_concurrent_patches_of_different_fields_all_stay(daemon: Daemon, models: Path):
    (sha,) = await daemon.import_files(write_model(models / "loras" / "busy.safetensors"))
    seqs = [await upload(daemon, sha, png((40 * i, 0, 0))) for i in range(3)]
    for r in range(ROUNDS):
        cover = seqs[r % len(seqs)]
        answers = await asyncio.gather(
            *(daemon.request("PATCH", f"/api/models/{sha}", json=body) for body in one_field_patches(r)),
            daemon.request("PUT", f"/api/models/{sha}/cover", json={"seq": cover}),
        )
        assert all(status == 200 for status, _ in answers), answers
        model = await daemon.get(f"/api/models/{sha}")
        assert model["name"] == f"name {r}"
        assert sorted(model["tags"]) == sorted([f"tag-{r}", "kept"])
        assert model["meta_json"] == {
            "description": f"description {r}", "notes": f"notes {r}", "trigger_words": [f"word{r}"],
            "prompts": {"positive": f"positive {r}", "negative": f"negative {r}"},
            "community_links": [f"https://example.com/{r}"], "nsfw": r % 2 == 1,
            "user_set": ["community_links", "description", "nsfw", "trigger_words"],  # no fetch fills them now
        }, f"round {r}"
        assert model["cover"]["high"].endswith(f"/{cover}/high")
        # The search index follows the last write too.
        found = await daemon.get(f"/api/models?q=description%20{r}")
        assert [m["sha256"] for m in found["models"]] == [sha]


async def test_merge_import_beside_concurrent_patches_keeps_both(daemon: Daemon, models: Path):
    """An import that merges a byte-identical file into the model, while the user edits the model's name and
    metadata: the edits are kept (the model wins a merge) and the copy joins the model."""
    original = write_model(models / "loras" / "main.safetensors", seed=b"twin")
    (sha,) = await daemon.import_files(original)
    for r in range(ROUNDS):
        twin = write_model(models / "checkpoints" / f"twin{r}.safetensors", seed=b"twin")
        row = await daemon.wait_row(twin, status="conflict")
        merge = daemon.request("POST", "/api/pending/import", json={"ids": [row["id"]], "conflict_strategy": "merge"})
        answers = await asyncio.gather(
            merge, *(daemon.request("PATCH", f"/api/models/{sha}", json=body) for body in one_field_patches(r)),
        )
        assert all(status == 200 for status, _ in answers), answers
        assert answers[0][1]["imported"] == [{"id": row["id"], "sha256": sha}], answers[0]
        model = await daemon.get(f"/api/models/{sha}")
        assert model["name"] == f"name {r}", f"round {r}"
        assert model["meta_json"]["description"] == f"description {r}", f"round {r}"
        assert model["meta_json"]["notes"] == f"notes {r}", f"round {r}"
        assert model["meta_json"]["prompts"] == {"positive": f"positive {r}", "negative": f"negative {r}"}
        assert str(twin) in model["copies"]


TABS = 6


def tab_edit(r: int, i: int) -> dict[str, Any]:
    """What tab `i` saves in round `r`: its own new tag, trigger word and link, and its item of the round before
    taken out again, sent as the changes against what the tab loaded (as the page sends them)."""
    body: dict[str, Any] = {
        "tags_add": [f"r{r}-tab{i}"],
        "meta_add": {"trigger_words": [f"r{r}w{i}"], "community_links": [f"https://example.com/{r}/{i}"]},
    }
    if r:
        body["tags_remove"] = [f"R{r - 1}-TAB{i}"]  # tags are one tag whatever their case
        body["meta_remove"] = {"trigger_words": [f"r{r - 1}w{i}"],
                               "community_links": [f"https://example.com/{r - 1}/{i}"]}
    return body


async def test_tabs_adding_and_removing_list_items_at_once_all_stay(daemon: Daemon, models: Path):
    """Two tabs that each add a tag were both answered 200 while one addition was lost, when each sent its whole
    list. Added and removed items commute: every one answered 200 is there (or gone) afterwards, and what no tab
    touched stays where it was."""
    (sha,) = await daemon.import_files(write_model(models / "loras" / "tabs.safetensors"))
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "tags": ["base"], "meta_json": {"trigger_words": ["w0"], "community_links": ["https://example.com/base"]}})
    assert status == 200, body
    for r in range(ROUNDS):
        answers = await asyncio.gather(
            *(daemon.request("PATCH", f"/api/models/{sha}", json=tab_edit(r, i)) for i in range(TABS)))
        assert [status for status, _ in answers] == [200] * TABS, answers
        model = await daemon.get(f"/api/models/{sha}")
        assert sorted(model["tags"]) == sorted(["base", *(f"r{r}-tab{i}" for i in range(TABS))]), f"round {r}"
        words = model["meta_json"]["trigger_words"]
        assert words[0] == "w0" and sorted(words[1:]) == sorted(f"r{r}w{i}" for i in range(TABS)), f"round {r}"
        links = model["meta_json"]["community_links"]
        assert links[0] == "https://example.com/base", f"round {r}"
        assert sorted(links[1:]) == sorted(f"https://example.com/{r}/{i}" for i in range(TABS)), f"round {r}"
        found = await daemon.get(f"/api/models?q=r{r}w0")
        assert [m["sha256"] for m in found["models"]] == [sha]


async def test_list_edits_refused_change_nothing(daemon: Daemon, models: Path):
    """A bad list edit is a 400 that says what is wrong, and the rest of its PATCH is not written either."""
    (sha,) = await daemon.import_files(write_model(models / "loras" / "strict.safetensors"))
    status, _ = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "tags": ["Kept"], "meta_json": {"trigger_words": ["w0"], "community_links": ["https://example.com/"]}})
    assert status == 200
    before = await daemon.get(f"/api/models/{sha}")
    many = [f"w{i}" for i in range(1, 200)]  # 199 new words: 200 with the stored one, 201 with one more
    refused: list[tuple[dict[str, Any], str]] = [
        ({"tags_add": ["new", "kept "], "tags_remove": ["KEPT"]}, "both"),
        ({"meta_add": {"trigger_words": ["x"]}, "meta_remove": {"trigger_words": [" x"]}}, "both"),
        ({"tags_add": [""]}, "tag name"),
        ({"tags_remove": ["bad\u0007"]}, "control"),
        ({"tags_add": "new"}, "tags_add"),
        ({"tags_add": [f"t{i}" for i in range(201)]}, "tags_add"),
        ({"tags": ["a"], "tags_add": ["b"]}, "tags_add"),
        ({"meta_add": {"community_links": ["javascript:alert(1)"]}}, "not an http(s) URL"),
        ({"meta_add": {"description": ["x"]}}, "trigger_words, community_links"),
        ({"meta_remove": ["w0"]}, "meta_remove"),
        ({"meta_add": None}, "meta_add"),
        ({"tags_remove": None}, "tags_remove"),
        ({"meta_add": {"trigger_words": [1]}}, "meta_add.trigger_words"),
        ({"meta_json": {"trigger_words": ["a"]}, "meta_add": {"trigger_words": ["b"]}}, "trigger_words"),
        ({"meta_add": {"trigger_words": [*many, "w200"]}}, "more than 200"),
    ]
    for edit, said in refused:
        status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={"name": "changed", **edit})
        assert status == 400, (edit, status, body)
        assert said in body["error"], (edit, body)
        assert await daemon.get(f"/api/models/{sha}") == before, edit
    # The stored list reaching the limit by additions is refused, and one within it is not.
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={"meta_add": {"trigger_words": many}})
    assert status == 200, body
    assert len(body["meta_json"]["trigger_words"]) == 200
    full = await daemon.get(f"/api/models/{sha}")
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "name": "changed", "meta_add": {"trigger_words": ["one more"]}})
    assert status == 400 and "more than 200" in body["error"], body
    assert await daemon.get(f"/api/models/{sha}") == full
    for i in range(199):
        status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={"tags_add": [f"t{i}"]})
        assert status == 200, body
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "name": "changed", "tags_add": ["t199", "one too many"]})
    assert status == 400 and "more than 200 tags" in body["error"], body
    after = await daemon.get(f"/api/models/{sha}")
    assert len(after["tags"]) == 200 and after["name"] == before["name"]


async def test_list_edits_add_once_remove_what_is_there(daemon: Daemon, models: Path):
    """An item already there is not added twice (tags whatever their case), removing an absent one changes
    nothing, and additions go to the end."""
    (sha,) = await daemon.import_files(write_model(models / "loras" / "sets.safetensors"))
    status, _ = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "tags": ["Anime"], "meta_json": {"trigger_words": ["b", "a"]}})
    assert status == 200
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "tags_add": ["ANIME", "style"], "tags_remove": ["gone"],
        "meta_add": {"trigger_words": [" a ", "c"]}, "meta_remove": {"trigger_words": ["b", "absent"]}})
    assert status == 200, body
    assert sorted(body["tags"]) == ["Anime", "style"]
    assert body["meta_json"]["trigger_words"] == ["a", "c"]


async def test_same_field_saved_in_two_tabs_the_later_gets_409(daemon: Daemon, models: Path):
    """Two tabs that change the same field, each naming the value it started from: the first save wins, the
    others are answered 409 naming the field and its stored value, and nothing of a refused save is written."""
    (sha,) = await daemon.import_files(write_model(models / "loras" / "same.safetensors"))
    status, _ = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "name": "start", "meta_json": {"description": "d0", "prompts": {"positive": "p0"}}})
    assert status == 200
    for r in range(ROUNDS):
        model = await daemon.get(f"/api/models/{sha}")
        loaded = {"description": model["meta_json"]["description"], "prompts": {"positive": "p0"}}
        answers = await asyncio.gather(*(daemon.request("PATCH", f"/api/models/{sha}", json={
            "meta_json": {"description": f"r{r} tab{i}"}, "tags_add": [f"r{r}-tab{i}"],
            "if_unchanged": {"name": model["name"], "meta_json": loaded}}) for i in range(TABS)))
        won = [i for i, (status, _) in enumerate(answers) if status == 200]
        assert len(won) == 1, answers
        for i, (status, body) in enumerate(answers):
            if i in won:
                continue
            assert status == 409, body
            assert body["changed"] == {"meta_json": {"description": f"r{r} tab{won[0]}"}}, body
            assert "meta_json.description" in body["error"]
        after = await daemon.get(f"/api/models/{sha}")
        assert after["meta_json"]["description"] == f"r{r} tab{won[0]}"
        assert [t for t in after["tags"] if t.startswith(f"r{r}-")] == [f"r{r}-tab{won[0]}"]
    # A value that moved to what this save writes anyway is no conflict; a field not stored counts as empty.
    now = await daemon.get(f"/api/models/{sha}")
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "name": "start", "meta_json": {"description": "mine", "notes": "n"},
        "if_unchanged": {"name": "old", "meta_json": {"description": "old", "notes": "", "nsfw": False}}})
    assert status == 409 and body["changed"] == {"meta_json": {"description": now["meta_json"]["description"]}}
    assert await daemon.get(f"/api/models/{sha}") == now
    status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
        "name": "renamed", "if_unchanged": {"name": "start", "meta_json": {"notes": "", "nsfw": False,
                                                                              "prompts": {"negative": ""}}}})
    assert status == 200 and body["name"] == "renamed", body


async def test_bad_if_unchanged_is_a_400_that_changes_nothing(daemon: Daemon, models: Path):
    (sha,) = await daemon.import_files(write_model(models / "loras" / "guard.safetensors"))
    before = await daemon.get(f"/api/models/{sha}")
    for guard, said in [
        ("x", "if_unchanged"),
        ({"tags": []}, "if_unchanged"),
        ({"name": 3}, "if_unchanged.name"),
        ({"meta_json": {"trigger_words": []}}, "trigger_words"),
        ({"meta_json": {"prompts": {"positive": 1}}}, "prompts.positive"),
        ({"meta_json": {"nsfw": "no"}}, "nsfw"),
        ({"meta_json": []}, "if_unchanged.meta_json"),
    ]:
        status, body = await daemon.request("PATCH", f"/api/models/{sha}", json={
            "name": "changed", "if_unchanged": guard})
        assert status == 400 and said in body["error"], (guard, body)
        assert await daemon.get(f"/api/models/{sha}") == before
