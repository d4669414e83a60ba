"""docs/openapi.yaml is the API's contract: it names exactly the routes the daemon registers, and the real daemon,
fuzzed by schemathesis from it, answers every request without a 5xx, with a documented status and a documented
shape."""

from __future__ import annotations

import io
import sqlite3
import time
from pathlib import Path
from typing import Any

import aiohttp
import hypothesis
import pytest
import schemathesis
import yaml
from hypothesis import strategies as st
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import Daemon, free_port, poll, write_model
from hikaze_mm.api.routes import create_app
from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "patch", "delete", "options", "head", "trace")
NOT_FUZZED = {"GET /api/events"}  # a stream that never ends
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 100  # per operation and generation mode: about 30 s on 2 cores


def spec_operations() -> set[tuple[str, str]]:
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item
            if method in HTTP_METHODS}


def test_spec_names_every_route_and_nothing_else(tmp_path: Path):
    settings = Settings(models_roots=[tmp_path / "models"], data_dir=tmp_path / "data", watch_mode="off",
                        rescan_interval=0, port=free_port())
    app = create_app(App(settings, watch=False).api_parts())
    # The page's own routes (webpage.py) serve the built files, not the API.
    registered = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.method != "HEAD" and r.resource.canonical.startswith("/api/")}
    documented = spec_operations()
    assert not registered - documented, f"registered but not in {SPEC.name}: {sorted(registered - documented)}"
    assert not documented - registered, f"in {SPEC.name} but not registered: {sorted(documented - registered)}"


# -- a library to test against --------------------------------------------------------------------------------------
def png(size: tuple[int, int] = (48, 32)) -> bytes:
    out = io.BytesIO()
    Image.linear_gradient("L").resize(size).convert("RGB").save(out, "PNG")
    return out.getvalue()


async def seed(d: Daemon, models: Path) -> dict[str, Any]:
    """A library worth fuzzing: a model with tags, metadata and an image, a ready row, a conflict row, a tag."""
    kept = write_model(models / "loras" / "kept.safetensors")
    other = write_model(models / "checkpoints" / "other.safetensors")
    kept_row, other_row = await d.ready_rows(kept, other)
    report = await d.call("POST", "/api/pending/import", {"ids": [kept_row["id"]]})
    sha256 = report["imported"][0]["sha256"]
    duplicate = models / "vae" / "duplicate.safetensors"
    duplicate.write_bytes(kept.read_bytes())
    conflict_row = await d.wait_row(duplicate, status="conflict")
    form = aiohttp.FormData()
    form.add_field("image", png(), filename="cover.png", content_type="image/png")
    status, image = await d.request("POST", f"/api/models/{sha256}/images", data=form)
    assert status == 201, image
    tag = await d.call("POST", "/api/tags", {"name": "fuzzed"}, expect=201)
    await d.call("PATCH", f"/api/models/{sha256}", {
        "tags": ["fuzzed", "style"], "meta_json": {"description": "seed", "trigger_words": ["kept"]},
    })
    await d.wait_idle()
    return {"sha256": sha256, "seq": image["seq"], "tag": tag["id"],
            "pending": [other_row["id"], conflict_row["id"]]}


