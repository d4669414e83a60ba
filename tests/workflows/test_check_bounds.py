"""What a hostile body may cost, bounded: JSON counted before it is parsed (lists and values too, not only
objects), a PNG's repeated compressed texts not inflated again and all of them capped together, and a deep or
huge `Hashes:` JSON in A1111's settings read as text, never a 500."""

from __future__ import annotations

import json
import tracemalloc
import zlib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from check_daemon import post, still_serving, with_a_lora
from workflow_fixtures import png, png_chunk, raw_png, ui_node, ui_workflow

from conftest import Daemon
from hikaze_mm.workflows import a1111, json_text
from hikaze_mm.workflows import png as png_module
from hikaze_mm.workflows.errors import WorkflowError


@pytest.fixture
async def lora_daemon(daemon: Daemon, models: Path) -> Daemon:
    return await with_a_lora(daemon, models)


def test_lists_and_values_are_refused_before_the_parser_builds_them():
    lists = b'{"nodes": [' + b",".join([b"[]"] * 2_000_000) + b"]}"
    numbers = b'{"nodes": [], "x": [' + b",".join([b"1.5"] * 5_000_000) + b"]}"
    for body, says in ((lists, "1000000 JSON objects and lists"), (numbers, "4000000 JSON values")):
        tracemalloc.start()
        try:
            with pytest.raises(WorkflowError, match=says):
                json_text.parse_json(body, "the body")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, peak  # parsed, either would take hundreds of MiB


@pytest.mark.parametrize(("body", "says"), [
    (b'{"nodes": [], "x": [' + b",".join([b"[]"] * (json_text.MAX_CONTAINERS + 1)) + b"]}", "JSON objects and lists"),
    (b'{"nodes": [], "x": [' + b",".join([b"0"] * json_text.MAX_VALUES) + b"]}", "JSON values"),
], ids=["a million lists", "four million numbers"])
async def test_a_body_of_too_many_lists_or_values_is_a_400(lora_daemon: Daemon, models: Path, body: bytes, says: str):
    status, answer = await post(lora_daemon, body, "application/json")
    assert status == 400 and says in answer["error"], answer
    await still_serving(lora_daemon)


def test_a_real_workflow_is_far_below_the_counts():
    fixture = Path(__file__).parents[1] / "fixtures" / "comfyui" / "frontend-1.58.1" / "ui_workflow.json"
    text = fixture.read_bytes()
    nodes = len(json.loads(text)["nodes"]) + 1  # and the subgraph's
    # 20,000 nodes of this workflow's shape fit with room to spare.
    assert (text.count(b"{") + text.count(b"[")) * 20_000 // nodes < json_text.MAX_CONTAINERS // 2
    assert (text.count(b"{") + text.count(b"[") + text.count(b",")) * 20_000 // nodes < json_text.MAX_VALUES // 3


class CountingZlib(SimpleNamespace):
    """zlib, counting the bytes its inflaters give out."""

    def __init__(self) -> None:
        super().__init__(inflated=0, error=zlib.error)

    def decompressobj(self) -> Any:
        inflater, counter = zlib.decompressobj(), self

        class Counted:
            @property
            def unconsumed_tail(self) -> bytes:
                return inflater.unconsumed_tail

            def decompress(self, data: bytes, max_length: int = 0) -> bytes:
                out = inflater.decompress(data, max_length)
                counter.inflated += len(out)
                return out

        return Counted()


def ztxt(key: bytes, text: bytes) -> bytes:
    return png_chunk(b"zTXt", key + b"\0\0" + zlib.compress(text, 9))


def test_a_repeated_text_is_not_inflated_again(monkeypatch):
    counting = CountingZlib()
    monkeypatch.setattr(png_module, "zlib", counting)
    first = json.dumps(ui_workflow([ui_node(1, "LoraLoader", ["a.safetensors"])])).encode()
    body = raw_png(ztxt(b"workflow", first), *[ztxt(b"workflow", b" " * (1 << 20))] * 40)
    assert png_module.png_texts(body, frozenset({"workflow"})) == {"workflow": first.decode()}
    assert counting.inflated == len(first)


async def test_repeated_and_many_compressed_texts_are_bounded(lora_daemon: Daemon, models: Path):
    workflow = json.dumps(ui_workflow([ui_node(1, "LoraLoader", ["a.safetensors"])])).encode()
    repeated = raw_png(ztxt(b"workflow", workflow), *[ztxt(b"workflow", b" " * ((32 << 20) - 16))] * 100)
    status, answer = await post(lora_daemon, repeated, "image/png")
    assert status == 200 and answer["counts"]["found"] == 1, answer
    padded = b" " * (30 << 20)
    three = raw_png(ztxt(b"workflow", workflow + padded), ztxt(b"prompt", b"{}" + padded),
                    ztxt(b"parameters", b"<lora:a:1>" + padded))
    status, answer = await post(lora_daemon, three, "image/png")
    assert status == 400 and "inflate to more than 64 MiB together" in answer["error"], answer
    await still_serving(lora_daemon)


async def test_a_deep_or_huge_hashes_json_is_read_as_text(lora_daemon: Daemon, models: Path):
    for nested in ('{"a":' * 100_000 + "1" + "}" * 100_000, '{"a":' * 500 + "1" + "}" * 500):
        text = "<lora:a:1>\nSteps: 20, Hashes: " + nested + ", Model: base"
        status, answer = await post(lora_daemon, png({"parameters": text}), "image/png")
        assert status == 200, answer
        assert [(r["name"], r["status"], r["autov2"]) for r in answer["references"]] == [
            ("base", "missing", None), ("a", "found", None)]
    # Past MAX_JSON its hashes are not taken, nor the settings after it (the text no longer parses as settings).
    huge = json.dumps({"lora:a": "0123456789", "pad": "x" * a1111.MAX_JSON})
    text = "<lora:a:1>\nSteps: 20, Hashes: " + huge + ", Model: base"
    status, answer = await post(lora_daemon, png({"parameters": text}), "image/png")
    assert status == 200 and [(r["name"], r["autov2"]) for r in answer["references"]] == [("a", None)], answer
    await still_serving(lora_daemon)


def test_a_hashes_json_within_bounds_is_still_read():
    text = '<lora:a:1>\nSteps: 20, Hashes: {"model": "abcdef0123", "lora:a": "0123456789"}, Model: base'
    known = a1111.hashes(text)
    assert (known.model, known.loras) == ("abcdef0123", {"a": "0123456789"})
