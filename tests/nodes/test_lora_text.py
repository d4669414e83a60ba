"""The LoRA loader's `lora_text` input (A1111 `<lora:name:0.8>` entries) and its `trigger_words` output: the words
ticked in the payload, else all of the LoRA's words from the daemon (by sha256, or by the file's path through a
stand-in of the daemon's `GET /api/models/by-path` on loopback)."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from comfy_stubs import Comfy, Thing
from conftest import free_port, write_model
from pack_fixtures import comfy_fixture, loras_fixture, pack_fixture  # noqa: F401  (comfy, pack, loras)

FIX = "write it as <lora:name:0.8> or <lora:name:0.8:0.5>"
SHA_A, SHA_B = "a" * 64, "b" * 64


def node(pack: ModuleType) -> Any:
    return pack.NODE_CLASS_MAPPINGS["HikazeLoraPowerLoader"]


def document(*entries: dict[str, Any]) -> str:
    return json.dumps({"version": 2, "loras": list(entries)})


def apply(pack: ModuleType, payload: str, text: str | None = None) -> tuple[Any, Any, str]:
    return node(pack)().load_loras(Thing("ckpt"), payload, Thing("ckpt"), lora_text=text)


def parse(pack: ModuleType, text: str) -> list[tuple[str, float, float]]:
    return [(e.name, e.strength_model, e.strength_clip) for e in pack.nodes.lora_text.parse_lora_text(text)]


@dataclass
class FakeDaemon:
    """The daemon's model routes as contracts 2 and 3 of issue 17 shape them: a model by sha256, and by the path
    of its file on this host (exact, then realpath); 404 for anything it does not know."""

    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha256 -> {"path", "words"}
    asked: list[str] = field(default_factory=list)
    url: str = ""

    def add(self, sha256: str, path: Path, words: list[str]) -> None:
        self.models[sha256] = {"path": str(path), "words": words}

    def model(self, sha256: str) -> dict[str, Any]:
        m = self.models[sha256]
        return {"sha256": sha256, "path": m["path"], "use_count": 0, "last_used_at": None,
                "meta_json": {"trigger_words": m["words"]}}

    async def by_sha(self, request: web.Request) -> web.Response:
        self.asked.append(request.raw_path)
        if request.match_info["sha256"] not in self.models:
            raise web.HTTPNotFound()
        return web.json_response(self.model(request.match_info["sha256"]))

    async def by_path(self, request: web.Request) -> web.Response:
        self.asked.append(request.raw_path)
        path = request.query.get("path", "")
        for sha, m in self.models.items():
            if m["path"] == path or os.path.realpath(m["path"]) == os.path.realpath(path):
                return web.json_response(self.model(sha))
        raise web.HTTPNotFound()


@pytest.fixture
async def fake_daemon(comfy: Comfy, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDaemon]:
    # After `comfy`, which points HIKAZE_MM_URL at a port where nothing listens.
    fake = FakeDaemon()
    app = web.Application()
    app.router.add_get("/api/models/by-path", fake.by_path)  # before {sha256}, which would also match it
    app.router.add_get("/api/models/{sha256}", fake.by_sha)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    monkeypatch.setenv("HIKAZE_MM_URL", fake.url)
    yield fake
    await server.close()


# -- reading the text --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("<lora:detail:0.8>", [("detail", 0.8, 0.8)]),
    ("<lora:detail:0.8:0.5>", [("detail", 0.8, 0.5)]),
    ("<lora:detail>", [("detail", 1.0, 1.0)]),
    ("<lora:detail:-1.25:0>", [("detail", -1.25, 0.0)]),
    ("<lora: my style lora : 0.7 : .25 >", [("my style lora", 0.7, 0.25)]),
    ("<lora:水彩 スタイル:0.6>", [("水彩 スタイル", 0.6, 0.6)]),
    ("<lora:style/ink.safetensors:1e-1>", [("style/ink.safetensors", 0.1, 0.1)]),
    ("masterpiece, 1girl <lora:a:0.5>, <lora:b:1:0.2> smiling, <LoRA:c>",
     [("a", 0.5, 0.5), ("b", 1.0, 0.2), ("c", 1.0, 1.0)]),
    ("<lora:a:0.5>\nsecond line <lora:b>\n\n  <lora:a:0.1>", [("a", 0.5, 0.5), ("b", 1.0, 1.0), ("a", 0.1, 0.1)]),
    ("a prompt with <lora> and lora:x:1 and <hypernet:y:1>, no entries", []),
    ("", []),
])
def test_entries_are_read_with_their_strengths_and_the_rest_is_ignored(
    pack: ModuleType, text: str, expected: list[tuple[str, float, float]]
) -> None:
    assert parse(pack, text) == expected
    assert node(pack).VALIDATE_INPUTS(hikaze_payload='{"loras": []}', lora_text=text) is True


@pytest.mark.parametrize(("text", "message"), [
    ("a prompt <lora:detail:0.8", "LoRA text entry 1 <lora:detail:0.8: no closing >"),
    ("<lora:a:0.5 <lora:b:1>", "LoRA text entry 1 <lora:a:0.5: no closing >"),
    ("<lora::0.5>", "LoRA text entry 1 <lora::0.5>: the name is empty"),
    ("<lora: >", "LoRA text entry 1 <lora: >: the name is empty"),
    ("<lora:a:abc>", 'LoRA text entry 1 <lora:a:abc>: the strength "abc" is not a finite number'),
    ("<lora:a:>", 'LoRA text entry 1 <lora:a:>: the strength "" is not a finite number'),
    ("<lora:a:nan>", 'LoRA text entry 1 <lora:a:nan>: the strength "nan" is not a finite number'),
    ("<lora:a:1:-inf>", 'LoRA text entry 1 <lora:a:1:-inf>: the strength "-inf" is not a finite number'),
    ("<lora:a:1e999>", 'LoRA text entry 1 <lora:a:1e999>: the strength "1e999" is not a finite number'),
    ("<lora:a:1:1:1>", "LoRA text entry 1 <lora:a:1:1:1>: too many fields (4)"),
    ("fine <lora:ok:1> then <lora:bad:0,5>", 'LoRA text entry 2 <lora:bad:0,5>: the strength "0,5" is not'),
])
def test_a_malformed_entry_is_refused_naming_it_and_the_fix(
    pack: ModuleType, comfy: Comfy, loras: Path, text: str, message: str
) -> None:
    write_model(loras / "ok.safetensors")
    PayloadError = pack.nodes.payload.PayloadError
    with pytest.raises(PayloadError) as e:
        pack.nodes.lora_text.parse_lora_text(text)
    assert str(e.value).startswith(message)
    assert str(e.value).endswith(FIX)
    # Refused before the queue runs, and by the run itself when the text comes through a link.
    assert node(pack).VALIDATE_INPUTS(hikaze_payload='{"loras": []}', lora_text=text) == str(e.value)
    with pytest.raises(PayloadError, match=r"^LoRA text entry"):
        apply(pack, '{"loras": []}', text)
    assert comfy.torch_loads == comfy.lora_calls == []


def test_the_input_is_optional_after_the_existing_ones_and_validated_by_name(pack: ModuleType) -> None:
    inputs = node(pack).INPUT_TYPES()
    assert list(inputs["required"]) == ["model", "hikaze_payload"]
    # Old workflows list their widget values in order: the new widget comes after every existing one.
    assert list(inputs["optional"]) == ["clip", "lora_text"]
    kind, options = inputs["optional"]["lora_text"]
    assert kind == "STRING" and options["multiline"] is True and options["default"] == ""
    assert "<lora:name:0.8:0.5>" in options["tooltip"] and "lora_text" in node(pack).DESCRIPTION
    assert list(inspect.signature(node(pack).VALIDATE_INPUTS).parameters) == ["hikaze_payload", "lora_text"]
    # A linked payload or text (None) is checked when the node runs; a wrong payload is still named first.
    assert node(pack).VALIDATE_INPUTS() is True
    assert str(node(pack).VALIDATE_INPUTS(hikaze_payload=None, lora_text="<lora:x")).startswith("LoRA text entry 1")
    assert node(pack).VALIDATE_INPUTS(hikaze_payload="[1]", lora_text="<lora:x").startswith("LoRA 1 must be")


# -- applying ------------------------------------------------------------------------------------------------------
def test_the_payloads_entries_come_first_then_the_texts_in_order(
    pack: ModuleType, comfy: Comfy, loras: Path
) -> None:
    a, b = write_model(loras / "a.safetensors"), write_model(loras / "b.safetensors")
    c = write_model(loras / "style" / "c.safetensors")
    d = write_model(loras / "my lora ü.safetensors")
    payload = document({"full_path": str(b), "strength_model": 0.2}, {"full_path": str(a), "enabled": False},
                       {"name": "a", "strength_model": 0.9, "strength_clip": 0.1})
    text = "1girl, <lora:style/c:0.3>, <lora:b:0:0> <lora:my lora ü.safetensors:-1:0.5>\n<lora:c>"

    model, clip, words = apply(pack, payload, text)

    assert comfy.torch_loads == [(str(b), True), (str(a), True), (str(c), True), (str(d), True), (str(c), True)]
    assert [(call[3], call[4]) for call in comfy.lora_calls] == [(0.2, 1.0), (0.9, 0.1), (0.3, 0.3), (-1, 0.5),
                                                                 (1, 1)]
    assert model.patches == ((str(b), 0.2), (str(a), 0.9), (str(c), 0.3), (str(d), -1), (str(c), 1))
    assert clip.patches == ((str(b), 1.0), (str(a), 0.1), (str(c), 0.3), (str(d), 0.5), (str(c), 1))
    assert words == ""  # no daemon


def test_the_same_loras_as_text_or_as_payload_give_the_same_calls(
    pack: ModuleType, comfy: Comfy, loras: Path
) -> None:
    for name in ("detail", "style/ink", "水彩"):
        write_model(loras / f"{name}.safetensors")
    text = "<lora:detail:0.8> <lora:style/ink.safetensors:0.6:0.25> <lora:水彩>"
    payload = document({"name": "detail", "strength_model": 0.8, "strength_clip": 0.8},
                       {"full_path": "style/ink.safetensors", "strength_model": 0.6, "strength_clip": 0.25},
                       {"name": "水彩"})

    from_text = apply(pack, '{"loras": []}', text)
    text_loads, text_calls = list(comfy.torch_loads), list(comfy.lora_calls)
    comfy.torch_loads.clear()
    comfy.lora_calls.clear()
    from_payload = apply(pack, payload)

    assert len(text_calls) == 3
    assert (comfy.torch_loads, comfy.lora_calls) == (text_loads, text_calls)
    assert from_text == from_payload


def test_a_text_entry_found_by_its_file_name_in_a_sub_folder_is_no_warning(
    pack: ModuleType, comfy: Comfy, loras: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A1111 names a LoRA by its file name wherever it sits; a payload entry found that way has moved."""
    write_model(loras / "style" / "ink.safetensors")
    caplog.set_level(logging.INFO, "hikaze.nodes")
    apply(pack, '{"loras": []}', "<lora:ink:0.5>")
    assert len(comfy.lora_calls) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    apply(pack, document({"name": "ink"}))
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and warned[0].endswith("the only file of that name"), warned