def v1_database(path: Path, model_file: Path) -> Path:
    """A small first-version database: a model with a tag and a description, one whose file is gone, one without
    a path."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE models (id INTEGER PRIMARY KEY, path, name, type, size_bytes INTEGER, hash_hex, "
                   "extra_json)")
        db.execute("CREATE TABLE tags (id INTEGER PRIMARY KEY, name)")
        db.execute("CREATE TABLE model_tags (model_id, tag_id)")
        db.executemany("INSERT INTO models (id, path, name, type, extra_json) VALUES (?, ?, ?, 'lora', ?)", [
            (1, str(model_file), "v1 name", '{"description": "from v1"}'),
            (2, str(path.parent / "gone.safetensors"), "gone", None),
            (3, None, "no path", None),
        ])
        db.execute("INSERT INTO tags (id, name) VALUES (1, 'old-tag')")
        db.execute("INSERT INTO model_tags VALUES (1, 1)")
    db.close()
    return path


# -- the documented shapes, on real data ----------------------------------------------------------------------------
class Tour:
    """Requests built by schemathesis from the spec, sent to the daemon and checked against the spec."""

    def __init__(self, schema: Any, base_url: str):
        self.schema = schema
        self.base_url = base_url

    def __call__(self, method: str, path: str, expect: int, **case: Any) -> Any:
        operation = self.schema[path][method]
        sent = operation.Case(**case)
        response = sent.call(base_url=self.base_url, timeout=30)
        sent.validate_response(response, checks=CHECKS)
        assert response.status_code == expect, (method, path, case, response.status_code, response.text)
        content_type = response.headers.get("content-type", [""])[0]
        return response.json() if content_type.startswith("application/json") else response.content


async def test_documented_shapes_on_real_data(daemon: Daemon, models: Path, tmp_path: Path):
    known = await seed(daemon, models)
    call = Tour(schemathesis.openapi.from_path(SPEC), daemon.url)
    sha, conflict = {"sha256": known["sha256"]}, known["pending"][1]

    call("GET", "/api/health", 200)
    assert daemon.session is not None
    async with daemon.session.get(daemon.url + "/api/events") as stream:  # not fuzzed: it never ends
        assert (stream.status, stream.content_type) == (200, "text/event-stream")
        assert await stream.content.readline() == b": connected\n"
    call("POST", "/api/scan", 202, body={"roots": [str(models)]})
    call("GET", "/api/status", 200)  # most likely while the walk runs
    pending = call("GET", "/api/pending", 200, query={"status": "conflict", "limit": 10})
    assert [r["id"] for r in pending["pending"]] == [conflict]
    assert call("GET", "/api/pending", 200, query={"status": "active"})["total"] == 2
    assert call("GET", "/api/pending", 200, query={"status": "ready,ignored"})["total"] == 1
    call("GET", "/api/pending", 400, query={"status": "ready,"})
    detail = call("GET", "/api/pending/{id}", 200, path_parameters={"id": conflict})
    assert detail["conflict_sha256"] == sha["sha256"] and detail["images"] == []
    call("GET", "/api/pending/{id}/images/{seq}/{tier}", 404, path_parameters={"id": conflict, "seq": 0, "tier": "low"})
    retried = call("POST", "/api/pending/retry", 200, body={"ids": [conflict, 10**9]})
    assert retried["retried"] == [] and len(retried["failed"]) == 2
    call("GET", "/api/pending/{id}", 404, path_parameters={"id": 10**9})
    call("GET", "/api/pending/{id}", 400, path_parameters={"id": "abc"})

    report = call("POST", "/api/pending/import", 200, body={"ids": [conflict, 10**9]})
    assert len(report["conflicts"]) == 1 and len(report["failed"]) == 1
    assert call("POST", "/api/pending/import", 200,
                body={"ids": [conflict], "conflict_strategy": "ignore"})["ignored"] == [conflict]
    restored = call("POST", "/api/pending/restore", 200, body={"ids": [conflict, 10**9]})
    assert restored["restored"] == [conflict] and len(restored["failed"]) == 1
    assert call("POST", "/api/pending/import", 200,
                body={"ids": [conflict], "conflict_strategy": "merge", "delete_files": False})["imported"]
    call("POST", "/api/pending/import", 400, body={"ids": []})

    model = call("GET", "/api/models/{sha256}", 200, path_parameters=sha)
    assert model["copies"] and model["tags"] == ["fuzzed", "style"] and model["cover"] is not None
    duplicates = call("GET", "/api/duplicates", 200, query={"limit": 10, "offset": 0})
    assert [[f["main"] for f in m["files"]] for m in duplicates["models"]] == [[True, False]]
    call("POST", "/api/models/{sha256}/copies/trash", 404, path_parameters=sha, body={"path": "/m/x.safetensors"})
    listing = call("GET", "/api/models", 200, query={"q": "kept", "tags": "fuzzed,style", "exclude_tags": "nope",
                                                     "status": "all", "sort": "size", "limit": 5, "offset": 0})
    assert [m["sha256"] for m in listing["models"]] == [sha["sha256"]]
    assert call("GET", "/api/models", 200, query={"hide_nsfw": "true"})["total"] == 1
    call("GET", "/api/models", 400, query={"sort": "random"})
    facets = call("GET", "/api/facets", 200, query={"tags": "fuzzed", "hide_nsfw": "1", "status": "all"})
    assert facets["total"] == 1 and {t["name"] for t in facets["tags"]} == {"fuzzed", "style"}
    call("GET", "/api/facets", 400, query={"hide_nsfw": "maybe"})
    call("GET", "/api/models/{sha256}/path", 200, path_parameters=sha)
    call("PATCH", "/api/models/{sha256}", 200, path_parameters=sha, body={
        "name": "renamed", "meta_json": {"prompts": {"positive": "a cat"}, "nsfw": False,
                                         "community_links": ["https://example.com/model"]}})
    call("PATCH", "/api/models/{sha256}", 400, path_parameters=sha, body={"meta_json": {"colour": "red"}})
    call("GET", "/api/models/{sha256}", 404, path_parameters={"sha256": "0" * 64})

    image = call("POST", "/api/models/{sha256}/images", 201, path_parameters=sha, body={"image": png((300, 200))},
                 media_type="multipart/form-data")
    call("POST", "/api/models/{sha256}/images", 415, path_parameters=sha, body={"image": b"not an image"},
         media_type="multipart/form-data")
    images = call("GET", "/api/models/{sha256}/images", 200, path_parameters=sha)
    assert [i["seq"] for i in images["images"]] == [known["seq"], image["seq"]]
    call("PUT", "/api/models/{sha256}/cover", 200, path_parameters=sha, body={"seq": image["seq"]})
    for tier in ("high", "medium", "low"):
        call("GET", "/api/images/{sha256}/{seq}/{tier}", 200,
             path_parameters={**sha, "seq": image["seq"], "tier": tier})
    call("DELETE", "/api/models/{sha256}/images/{seq}", 200, path_parameters={**sha, "seq": image["seq"]})
    call("GET", "/api/images/{sha256}/{seq}/{tier}", 404, path_parameters={**sha, "seq": image["seq"], "tier": "low"})

    assert call("POST", "/api/tags", 200, body={"name": "FUZZED"})["id"] == known["tag"]
    call("PATCH", "/api/tags/{id}", 200, path_parameters={"id": known["tag"]}, body={"name": "fuzzy"})
    assert {t["name"] for t in call("GET", "/api/tags", 200)["tags"]} >= {"fuzzy", "style"}
    assert call("GET", "/api/types", 200)["types"]
    call("DELETE", "/api/tags/{id}", 200, path_parameters={"id": known["tag"]})
    call("DELETE", "/api/tags/{id}", 404, path_parameters={"id": known["tag"]})

    v1 = v1_database(tmp_path / "hikaze_mm.sqlite3", write_model(models / "loras" / "from_v1.safetensors"))
    job = call("POST", "/api/migrate/legacy", 202, body={"db_path": str(v1), "images_dir": None})

    async def ended() -> dict[str, Any] | None:
        last = call("GET", "/api/status", 200)["legacy"]  # the status, checked against the spec, names the job
        return last if last["id"] == job["id"] and last["state"] != "running" else None

    legacy = (await poll(ended, "the v1 migration to end"))["report"]
    # The watcher may have seen the model file first: then its row is merged instead of migrated. The row whose
    # file would lie beside the v1 database is outside the model folders.
    assert (legacy["migrated"] + legacy["merged"], legacy["outside_folders"], len(legacy["skipped"])) == (2, 1, 1)
    call("POST", "/api/migrate/legacy", 400, body={"db_path": str(tmp_path / "nothing.sqlite3")})

    deleted = call("DELETE", "/api/models/{sha256}", 200, path_parameters=sha, body={"ignore_file": True})
    assert deleted["file_ignored"] is True
    call("GET", "/api/models/{sha256}/images", 404, path_parameters=sha)


# -- hostile input --------------------------------------------------------------------------------------------------
# Each of these got a 500 when this file was written (found by the fuzzing below, or while reading the code around
# what it found); each must be a 4xx with a reason. (A bogus charset parameter is not among them: JSON is UTF-8 by
# definition, RFC 8259, so the daemon reads the bytes as UTF-8 whatever the header claims.)
MULTIPART_CONTROL_NAME = (b'--zz\r\nContent-Disposition: form-data; name="\x18"\r\n\r\nx\r\n'
                          b'--zz\r\nContent-Disposition: form-data; name="image"\r\n\r\nx\r\n--zz--\r\n')
HOSTILE: list[tuple[str, str, str | bytes | None, str | None, str]] = [
    ("POST", "/api/scan", b"\xff\xfe{}", "application/json", "a body that is not UTF-8"),
    ("PATCH", "/api/tags/%C2%B2", '{"name": "x"}', "application/json", "a superscript digit as tag id"),
    ("DELETE", "/api/tags/%C2%B2", None, None, "a superscript digit as tag id"),
    ("DELETE", "/api/models/{sha256}/images/%C2%B2", None, None, "a superscript digit as image number"),
    ("GET", "/api/images/{sha256}/%C2%B2/low", None, None, "a superscript digit as image number"),
    ("POST", "/api/models/{sha256}/images", b"x", "multipart/form-data", "multipart without a boundary"),
    ("POST", "/api/models/{sha256}/images", b"x", "multipart/form-data; boundary=zz", "no multipart boundary"),
    ("POST", "/api/models/{sha256}/images", MULTIPART_CONTROL_NAME, "multipart/form-data; boundary=zz",
     "a control character in a part's header"),
    ("PATCH", "/api/models/{sha256}", '{"name": "a\\ud800b"}', "application/json", "a lone surrogate"),
    ("PATCH", "/api/models/{sha256}", '{"meta_json": {"description": "a\\ud800b"}}', "application/json",
     "a lone surrogate in the metadata"),
    ("PUT", "/api/models/{sha256}/cover", '{"seq": 99999999999999999999}', "application/json",
     "an image number beyond SQLite's integers"),
    ("GET", "/api/models?q=ab%00", None, None, "a NUL in a search word"),
]


async def test_hostile_input_is_refused_with_a_4xx(daemon: Daemon, models: Path):
    known = await seed(daemon, models)
    wrong = []
    for method, path, body, content_type, what in HOSTILE:
        headers = {"Content-Type": content_type} if content_type else {}
        status, answer = await daemon.request(method, path.replace("{sha256}", known["sha256"]), data=body,
                                               headers=headers)
        if not (400 <= status < 500 and isinstance(answer, dict) and answer.get("error")):
            wrong.append(f"{method} {path} with {what}: {status} {answer}")
    assert not wrong, "\n".join(wrong)


# -- fuzzing --------------------------------------------------------------------------------------------------------
def fixed_path_parameters(operation: schemathesis.APIOperation, known: dict[str, Any]) -> list[dict[str, Any]]:
    """Path parameters that name things that exist, so an operation is fuzzed against real data too."""
    names = {p.name for p in operation.path_parameters}
    if not names:
        return []
    choices: list[dict[str, Any]] = []
    if names == {"id"}:
        ids = known["pending"] if operation.path.startswith("/api/pending") else [known["tag"]]
        choices = [{"id": i} for i in ids]
    elif names <= {"sha256", "seq", "tier"}:
        base = {"sha256": known["sha256"]}
        if "seq" in names:
            base["seq"] = known["seq"]
        choices = [{**base, "tier": t} for t in ("high", "medium", "low")] if "tier" in names else [base]
    return choices


def strategy_for(operation: schemathesis.APIOperation, mode: GenerationMode,
                 known: dict[str, Any]) -> st.SearchStrategy[schemathesis.Case]:
    strategies = [operation.as_strategy(generation_mode=mode)]
    strategies += [operation.as_strategy(generation_mode=mode, path_parameters=fixed)
                   for fixed in fixed_path_parameters(operation, known)]
    return st.one_of(strategies)


def has_inputs(operation: schemathesis.APIOperation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(operation.body)


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, base_url: str,
         known: dict[str, Any]) -> str | None:
    """One operation in one generation mode; the failure schemathesis reports, or None."""

    @hypothesis.settings(
        max_examples=EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=strategy_for(operation, mode, known))
    def run(case: schemathesis.Case) -> None:
        # No Origin header: a client that is not a web page. `requests` sends `Host: 127.0.0.1:<port>`.
        response = case.call(base_url=base_url, timeout=30)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except (Exception, schemathesis.errors.FailureGroup) as e:
        return f"{operation.label} ({mode.value}):\n{e}"
    return None


def fuzz_order(operation: schemathesis.APIOperation) -> tuple[int, str]:
    """Deletes last, so the operations before them see the seeded model, image and tag."""
    order = {"DELETE /api/models/{sha256}/images/{seq}": 1, "DELETE /api/tags/{id}": 2,
             "DELETE /api/models/{sha256}": 3}
    return order.get(operation.label, 0), operation.label


# Every operation in both generation modes: about a minute alone, more on a busy machine.
@pytest.mark.timeout(600)
async def test_daemon_keeps_its_documented_contract(daemon: Daemon, models: Path):
    known = await seed(daemon, models)
    schema = schemathesis.openapi.from_path(SPEC)
    operations = sorted((r.ok() for r in schema.get_all_operations()), key=fuzz_order)
    started = time.monotonic()
    failures = []
    for operation in operations:
        if operation.label in NOT_FUZZED:
            continue
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if has_inputs(operation) else [])
        for mode in modes:
            # The daemon runs in its own process: blocking this loop with `requests` holds nothing up.
            failure = fuzz(operation, mode, daemon.url, known)
            if failure is not None:
                failures.append(failure)
    print(f"fuzzed {len(operations) - len(NOT_FUZZED)} operations in {time.monotonic() - started:.1f}s")
    assert not failures, f"{len(failures)} operation(s) break {SPEC.name}:\n\n" + "\n\n".join(failures)
