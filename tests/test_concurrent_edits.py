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
