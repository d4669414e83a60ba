"""Watching never stops silently: a failing native watcher falls back to polling, a folder that is deleted
and created again is watched again."""

from __future__ import annotations

import errno
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from watchdog.observers import Observer

from conftest import Databases, digests, poll, write_model
from hikaze_mm.app import App
from hikaze_mm.config.settings import Settings
from hikaze_mm.pipeline import watch as watch_module


class NoWatchesLeft(Observer):  # type: ignore[misc,valid-type]
    """inotify as it behaves when max_user_watches is used up."""

    def start(self) -> None:
        raise OSError(errno.ENOSPC, "inotify watch limit reached")


@pytest.fixture
async def start_service(tmp_path: Path, databases: Databases) -> AsyncIterator:
    services: list[App] = []

    async def start(**kw) -> App:
        settings = Settings(data_dir=tmp_path / "data", settle_seconds=0.1, rescan_interval=0,
                            database_url=await databases.url(tmp_path / "data"), **kw)
        svc = App(settings)
        await svc.start()
        services.append(svc)
        return svc

    yield start
    for svc in services:
        await svc.stop()


async def _ready(svc: App, path: Path) -> dict | None:
    rows, _ = await svc.store.pending.list_pending(("ready",), None, 100, 0)
    return next((r.to_wire() for r in rows if r.path == str(path)), None)


async def test_native_failure_falls_back_to_polling(start_service, models: Path, monkeypatch, caplog):
    monkeypatch.setattr(watch_module, "Observer", NoWatchesLeft)
    svc = await start_service(models_roots=[models], poll_interval=0.2)
    status = await poll(lambda: _watching(svc), "the watches to be set up")
    assert status["roots"][0]["mode"] == "polling"
    assert "inotify watch limit reached" in status["roots"][0]["note"]
    assert "native watching failed" in caplog.text
    await poll(lambda: _idle(svc), "the start-up walk")
    path = write_model(models / "loras" / "seen-by-polling.safetensors")
    row = await poll(lambda: _ready(svc, path), "the polling watcher to find the file")
    assert row["sha256"] == digests(path)[0]


async def test_deleted_and_recreated_folder_is_watched_again(start_service, tmp_path: Path):
    root = tmp_path / "nas-models"
    write_model(root / "loras" / "first.safetensors")
    svc = await start_service(models_roots=[root])
    await poll(lambda: _ready(svc, root / "loras" / "first.safetensors"), "the first file")
    shutil.rmtree(root)

    async def gone() -> bool:
        return not (await svc.status())["roots"][0]["exists"]

    await poll(gone, "the status to say the folder is gone")
    second = write_model(root / "loras" / "second.safetensors")
    await poll(lambda: _ready(svc, second), "the re-created folder's file")
    assert (await svc.status())["roots"][0]["mode"] == "native"
    third = write_model(root / "vae" / "third.safetensors")
    await poll(lambda: _ready(svc, third), "a file dropped into the re-watched folder")


async def test_a_file_made_while_the_watches_are_set_up_is_found(tmp_path: Path, models: Path, monkeypatch,
                                                                  databases: Databases):
    """The daemon answers (and tells systemd it is ready) before its watches are in place; a file made meanwhile is
    seen by no watch, so the start-up walk, which waits for them, finds it."""
    release = threading.Event()
    watch = watch_module.Watcher.watch

    def held_watch(self, *args, **kw):  # in the set-up's thread: the loop goes on meanwhile
        assert release.wait(30), "the test never let the watches be set up"
        return watch(self, *args, **kw)

    monkeypatch.setattr(watch_module.Watcher, "watch", held_watch)
    svc = App(Settings(data_dir=tmp_path / "data", models_roots=[models], settle_seconds=0.1, rescan_interval=0,
                       database_url=await databases.url(tmp_path / "data")))
    await svc.start()
    try:
        status = await svc.status()
        assert status["setting_up_watches"] and status["roots"][0]["mode"] == "off", status
        assert status["roots"][0]["exists"]
        assert svc.reconciler.progress is None and svc.reconciler.last is None, "a walk ran before the watches"
        made = write_model(models / "loras" / "made-during-set-up.safetensors")
        release.set()
        row = await poll(lambda: _ready(svc, made), "the start-up walk to find the file")
        assert row["sha256"] == digests(made)[0]
        status = await svc.status()
        assert not status["setting_up_watches"] and status["roots"][0]["mode"] == "native", status
        later = write_model(models / "vae" / "made-after.safetensors")
        await poll(lambda: _ready(svc, later), "the watch to report a file made after the set-up")
    finally:
        release.set()
        await svc.stop()


async def _watching(svc: App) -> dict | None:
    status = await svc.status()
    return None if status["setting_up_watches"] else status


async def _idle(svc: App) -> bool:
    return not svc.reconciler.running and svc.intake.idle() and not len(svc.settler)
