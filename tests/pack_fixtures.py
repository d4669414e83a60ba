"""The node pack imported over stand-ins of ComfyUI's modules, as fixtures its test modules share: a module imports
the functions, and the fixtures go by the names given here (as conftest does with web_sources)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from comfy_stubs import Comfy, import_pack, install
from conftest import free_port


@pytest.fixture(name="comfy")
def comfy_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Comfy:
    # Nothing listens on a fresh free port: no daemon unless a test starts one.
    monkeypatch.setenv("HIKAZE_MM_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("HIKAZE_MM_TOKEN", raising=False)
    return install(monkeypatch, tmp_path / "ComfyUI")


@pytest.fixture(name="pack")
def pack_fixture(comfy: Comfy, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    return import_pack(monkeypatch)


@pytest.fixture(name="loras")
def loras_fixture(comfy: Comfy) -> Path:
    return comfy.folders["loras"][0]
