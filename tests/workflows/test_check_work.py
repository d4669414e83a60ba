"""The work of a workflow check held to its input: each reference costs a lookup among the library's files, not a
pass over them; an A1111 text is read once whatever the references; and it holds to the reference cap."""

from __future__ import annotations

import posixpath
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from check_daemon import post, still_serving, with_a_lora
from workflow_fixtures import a1111_parameters, png, ui_node, ui_workflow

from conftest import Daemon, write_model
from hikaze_mm.store.known_files import FileIndex
from hikaze_mm.store.path_table import PathTable
from hikaze_mm.workflows import a1111, classify
from hikaze_mm.workflows.classify import Here
from hikaze_mm.workflows.documents import Documents
from hikaze_mm.workflows.folders import announced_folders
from hikaze_mm.workflows.references import MAX_REFERENCES, Reference


@pytest.fixture
async def lora_daemon(daemon: Daemon, models: Path) -> Daemon:
    return await with_a_lora(daemon, models)


class CountingPaths(SimpleNamespace):
    """posixpath, counting the file names taken from paths: classify takes one per library file it looks at."""

    def __init__(self) -> None:
        super().__init__(calls=0)

    def __getattr__(self, name: str) -> Any:
        return getattr(posixpath, name)

    def basename(self, path: str) -> str:
        self.calls += 1
        return posixpath.basename(path)


def library_of(root: Path, count: int) -> FileIndex:
    pending = PathTable()
    for n in range(count):
        pending.set(str(root / f"set{n % 50}" / f"lora{n}.safetensors"), (65536, 1, n + 1, 1), "ready")
    return FileIndex(pending, PathTable(), PathTable(), {}, {})


def test_each_reference_costs_a_lookup_not_a_pass_over_the_library(tmp_path: Path, monkeypatch):
    loras, files, refs = tmp_path / "loras", 5000, 200
    (tmp_path / "loras" / "set7").mkdir(parents=True)
    real = write_model(loras / "set7" / "lora7.safetensors")
    here = Here(announced_folders({"loras": (str(loras),)}), library_of(loras, files))
    counting = CountingPaths()
    monkeypatch.setattr(classify, "posixpath", counting)
    wanted = [Reference("1", "Lora Loader (LoraManager)", "loras", n, "loras", f"nope{n}", by_stem=True)
              for n in range(refs // 2)]
    wanted += [Reference(str(n), "LoraLoader", "lora_name", None, "loras", f"x/nope{n}.safetensors")
               for n in range(refs // 2)]
    wanted += [Reference("2", "Lora Loader (LoraManager)", "loras", 1, "loras", "lora7", by_stem=True),
               Reference("3", "LoraLoader", "lora_name", None, "loras", "old/lora7.safetensors")]
    answers = [classify.classify(r, here, []) for r in wanted]
    assert [a.status for a in answers[-2:]] == ["found", "elsewhere"]
    assert answers[-1].use == "set7/lora7.safetensors" and answers[-2].path == str(real)
    assert all(a.status == "missing" for a in answers[:-2])
    # A pass over the library per reference would take a million file names.
    assert counting.calls <= 3 * files + 10 * len(wanted), counting.calls


def test_an_a1111_text_is_read_once_whatever_the_references(monkeypatch):
    workflow = ui_workflow([ui_node(n, "LoraLoader", [f"l{n}.safetensors", 1, 1]) for n in range(1, 301)])
    text = a1111_parameters("<lora:l7:1>", {"Steps": "20", "Lora hashes": '"l7: 0123456789"'})
    reads = []
    split = a1111._split
    monkeypatch.setattr(a1111, "_split", lambda t: reads.append(len(t)) or split(t))
    refs = Documents("png", ui=workflow, parameters=text).references()
    assert len(refs) == 300 and reads == [len(text)]
    assert [r.autov2 for r in refs if r.name == "l7.safetensors"] == ["0123456789"]


async def test_an_a1111_text_holds_to_the_reference_cap(lora_daemon: Daemon, models: Path):
    text = "".join(f"<lora:l{n}:1>" for n in range(MAX_REFERENCES + 1)) + "\nSteps: 20, Model: base"
    status, answer = await post(lora_daemon, png({"parameters": text}), "image/png")
    assert status == 400 and f"more than {MAX_REFERENCES} models" in answer["error"], answer
    text = "".join(f"<lora:l{n}:1>" for n in range(MAX_REFERENCES)) + "\nSteps: 20"
    status, answer = await post(lora_daemon, png({"parameters": text}), "image/png")
    assert status == 200 and answer["counts"]["missing"] == MAX_REFERENCES
    await still_serving(lora_daemon)
