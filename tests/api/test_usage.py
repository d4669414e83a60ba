"""What ComfyUI used, through the real daemon: `POST /api/usage` counts each use once ever against the model it names
(by sha256, else by its file's path here, links resolved either way), `GET /api/models/by-path` finds a model by
its file, and the library sorts by last and most used and lists what went unused for N days with its size."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from conftest import Daemon, poll, write_model

DAY = 86400


def use(use_id: str, *, at: float | None = None, path: str = "", sha256: str | None = None,
        kind: str = "loras", node: str = "LoraLoader") -> dict[str, Any]:
    return {"id": use_id, "at": time.time() if at is None else at, "kind": kind, "path": path, "sha256": sha256,
            "node": node}


async def count(d: Daemon, *uses: dict[str, Any]) -> dict[str, int]:
    return await d.call("POST", "/api/usage", {"uses": list(uses)})


async def usage_of(d: Daemon, sha256: str) -> tuple[int, float | None]:
    detail = await d.get(f"/api/models/{sha256}")
    return detail["use_count"], detail["last_used_at"]


async def library(d: Daemon, models: Path, *names: str) -> dict[str, str]:
    """The files, imported: their sha256s by name."""
    paths = [write_model(models / "loras" / f"{name}.safetensors", 4096 + i) for i, name in enumerate(names)]
    return dict(zip(names, await d.import_files(*paths), strict=True))


async def test_each_use_counts_once_against_the_model_it_names(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha", "beta")
    events, task = await daemon.events()
    try:
        now = time.time()
        answer = await count(daemon, use("use-0001", at=now - 60, sha256=shas["alpha"]),
                             use("use-0002", at=now - 30, path=str(models / "loras" / "beta.safetensors")),
                             use("use-0002", at=now - 10, path=str(models / "loras" / "beta.safetensors")),
                             use("use-0003", at=now - 90, sha256=shas["alpha"].upper()))
        assert answer == {"counted": 3, "repeated": 1, "unknown": 0}
        assert await usage_of(daemon, shas["alpha"]) == (2, pytest.approx(now - 60))
        assert await usage_of(daemon, shas["beta"]) == (1, pytest.approx(now - 30))
        used = await poll(lambda: _used(events.of("models.used")), "the models.used event")
        assert used == {shas["alpha"]: 2, shas["beta"]: 1}
    finally:
        task.cancel()
    # The same batch again (its answer was lost): nothing counts twice.
    again = await count(daemon, use("use-0001", sha256=shas["alpha"]), use("use-0003", sha256=shas["alpha"]))
    assert again == {"counted": 0, "repeated": 2, "unknown": 0}
    assert (await usage_of(daemon, shas["alpha"]))[0] == 2
    # A clock ahead of the daemon's cannot pin a model to the top of "last used": its use counts as now.
    await count(daemon, use("use-0004", at=time.time() + 365 * DAY, sha256=shas["beta"]))
    assert (await usage_of(daemon, shas["beta"]))[1] <= time.time()


async def _used(events: list[dict[str, Any]]) -> dict[str, int] | None:
    found = {m["sha256"]: m["use_count"] for e in events for m in e["models"]}
    return found if len(found) == 2 else None


async def test_sha256_beats_path_and_a_file_the_library_lacks_is_unknown(daemon: Daemon, models: Path,
                                                                      tmp_path: Path) -> None:
    shas = await library(daemon, models, "alpha", "beta")
    beta = str(models / "loras" / "beta.safetensors")
    stray = write_model(tmp_path / "elsewhere" / "stray.safetensors")
    answer = await count(daemon, use("use-0001", path=beta, sha256=shas["alpha"]),
                         use("use-0002", path=str(stray)), use("use-0003", path=""),
                         use("use-0004", sha256="f" * 64), use("use-0005", path=str(models / "loras" / "none.pt")))
    assert answer == {"counted": 1, "repeated": 0, "unknown": 4}
    assert (await usage_of(daemon, shas["alpha"]))[0] == 1
    assert await usage_of(daemon, shas["beta"]) == (0, None)


async def test_a_symlinked_folder_is_found_by_where_it_leads(daemon_factory: Callable[..., Awaitable[Daemon]],
                                                             tmp_path: Path) -> None:
    # The daemon reaches the LoRAs through a link; ComfyUI (or another path) may name the file as it really is.
    nas = tmp_path / "nas" / "loras"
    nas.mkdir(parents=True)
    models = tmp_path / "models"
    models.mkdir()
    (models / "loras").symlink_to(nas, target_is_directory=True)
    linked = write_model(models / "loras" / "linked.safetensors")  # found by the walk at start
    d = await daemon_factory("--models-root", str(models))
    [sha] = await d.import_files(linked)
    real = nas / "linked.safetensors"
    assert (await d.get(f"/api/models/{sha}"))["path"] == str(models / "loras" / "linked.safetensors")
    assert await count(d, use("use-real-1", path=str(real))) == {"counted": 1, "repeated": 0, "unknown": 0}
    # And the other way round: a link to the folder the daemon watches.
    (tmp_path / "comfy-link").symlink_to(models, target_is_directory=True)
    via_link = tmp_path / "comfy-link" / "loras" / "linked.safetensors"
    assert await count(d, use("use-link-1", path=str(via_link))) == {"counted": 1, "repeated": 0, "unknown": 0}
    assert (await usage_of(d, sha))[0] == 2
    for path in (real, via_link, models / "loras" / "linked.safetensors"):
        assert (await d.get(f"/api/models/by-path?path={quote(str(path))}"))["sha256"] == sha


async def test_by_path_answers_the_model_or_404(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha")
    path = models / "loras" / "alpha.safetensors"
    found = await daemon.get(f"/api/models/by-path?path={quote(str(path))}")
    assert found == await daemon.get(f"/api/models/{shas['alpha']}")
    assert (found["use_count"], found["last_used_at"]) == (0, None)
    status, answer = await daemon.request("GET", f"/api/models/by-path?path={quote(str(models / 'x.pt'))}")
    assert status == 404 and "no model" in answer["error"]
    for bad in ("", "relative/x.safetensors", "/" + "a" * 5000):
        status, answer = await daemon.request("GET", f"/api/models/by-path?path={quote(bad)}")
        assert status == 400 and "`path`" in answer["error"], (bad[:20], answer)


BAD_BODIES = [
    ("not json", "{uses: [", "not valid JSON"),
    ("not an object", json.dumps([use("use-0001")]), "JSON object"),
    ("no uses", json.dumps({}), "`uses`"),
    ("uses not a list", json.dumps({"uses": {"id": "use-0001"}}), "`uses`"),
    ("no use at all", json.dumps({"uses": []}), "`uses`"),
    ("too many uses", json.dumps({"uses": [use(f"use-{i:05}") for i in range(1001)]}), "`uses`"),
    ("an unknown top field", json.dumps({"uses": [use("use-0001")], "more": 1}), "unknown field"),
]
BAD_USES = [  # (what, the bad use's change, the field named)
    ("a use that is no object", "not a use", None),
    ("an id too short", {"id": "short"}, "id"),
    ("an id with a slash", {"id": "use/../0001"}, "id"),
    ("an id not text", {"id": 12345678}, "id"),
    ("an id too long", {"id": "u" * 65}, "id"),
    ("at missing", {"at": None}, "at"),
    ("at as text", {"at": "yesterday"}, "at"),
    ("at true", {"at": True}, "at"),
    ("at negative", {"at": -5}, "at"),
    ("at huge", {"at": 1e300}, "at"),
    ("kind empty", {"kind": ""}, "kind"),
    ("kind a number", {"kind": 3}, "kind"),
    ("kind huge", {"kind": "k" * 100_000}, "kind"),
    ("kind with a control character", {"kind": "loras\n"}, "kind"),
    ("node missing", {"node": None}, "node"),
    ("path relative", {"path": "loras/x.safetensors"}, "path"),
    ("path huge", {"path": "/" + "p" * 300_000}, "path"),
    ("path with NUL", {"path": "/m/x\u0000.safetensors"}, "path"),
    ("sha256 short", {"sha256": "abc"}, "sha256"),
    ("sha256 not hex", {"sha256": "g" * 64}, "sha256"),
    ("sha256 a list", {"sha256": ["a" * 64]}, "sha256"),
    ("an unknown field", {"extra": 1}, "extra"),
]


async def test_malformed_batches_are_refused_whole_naming_the_use_and_field(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "alpha")
    good = use("use-good-1", sha256=shas["alpha"])
    for what, body, words in BAD_BODIES:
        status, answer = await daemon.request("POST", "/api/usage", data=body.encode())
        assert status == 400 and words in answer["error"], (what, status, answer)
    for what, change, field in BAD_USES:
        if isinstance(change, dict):
            bad = {**use("use-bad-01"), **change}
            bad = {k: v for k, v in bad.items() if v is not None or k == "sha256"}
        else:
            bad = change
        status, answer = await daemon.request("POST", "/api/usage", json={"uses": [good, good, bad]})
        assert status == 400 and answer["error"].startswith("use 2"), (what, status, answer)
        if field is not None:
            assert f"`{field}`" in answer["error"] or field in answer["error"], (what, answer)
    for value in ("NaN", "Infinity", "-Infinity"):  # JSON has none of them, Python's parser takes all three
        raw = json.dumps({"uses": [good, use("use-bad-02", at=1.5)]}).replace("1.5", value)
        status, answer = await daemon.request("POST", "/api/usage", data=raw.encode())
        assert status == 400 and answer["error"].startswith("use 1: `at`"), (value, answer)
    # Nothing of any refused batch was counted, nor remembered: the good use counts the first time it gets through.
    assert await usage_of(daemon, shas["alpha"]) == (0, None)
    assert await count(daemon, good) == {"counted": 1, "repeated": 0, "unknown": 0}


async def _walk(d: Daemon, query: str) -> list[str]:
    found: list[str] = []
    page = await d.get(f"/api/models?{query}&limit=2")
    while True:
        found += [m["sha256"] for m in page["models"]]
        if page["next"] is None:
            return found
        page = await d.get(f"/api/models?{query}&limit=2&after={page['next']}")


async def test_the_usage_sorts_page_through_the_library(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "a", "b", "c", "d", "e")
    now = time.time()
    plan = {"a": (3, now - 300), "b": (1, now - 100), "c": (3, now - 200), "d": (5, now - 400)}
    await count(daemon, *(use(f"use-{name}-{i:04}", at=at - i, sha256=shas[name])
                          for name, (n, at) in plan.items() for i in range(n)))
    assert await _walk(daemon, "sort=last_used") == [shas[k] for k in "bcade"]
    assert await _walk(daemon, "sort=most_used") == [shas[k] for k in "dcabe"]
    assert await _walk(daemon, "sort=most_used&dir=asc") == [shas[k] for k in "ebacd"]
    status, answer = await daemon.request("GET", "/api/models?sort=bogus")
    assert status == 400 and "`sort`" in answer["error"]
    first = await daemon.get("/api/models?sort=last_used&limit=2")
    status, answer = await daemon.request("GET", f"/api/models?sort=most_used&after={first['next']}")
    assert status == 400 and "sorted by" in answer["error"]  # a token of one sort is no good for the other
    # A token made by hand: most used's key is a pair of a count and a time, nothing else.
    for key in ("5", "[5]", '[5, "x"]', "[true, 1.0]", "[1.5, 2]", "[1, 2, 3]", "null"):
        forged = base64.urlsafe_b64encode(f'["most_used desc", {key}, "{"a" * 64}"]'.encode()).decode()
        status, answer = await daemon.request("GET", f"/api/models?sort=most_used&after={forged}")
        assert status == 400 and "a page's `next`" in answer["error"], (key, answer)
    after_once = base64.urlsafe_b64encode(f'["most_used desc", [1, 0], "{"0" * 64}"]'.encode()).decode()
    assert [m["sha256"] for m in (await daemon.get(f"/api/models?sort=most_used&after={after_once}"))["models"]] \
        == [shas["e"]]  # after every model used at least once: the one never used
    listed = {m["sha256"]: (m["use_count"], m["last_used_at"]) for m in (await daemon.get("/api/models"))["models"]}
    assert listed[shas["e"]] == (0, None) and listed[shas["d"]] == (5, pytest.approx(now - 400))


async def test_unused_for_n_days_lists_old_idle_models_with_their_size(daemon: Daemon, models: Path) -> None:
    shas = await library(daemon, models, "new", "idle", "stale", "busy")
    now = time.time()
    for name in ("idle", "stale", "busy"):  # in the library for 100 days; `new` was imported today
        await daemon.db.rows("UPDATE models SET created_at = ? WHERE sha256 = ?", now - 100 * DAY, shas[name])
    await count(daemon, use("use-stale-1", at=now - 45 * DAY, sha256=shas["stale"]),
                use("use-busy-1", at=now - DAY - 3600, sha256=shas["busy"]))
    sizes = {m["sha256"]: m["size_bytes"] for m in (await daemon.get("/api/models"))["models"]}

    async def unused(days: int, extra: str = "") -> tuple[list[str], int]:
        page = await daemon.get(f"/api/models?unused_days={days}&sort=size&limit=100{extra}")
        found = [m["sha256"] for m in page["models"]]
        assert page["total"] == len(found)
        return sorted(found), page["total_size"]

    # Never used but imported today: not unused for a month. Used 45 days ago: unused for 30, not for 60.
    thirty = sorted([shas["idle"], shas["stale"]])
    assert await unused(30) == (thirty, sum(sizes[s] for s in thirty))
    assert await unused(60) == ([shas["idle"]], sizes[shas["idle"]])
    assert await unused(36500) == ([], 0)
    one_day = sorted([shas["idle"], shas["stale"], shas["busy"]])  # the last use a day and an hour ago
    assert (await unused(1))[0] == one_day
    assert "total_size" not in await daemon.get("/api/models")
    facets = await daemon.get("/api/facets?unused_days=30")
    assert facets["total"] == 2
    for bad in ("0", "36501", "-1", "x", "1.5"):
        status, answer = await daemon.request("GET", f"/api/models?unused_days={bad}")
        assert status == 400 and "`unused_days`" in answer["error"], (bad, answer)
    # A bulk change by that filter reaches exactly what the page lists.
    report = await daemon.call("POST", "/api/models/bulk", {"action": "tags_add", "tags": ["idle"],
                                                            "filter": {"unused_days": "30"}})
    assert sorted(r["sha256"] for r in report["results"] if r["ok"]) == thirty