def test_a_text_entry_found_nowhere_fails_before_anything_loads(pack: ModuleType, comfy: Comfy, loras: Path) -> None:
    write_model(loras / "here.safetensors")
    with pytest.raises(FileNotFoundError) as e:
        apply(pack, document({"name": "here"}), "<lora:here:1> <lora:ghost:0.5>")
    assert str(e.value).startswith("LoRA text entry 2 <lora:ghost:0.5>: file not found; tried ghost and "
                                   "ghost.safetensors in ComfyUI's loras folders")
    assert comfy.torch_loads == []


def test_is_changed_follows_the_texts_files(pack: ModuleType, loras: Path) -> None:
    lora = write_model(loras / "t.safetensors")
    payload, text = '{"loras": []}', "prompt <lora:t:0.5>"
    first = node(pack).IS_CHANGED(model=None, clip=None, hikaze_payload=payload, lora_text=text)
    assert node(pack).IS_CHANGED(model=None, clip=None, hikaze_payload=payload, lora_text=text) == first
    assert json.loads(json.loads(first)[0]) == [payload, text]
    assert json.loads(first)[1][0][0] == str(lora)

    write_model(lora, size=1000)  # replaced under the same name
    second = node(pack).IS_CHANGED(hikaze_payload=payload, lora_text=text)
    assert second != first
    assert node(pack).IS_CHANGED(hikaze_payload=payload, lora_text="prompt <lora:t:0.6>") != second
    # A text wired in from another node is not known yet: a change upstream runs the node again anyway.
    assert node(pack).IS_CHANGED(hikaze_payload=None, lora_text=None) == ""
    assert node(pack).IS_CHANGED(hikaze_payload=None, lora_text=text) != ""
    broken = node(pack).IS_CHANGED(hikaze_payload=payload, lora_text="<lora:t")
    assert json.loads(broken) == [payload, "<lora:t"]


