"""A daemon for the bounds tests of the workflow check: one LoRA in its library, and the check that it still
answers after a hostile request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workflow_fixtures import ui_node, ui_workflow

from conftest import Daemon, write_model

ROUTE = "/api/workflows/check"


async def with_a_lora(daemon: Daemon, models: Path) -> Daemon:
    """The daemon with `loras/a.safetensors` imported."""
    await daemon.import_files(write_model(models / "loras" / "a.safetensors"))
    return daemon


async def post(d: Daemon, body: bytes, content_type: str) -> tuple[int, Any]:
    return await d.request("POST", ROUTE, data=body, headers={"Content-Type": content_type})


async def still_serving(d: Daemon) -> None:
    status, answer = await d.request("POST", ROUTE, json=ui_workflow([ui_node(1, "LoraLoader", ["a.safetensors"])]))
    assert status == 200 and answer["counts"] == {"found": 1, "elsewhere": 0, "missing": 0}, answer
