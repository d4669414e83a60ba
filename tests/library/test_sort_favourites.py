"""Sorting the library both ways with seek paging, and favourites as a stored flag and a filter."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Daemon
from tests.realistic_library import Library


async def _paged(daemon: Daemon, query: str, limit: int = 7) -> list[str]:
    """Every model of a listing, fetched page after page by `after`."""
    seen: list[str] = []
    ask = f"{query}&limit={limit}"
    while True:
        page = await daemon.get(f"/api/models?{ask}")
        seen += [m["sha256"] for m in page["models"]]
        if page["next"] is None:
            return seen
        ask = f"{query}&limit={limit}&after={page['next']}"


async def test_every_sort_pages_the_same_in_both_directions(realistic: tuple[Daemon, Library]):
    daemon, _ = realistic
    for sort in ("name", "size", "created", "updated"):
        whole = {d: [m for m in (await daemon.get(f"/api/models?sort={sort}&dir={d}&limit=1000"))["models"]]
                 for d in ("asc", "desc")}
        up, down = ([m["sha256"] for m in whole[d]] for d in ("asc", "desc"))
        assert up == down[::-1], sort  # ties (same size, same import time) reverse with the direction too
        assert len(up) > 100
        key = {"name": lambda m: m["name"].lower(), "size": lambda m: m["size_bytes"]}.get(sort)
        if key is not None:
            keys = [key(m) for m in whole["asc"]]
            assert keys == sorted(keys), sort
        for direction in ("asc", "desc"):
            assert await _paged(daemon, f"sort={sort}&dir={direction}") == (up if direction == "asc" else down)
        natural = "asc" if sort == "name" else "desc"
        default = [m["sha256"] for m in (await daemon.get(f"/api/models?sort={sort}&limit=1000"))["models"]]
        assert default == (up if natural == "asc" else down), sort
        # A default-direction token is the same as one asked for by name; the other direction's is refused.
        first = await daemon.get(f"/api/models?sort={sort}&limit=5")
        assert (await daemon.get(f"/api/models?sort={sort}&dir={natural}&limit=5&after={first['next']}"))["models"]
        other = "desc" if natural == "asc" else "asc"
        code, body = await daemon.request("GET", f"/api/models?sort={sort}&dir={other}&after={first['next']}")
        assert code == 400 and "`dir`" in body["error"]
    code, body = await daemon.request("GET", "/api/models?dir=up")
    assert code == 400 and "`dir` must be one of asc, desc" in body["error"]


async def test_favourites_are_stored_filtered_and_counted(realistic: tuple[Daemon, Library]):
    daemon, lib = realistic
    listing = (await daemon.get("/api/models?type=loras&limit=10"))["models"]
    assert not any(m["favorite"] for m in listing)
    chosen = [m["sha256"] for m in listing[:3]]
    for sha in chosen:
        changed = await daemon.call("PATCH", f"/api/models/{sha}", {"meta_json": {"favorite": True}})
        assert changed["meta_json"]["favorite"] is True
    page = await daemon.get("/api/models?favorite=true")
    assert sorted(m["sha256"] for m in page["models"]) == sorted(chosen) and page["total"] == 3
    assert all(m["favorite"] for m in page["models"])
    # Composes with the other filters and with the facets' counts.
    assert (await daemon.get("/api/models?favorite=1&type=checkpoint"))["total"] == 0
    assert (await daemon.get("/api/facets?favorite=true"))["total"] == 3
    words = listing[0]["name"]
    assert [m["sha256"] for m in (await daemon.get(f"/api/models?favorite=1&q={words}"))["models"]] == [chosen[0]]
    # Taken back: out of the filter; other metadata edits leave the flag alone.
    await daemon.call("PATCH", f"/api/models/{chosen[1]}", {"meta_json": {"favorite": False}})
    await daemon.call("PATCH", f"/api/models/{chosen[0]}", {"meta_json": {"notes": "kept"}})
    assert sorted(m["sha256"] for m in (await daemon.get("/api/models?favorite=1"))["models"]) == sorted(
        [chosen[0], chosen[2]])
    code, body = await daemon.request("PATCH", f"/api/models/{chosen[0]}", json={"meta_json": {"favorite": "yes"}})
    assert code == 400 and "`meta_json.favorite` must be true or false" in body["error"]
    assert lib.loras


async def test_list_items_carry_trigger_count_and_folder(realistic: tuple[Daemon, Library], models: Path):
    daemon, lib = realistic
    items = (await daemon.get("/api/models?limit=1000"))["models"]
    by_file = {m["file_name"]: m for m in items}
    for path in lib.loras:
        item = by_file.get(path.name)
        if item is None:
            continue
        assert item["folder"] == path.parent.relative_to(models).as_posix()
        detail = await daemon.get(f"/api/models/{item['sha256']}")
        assert item["trigger_count"] == len(detail["meta_json"].get("trigger_words", []))
    assert any(m["trigger_count"] > 0 for m in items)