# -- trigger words -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "shown"), [
    ("hero, cape", '"hero, cape"'),
    ([1, "cape"], '[1, "cape"]'),
    ({"hero": True}, '{"hero": true}'),
    (True, "true"),
    ([None], "[null]"),
])
def test_a_ticked_list_of_the_wrong_type_is_refused(pack: ModuleType, comfy: Comfy, value: Any, shown: str) -> None:
    payload = document({"full_path": "/m/a.safetensors"}, {"full_path": "/m/b.safetensors", "trigger_words": value})
    message = (f"LoRA 2: trigger_words must be a list of words (strings), got {shown}; remove the field to output "
               "all of the LoRA's words")
    with pytest.raises(pack.nodes.payload.PayloadError) as e:
        pack.nodes.payload.parse_lora_list(payload)
    assert str(e.value) == message
    assert node(pack).VALIDATE_INPUTS(hikaze_payload=payload) == message
    with pytest.raises(pack.nodes.payload.PayloadError):
        apply(pack, payload)
    assert comfy.torch_loads == []


def test_a_ticked_list_is_read_in_its_order(pack: ModuleType) -> None:
    entries = pack.nodes.payload.parse_lora_list(document(
        {"name": "a", "trigger_words": [" cape ", "hero", ""]}, {"name": "b", "trigger_words": []},
        {"name": "c", "trigger_words": None}, {"name": "d"},
    ))
    assert [e.trigger_words for e in entries] == [("cape", "hero"), (), None, None]


