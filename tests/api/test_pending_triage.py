"""The inbox's search and filters on GET /api/pending (`q`, `type`, `folder`), what each row carries for its line
(base model, trigger words, cover), and the import report's per-file outcome."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from conftest import Daemon, write_model


async def _names(daemon: Daemon, query: str) -> set[str]:
    listing = await daemon.get(f"/api/pending?limit=1000&{query}")
    assert listing["total"] == len(listing["pending"])
    return {row["name"] for row in listing["pending"]}


@pytest.fixture
async def queued(daemon: Daemon, models: Path) -> Daemon:
    paths = [write_model(models / rel, seed=rel.encode()) for rel in (
        "loras/characters/少女风格.safetensors", "loras/characters/Hero_Man.safetensors",
        "loras/style/100%_water_color.safetensors", "loras/stylesheet.safetensors", "checkpoints/base.safetensors")]
    for path in paths:
        await daemon.wait_row(path)
    return daemon


async def test_q_finds_names_and_paths_in_any_case_and_cjk(queued: Daemon):
    assert await _names(queued, f"q={quote('少女')}") == {"少女风格.safetensors"}
    assert await _names(queued, "q=hero_MAN") == {"Hero_Man.safetensors"}
    # A folder in the path matches too, and `%`/`_` are plain characters, not patterns.
    assert await _names(queued, "q=CHARACTERS") == {"少女风格.safetensors", "Hero_Man.safetensors"}
    assert await _names(queued, f"q={quote('100%_')}") == {"100%_water_color.safetensors"}
    assert await _names(queued, f"q={quote('%')}") == {"100%_water_color.safetensors"}
    assert await _names(queued, "q=nothing-like-this") == set()


async def test_type_and_folder_narrow_the_list(queued: Daemon, models: Path):
    assert await _names(queued, "type=checkpoints") == {"base.safetensors"}
    assert await _names(queued, "folder=loras/characters") == {"少女风格.safetensors", "Hero_Man.safetensors"}
    # A folder is a whole folder: `loras/style` is not `loras/stylesheet.safetensors`'s.
    assert await _names(queued, "folder=loras/style/") == {"100%_water_color.safetensors"}
    assert await _names(queued, f"folder={quote(str(models / 'loras' / 'characters'))}") == {
        "少女风格.safetensors", "Hero_Man.safetensors"}
    assert await _names(queued, f"folder=loras&type=loras&q={quote('风格')}") == {"少女风格.safetensors"}
    assert await _names(queued, "folder=vae") == set()
    assert await _names(queued, "folder=/nowhere/at/all") == set()


async def test_hostile_filters_get_400_and_odd_ones_an_answer(queued: Daemon):
    for query in ("folder=../../etc", "folder=loras/../../x", f"q={quote(chr(0))}", f"folder={quote(chr(7))}",
                  "q=" + "x" * 1001, f"folder={quote('loras' + chr(0))}"):
        code, answer = await queued.request("GET", f"/api/pending?{query}")
        assert code == 400 and "error" in answer, (query, answer)
    for query in ("q=%27%3B%20DROP%20TABLE%20pending_import%3B--", "q=%5C", "folder=%2F", "type=%27",
                  "q=%F0%9F%98%80", "folder=.", "folder=%5C%5C"):
        code, answer = await queued.request("GET", f"/api/pending?{query}")
        assert code == 200, (query, answer)
    assert len((await queued.get("/api/pending"))["pending"]) == 5


async def test_rows_carry_base_model_triggers_and_cover(daemon: Daemon, models: Path):
    path = write_model(models / "loras" / "plain.safetensors")
    row = await daemon.wait_row(path)
    assert (row["base_model"], row["trigger_words"], row["cover"]) == (None, [], None)
    detail = await daemon.get(f"/api/pending/{row['id']}")
    assert (detail["base_model"], detail["trigger_words"], detail["cover"]) == (None, [], None)
