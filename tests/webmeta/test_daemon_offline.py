"""What the web gave a model stays while its drive is away (LoRA Sidebar #32: metadata lost when a drive went
offline): the record lives in the library by content, so a model whose file is gone keeps its fetched text, tags
and previews, and has them all again when the file comes back, across a restart of the daemon between."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from webmeta.test_daemon_lookups import source_args

from conftest import Daemon, digests, poll, write_model
from web_sources import WebSources, sample_version

Start = Callable[..., Awaitable[Daemon]]


def kept(model: dict[str, Any]) -> tuple[Any, ...]:
    meta = model["meta_json"]
    return (meta["description"], meta["trigger_words"], meta["web"]["model_name"], sorted(model["tags"]),
            [i["seq"] for i in model["images"]])


async def status_of(daemon: Daemon, sha: str, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        model = await daemon.get(f"/api/models/{sha}")
        return model if model["status"] == status else None
    return await poll(reached, f"model {sha[:12]} {status}")


async def test_a_model_whose_drive_went_away_keeps_what_the_web_gave_it(
        daemon_factory: Start, models: Path, web_sources: WebSources, tmp_path: Path) -> None:
    path = write_model(models / "loras" / "on-the-usb-disk.safetensors")
    sha, _ = digests(path)
    version = web_sources.add(sample_version(21, sha))
    args = ("--models-root", str(models), *source_args(web_sources, "--metadata-auto", "never"))
    daemon = await daemon_factory(*args)
    (imported,) = await daemon.import_files(path)
    assert imported == sha
    await daemon.call("POST", f"/api/models/{sha}/metadata/fetch")
    before = kept(await daemon.get(f"/api/models/{sha}"))
    assert before[0] == version.description and before[4] == [0, 1]

    away = tmp_path / "unplugged.safetensors"
    path.rename(away)  # the drive is gone
    missing = await status_of(daemon, sha, "missing")
    assert kept(missing) == before
    web_sources.fail("by-hash", 503, times=100)  # and the web is down too: a fetch changes nothing
    web_sources.fail("archive", 503, times=100)
    status, _ = await daemon.request("POST", f"/api/models/{sha}/metadata/fetch", json={"force": True})
    assert status == 502 and kept(await daemon.get(f"/api/models/{sha}")) == before

    await daemon.close()
    daemon = await daemon_factory(*args)  # a restart while the drive is away
    assert kept(await status_of(daemon, sha, "missing")) == before
    away.rename(path)  # the drive is back
    back = await status_of(daemon, sha, "ok")
    assert kept(back) == before
    assert len(back["images"]) == 2 and all(i["urls"]["high"] for i in back["images"])