async def test_words_are_the_ticked_ones_else_all_of_the_loras_by_sha256_or_by_path(
    fake_daemon: FakeDaemon, pack: ModuleType, comfy: Comfy, loras: Path
) -> None:
    a, b = write_model(loras / "a.safetensors"), write_model(loras / "b.safetensors")
    c = write_model(loras / "style" / "c d.safetensors")
    ghost_words = write_model(loras / "unknown.safetensors")  # a file the daemon has no model for
    fake_daemon.add(SHA_A, a, ["hero", "cape", "mask"])
    fake_daemon.add(SHA_B, b, ["city", "night"])
    fake_daemon.add("c" * 64, c, ["ink", "cape"])
    payload = document(
        {"full_path": str(a), "sha256": SHA_A, "trigger_words": ["mask", "hero"]},  # ticked: those, in that order
        {"full_path": str(b), "sha256": SHA_B},  # absent: all of them
        {"full_path": str(b), "sha256": SHA_B, "trigger_words": [], "enabled": False},  # off: nothing
    )
    text = "<lora:style/c d:0.7> <lora:unknown> <lora:b:0:0>"

    _, _, words = await asyncio.to_thread(apply, pack, payload, text)

    assert words == "mask, hero, city, night, ink, cape"
    # The text's entries are asked for by the path of the file loaded, as GET /api/models/by-path takes it.
    assert [q for q in fake_daemon.asked if "by-path" in q] == [
        "/api/models/by-path?path=" + str(c).replace("/", "%2F").replace(" ", "%20"),
        "/api/models/by-path?path=" + str(ghost_words).replace("/", "%2F"),
    ]
    assert f"/api/models/{SHA_A}" not in fake_daemon.asked  # ticked: no need to ask

    none_ticked = document({"full_path": str(a), "sha256": SHA_A, "trigger_words": []})
    assert (await asyncio.to_thread(apply, pack, none_ticked))[2] == ""
    # A payload entry without a sha256 (typed, an rgthree row) is asked for by its file's path too.
    rgthree = json.dumps([{"lora": "a.safetensors", "strength": 1}])
    assert (await asyncio.to_thread(apply, pack, rgthree))[2] == "hero, cape, mask"


