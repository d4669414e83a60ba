"""rgthree Power Lora Loader rows are reported by the widget names the workflow carries: rgthree numbers rows as
they are added and never renames one, so a row's place is not its name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from check_daemon import ROUTE, with_a_lora
from workflow_fixtures import rgthree_widgets, ui_node, ui_workflow

from conftest import Daemon

RGTHREE = "Power Lora Loader (rgthree)"


@pytest.fixture
async def lora_daemon(daemon: Daemon, models: Path) -> Daemon:
    return await with_a_lora(daemon, models)


def rgthree_after_removal(*loras: str, first: int) -> dict[str, Any]:
    """A Power Lora Loader as a newer front end saves it after its first rows were removed: the list has the
    values in order, `widgets_values_named` the widgets' own names, which rgthree counts from `first`."""
    node = ui_node(7, RGTHREE, rgthree_widgets(*loras))
    node["widgets_values_named"] = {
        "PowerLoraLoaderHeaderWidget": {"type": "PowerLoraLoaderHeaderWidget"},
        **{f"lora_{first + n}": {"on": True, "lora": lora, "strength": 1, "strengthTwo": None}
           for n, lora in enumerate(loras)},
        "➕ Add Lora": "",
    }
    return node


async def test_rgthree_rows_go_by_the_widget_names_the_workflow_carries(lora_daemon: Daemon, models: Path):
    named = rgthree_after_removal("gone.safetensors", "a.safetensors", first=2)
    plain = ui_node(8, RGTHREE, rgthree_widgets("gone.safetensors", "a.safetensors"))
    answer = await lora_daemon.call("POST", ROUTE, ui_workflow([named, plain]))
    rows = [(r["node_id"], r["widget"], r["name"], r["status"]) for r in answer["references"]]
    assert rows == [("7", "lora_2", "gone.safetensors", "missing"), ("7", "lora_3", "a.safetensors", "found"),
                    ("8", "lora_1", "gone.safetensors", "missing"), ("8", "lora_2", "a.safetensors", "found")]
