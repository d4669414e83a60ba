"""Where usage counting meets a hostile or unlucky client, through the real daemon: a bulk change by the "unused for"
filter reaches the models the listing listed, not those that crossed the line since; forged page tokens are a 400;
a use whose sha256 went stale still counts by its path; `by-path` follows only paths the system itself follows;
and a use from before 2020 is refused."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from conftest import Daemon, write_model

DAY = 86400
EARLIEST_USE = 1_577_836_800  # 2020-01-01


def use(use_id: str, *, at: float | None = None, path: str = "", sha256: str | None = None) -> dict[str, Any]:
    return {"id": use_id, "at": time.time() if at is None else at, "kind": "loras", "path": path, "sha256": sha256,
            "node": "LoraLoader"}


async def library(d: Daemon, models: Path, *names: str) -> dict[str, str]:
    paths = [write_model(models / "loras" / f"{name}.safetensors", 4096 + i) for i, name in enumerate(names)]
    return dict(zip(names, await d.import_files(*paths), strict=True))


async def tags_of(d: Daemon, shas: dict[str, str]) -> dict[str, list[str]]:
    return {name: (await d.get(f"/api/models/{sha}"))["tags"] for name, sha in shas.items()}


async def test_a_bulk_change_by_the_unused_filter_reaches_what_the_listing_listed(daemon: Daemon,
                                                                                 models: Path) -> None:
    shas = await library(daemon, models, "old", "older", "edge")
    now = time.time()
    for sha in shas.values():
        await daemon.db.rows("UPDATE models SET created_at = ? WHERE sha256 = ?", now - 200 * DAY, sha)
    await daemon.call("POST", "/api/usage", {"uses": [
        use("use-old-0001", at=now - 150 * DAY, sha256=shas["old"]),
        use("use-edge-001", at=now - 90 * DAY - 3600, sha256=shas["edge"])]})

    # The listing answers the cut-off it took, and sent back as `unused_before` it lists the same again.
    listed = await daemon.get("/api/models?unused_days=90&limit=100")
    cut = listed["unused_before"]
    assert now - 90 * DAY - 61 <= cut <= time.time() - 90 * DAY
    again = await daemon.get(f"/api/models?unused_before={cut!r}&limit=100")
    assert {k: again[k] for k in ("models", "total", "total_size", "unused_before")} == \
        {k: listed[k] for k in ("models", "total", "total_size", "unused_before")}
    assert "unused_before" not in await daemon.get("/api/models")

    # A page listed a day ago: `edge` (last used 90 days and an hour ago) had not gone unused for 90 days then,
    # and has now. The bulk change by that page's cut-off leaves it alone, where one by `unused_days` takes it.
    day_ago = now - 91 * DAY
    page = await daemon.get(f"/api/models?unused_before={day_ago}&limit=100")
    assert sorted(m["sha256"] for m in page["models"]) == sorted([shas["old"], shas["older"]])
    report = await daemon.call("POST", "/api/models/bulk", {"action": "tags_add", "tags": ["listed"],
                                                            "filter": {"unused_before": str(day_ago)}})
    assert sorted(r["sha256"] for r in report["results"]) == sorted([shas["old"], shas["older"]])
    assert report["unused_before"] == day_ago and report["total"] == 2
    assert await tags_of(daemon, shas) == {"old": ["listed"], "older": ["listed"], "edge": []}
    now_report = await daemon.call("POST", "/api/models/bulk", {"action": "tags_add", "tags": ["today"],
                                                                "filter": {"unused_days": "90"}})
    assert shas["edge"] in [r["sha256"] for r in now_report["results"]]

    # Paged: the first page answers the cut-off; a later page must send it rather than `unused_days`, which would
    # take a cut-off of its own.
    first = await daemon.call("POST", "/api/models/bulk", {"action": "tags_add", "tags": ["paged"], "limit": 1,
                                                           "filter": {"unused_days": "90"}})
    assert first["next"] is not None and first["total"] == 3
    status, answer = await daemon.request("POST", "/api/models/bulk", json={
        "action": "tags_add", "tags": ["paged"], "limit": 1, "after": first["next"],
        "filter": {"unused_days": "90"}})
    assert status == 400 and "`unused_before`" in answer["error"], answer
    assert sum("paged" in tags for tags in (await tags_of(daemon, shas)).values()) == 1  # the refusal changed nothing
    rest = await daemon.call("POST", "/api/models/bulk", {
        "action": "tags_add", "tags": ["paged"], "limit": 5, "after": first["next"],
        "filter": {"unused_before": str(first["unused_before"])}})
    assert rest["done"] == 2 and rest["next"] is None
    assert all("paged" in tags for tags in (await tags_of(daemon, shas)).values())


async def test_a_bad_unused_before_is_a_400_naming_it(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha")
    for bad in ("x", "nan", "inf", "-inf", "-1", "1e400", "1" * 50, "١٢٣", "0x10", "1_000", " 5", "4e10"):
        status, answer = await daemon.request("GET", f"/api/models?unused_before={quote(bad)}")
        assert status == 400 and "`unused_before`" in answer["error"], (bad, answer)
        status, answer = await daemon.request("POST", "/api/models/bulk", json={
            "action": "tags_add", "tags": ["x"], "filter": {"unused_before": bad}})
        assert status == 400 and "`unused_before`" in answer["error"], (bad, answer)
    status, answer = await daemon.request("GET", f"/api/models?unused_days=30&unused_before={time.time()}")
    assert status == 400 and "not both" in answer["error"], answer
    status, answer = await daemon.request("GET", "/api/facets?unused_before=x")
    assert status == 400 and "`unused_before`" in answer["error"], answer
    assert (await daemon.get(f"/api/models/{shas['alpha']}"))["tags"] == []


def token(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def test_forged_page_tokens_are_a_400_naming_after(daemon: Daemon, models: Path) -> None:
    await library(daemon, models, "alpha", "beta", "gamma")
    sha = "a" * 64
    forged = {
        "last_used": [str(10**30), str(-(10**30)), str(2**63), "NaN", "Infinity", "-Infinity", "1e999"],
        "most_used": [f"[{10**30}, 1.0]", f"[{-(2**63) - 1}, 1.0]", "[1, NaN]", "[1, -Infinity]", "[1, 1e999]",
                      f"[1, {10**30}]"],
        "size": [str(10**19), str(2**63), "-" + "9" * 40, "NaN"],
        "created": ["Infinity", "-1e999"],
    }
    for sort, keys in forged.items():
        direction = "asc" if sort == "name" else "desc"
        for key in keys:
            after = token(f'["{sort} {direction}",{key},"{sha}"]')
            status, answer = await daemon.request("GET", f"/api/models?sort={sort}&after={after}")
            assert status == 400 and "`after`" in answer["error"], (sort, key, status, answer)
    deep = {"nested past the parser's depth, short": "[" * 1500 + "]" * 1500,
            "nested, long": "[" * 20000 + "]" * 20000,
            "long": '["name asc","' + "x" * 5000 + f'","{sha}"]'}
    for what, raw in deep.items():
        status, answer = await daemon.request("GET", f"/api/models?sort=name&after={token(raw)}")
        assert status == 400 and "`after`" in answer["error"], (what, status, answer)
    # The keys the stores take at their edges are still good keys.
    for sort, key in (("size", str(2**63 - 1)), ("last_used", "0"), ("most_used", f"[{-(2**63)}, 1.5]")):
        after = token(f'["{sort} desc",{key},"{sha}"]')
        status, answer = await daemon.request("GET", f"/api/models?sort={sort}&after={after}")
        assert status == 200, (sort, key, answer)


async def test_a_token_of_the_longest_name_pages_on(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha", "beta")
    # 256 characters of four bytes each: a token longer than 1 KiB.
    longest = "😀" * 256
    await daemon.call("PATCH", f"/api/models/{shas['alpha']}", {"name": longest})
    first = await daemon.get("/api/models?sort=name&dir=desc&limit=1")
    assert first["models"][0]["name"] == longest and len(first["next"]) > 1024
    rest = await daemon.get(f"/api/models?sort=name&dir=desc&limit=1&after={first['next']}")
    assert [m["sha256"] for m in rest["models"]] == [shas["beta"]]


async def test_a_use_with_a_stale_sha256_counts_by_its_path(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha", "beta")
    alpha = str(models / "loras" / "alpha.safetensors")
    # The payload's sha256 is of content the library no longer has (the file was rewritten): its path still names
    # the model. One that names a model wins over the path, as before; one with no path of ours is unknown.
    answer = await daemon.call("POST", "/api/usage", {"uses": [
        use("use-stale-01", path=alpha, sha256="0" * 64),
        use("use-known-01", path=alpha, sha256=shas["beta"]),
        use("use-stale-02", path=str(models / "loras" / "none.safetensors"), sha256="1" * 64),
        use("use-stale-03", sha256="2" * 64)]})
    assert answer == {"counted": 2, "repeated": 0, "unknown": 2}
    assert (await daemon.get(f"/api/models/{shas['alpha']}"))["use_count"] == 1
    assert (await daemon.get(f"/api/models/{shas['beta']}"))["use_count"] == 1


async def test_by_path_follows_only_paths_the_system_follows(daemon: Daemon, models: Path, tmp_path: Path) -> None:
    shas = await library(daemon, models, "alpha")
    alpha = models / "loras" / "alpha.safetensors"
    outside = tmp_path / "outside"
    outside.mkdir()
    os.link(alpha, outside / "hard.safetensors")
    (outside / "sym.safetensors").symlink_to(alpha)
    (outside / "linkdir").symlink_to(models / "loras", target_is_directory=True)
    up = os.path.relpath(models, outside)
    # What the system can open is found; what it refuses (a file taken for a folder, a folder that is not there,
    # whatever `..` follows) is not, however its letters resolve.
    for path in (alpha, outside / "sym.safetensors", outside / "linkdir" / "alpha.safetensors"):
        assert (await daemon.get(f"/api/models/by-path?path={quote(str(path))}"))["sha256"] == shas["alpha"], path
    for i, name in enumerate(("sym.safetensors", "hard.safetensors", "nosuch")):
        path = f"{outside}/{name}/../{up}/loras/alpha.safetensors"
        status, answer = await daemon.request("GET", f"/api/models/by-path?path={quote(path)}")
        assert status == 404, (name, status, answer)
        assert await daemon.call("POST", "/api/usage", {"uses": [use(f"use-nowhere-{i}", path=path)]}) == \
            {"counted": 0, "repeated": 0, "unknown": 1}
    assert (await daemon.get(f"/api/models/{shas['alpha']}"))["use_count"] == 0


async def test_a_use_from_before_2020_is_refused_naming_at(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha")
    good = use("use-good-01", sha256=shas["alpha"])
    for at in (1e-300, 1.0, EARLIEST_USE - 1, EARLIEST_USE - 0.5):
        raw = json.dumps({"uses": [good, use("use-early-1", at=at, sha256=shas["alpha"])]})
        status, answer = await daemon.request("POST", "/api/usage", data=raw.encode())
        assert status == 400 and answer["error"].startswith("use 1: `at`") and "2020" in answer["error"], (at, answer)
    assert (await daemon.get(f"/api/models/{shas['alpha']}"))["use_count"] == 0  # nothing of those batches
    first_day = await daemon.call("POST", "/api/usage", {"uses": [use("use-2020-01", at=EARLIEST_USE,
                                                                       sha256=shas["alpha"])]})
    assert first_day["counted"] == 1
    assert (await daemon.get(f"/api/models/{shas['alpha']}"))["last_used_at"] == EARLIEST_USE