async def test_a_symlinked_path_finds_its_model_and_a_daemon_that_is_down_gives_no_words(
    fake_daemon: FakeDaemon, pack: ModuleType, comfy: Comfy, loras: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = write_model(tmp_path / "nas" / "hero.safetensors")
    (loras / "linked").symlink_to(real.parent)
    fake_daemon.add(SHA_A, real, ["hero"])
    assert (await asyncio.to_thread(apply, pack, '{"loras": []}', "<lora:linked/hero:1>"))[2] == "hero"

    monkeypatch.setenv("HIKAZE_MM_URL", f"http://127.0.0.1:{free_port()}")
    model, _, words = await asyncio.to_thread(apply, pack, '{"loras": []}', "<lora:linked/hero:1>")
    assert words == "" and model.patches == ((str(loras / "linked" / "hero.safetensors"), 1.0),)


async def test_a_daemon_without_the_by_path_route_still_gives_the_words_it_knows_by_sha256(
    pack: ModuleType, comfy: Comfy, loras: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(loras / "a.safetensors")
    b = write_model(loras / "b.safetensors")
    fake = FakeDaemon()
    fake.add(SHA_B, b, ["city"])

    async def older(request: web.Request) -> web.Response:  # its only model route: "by-path" is no sha256
        if request.match_info["sha256"] == "by-path":
            fake.asked.append(request.raw_path)
            return web.json_response({"error": "a model id is a sha256"}, status=400)
        return await fake.by_sha(request)

    app = web.Application()
    app.router.add_get("/api/models/{sha256}", older)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    monkeypatch.setenv("HIKAZE_MM_URL", str(server.make_url("")).rstrip("/"))
    try:
        payload = json.dumps([{"lora": "a", "strength": 1}, {"full_path": str(b), "sha256": SHA_B}])
        _, _, words = await asyncio.to_thread(apply, pack, payload)
    finally:
        await server.close()
    assert words == "city"
    assert [q.split("?")[0] for q in fake.asked] == ["/api/models/by-path", f"/api/models/{SHA_B}"]


# -- the panel's route on ComfyUI's server ------------------------------------------------------------------------
async def test_the_panel_asks_comfyui_for_a_rows_words(
    fake_daemon: FakeDaemon, pack: ModuleType, comfy: Comfy, loras: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write_model(loras / "people" / "a.safetensors")
    fake_daemon.add(SHA_A, a, ["hero", "cape"])
    app = web.Application()
    app.add_routes(comfy.routes)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        async def ask(**query: str) -> tuple[int, dict[str, Any]]:
            resp = await client.get("/hikaze/lora/trigger-words", params=query)
            return resp.status, await resp.json()

        assert await ask(sha256=SHA_A.upper()) == (200, {"words": ["hero", "cape"], "reachable": True})
        assert await ask(sha256=SHA_A, path="/elsewhere.safetensors") == (200, {"words": ["hero", "cape"],
                                                                                "reachable": True})
        # A row without sha256 is found the way the node finds its file, then asked for by that path.
        assert await ask(path="people/a") == (200, {"words": ["hero", "cape"], "reachable": True})
        assert await ask(path="a.safetensors") == (200, {"words": ["hero", "cape"], "reachable": True})
        assert await ask(path="ghost") == (200, {"words": [], "reachable": True})
        assert await ask(sha256=SHA_B) == (200, {"words": [], "reachable": True})
        assert await ask(sha256="xyz") == (400, {"error": "sha256 must be 64 hex digits, got 'xyz'"})
        assert await ask() == (400, {"error": "give the LoRA's sha256 or its path"})

        monkeypatch.setenv("HIKAZE_MM_URL", f"http://127.0.0.1:{free_port()}")
        assert await ask(sha256=SHA_A) == (200, {"words": [], "reachable": False})
        # With the daemon down, a file that exists and one that does not get the same answer: the route is no
        # way to learn which files are on this machine.
        here = str(Path(__file__).resolve())
        assert await ask(path=here) == await ask(path=here + ".gone") == (200, {"words": [], "reachable": False})
    finally:
        await client.close()
