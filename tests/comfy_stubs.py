"""Stand-ins for the ComfyUI modules the nodes use (`folder_paths`, `comfy.sd`, `comfy.utils`, `server`).

They behave like the real ones as far as the nodes can tell (ecosystem notes 1.5-1.7: `get_full_path` normalises
the name and returns the first existing file or None, LoRAs are applied to new objects, never in place) and record
every call so tests can check what the nodes asked for. The server's instance has no prompt queue unless a test
gives it one (`PromptQueue`, shaped like ComfyUI's `execution.PromptQueue`), so the usage hook installs only then.
"""

from __future__ import annotations

import copy
import heapq
import importlib.util
import logging
import os
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any, NamedTuple

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
PT_EXTENSIONS = {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}


@dataclass(frozen=True)
class Thing:
    """A MODEL, CLIP or VAE: what it came from and the LoRA patches applied to it, in order."""

    source: str
    patches: tuple[tuple[str, float], ...] = ()


@dataclass
class Comfy:
    base: Path
    folders: dict[str, list[Path]]
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    torch_loads: list[tuple[str, bool]] = field(default_factory=list)
    lora_calls: list[tuple[Any, Any, dict[str, Any], float, float]] = field(default_factory=list)
    routes: web.RouteTableDef = field(default_factory=web.RouteTableDef)
    app: web.Application = field(default_factory=web.Application)  # PromptServer's, before it starts
    # comfy.cli_args.args: what ComfyUI listens on
    args: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(
        listen="127.0.0.1", port=8188, tls_keyfile=None, tls_certfile=None))
    prompt_server: Any = None  # PromptServer.instance, once server() made it

    def folder_paths(self) -> ModuleType:
        m = ModuleType("folder_paths")
        m.base_path = str(self.base)
        m.models_dir = str(self.base / "models")
        m.supported_pt_extensions = PT_EXTENSIONS

        def get_folder_paths(name: str) -> list[str]:
            return [str(p) for p in self.folders[name]]

        def get_full_path(name: str, filename: str) -> str | None:
            if name not in self.folders:
                return None
            filename = os.path.relpath(os.path.join("/", filename), "/")
            for folder in self.folders[name]:
                full = os.path.join(folder, filename)
                if os.path.isfile(full):
                    return full
            return None

        def get_filename_list(name: str) -> list[str]:
            found: set[str] = set()
            for folder in self.folders[name]:
                for dirpath, _dirs, files in os.walk(folder, followlinks=True):
                    for f in files:
                        if os.path.splitext(f)[1].lower() in PT_EXTENSIONS:
                            found.add(os.path.relpath(os.path.join(dirpath, f), folder))
            return sorted(found)

        # name -> (folders, extensions); the lists are the Comfy's own, so a folder a test adds is there too.
        m.folder_names_and_paths = {name: (paths, PT_EXTENSIONS) for name, paths in self.folders.items()}
        m.get_folder_paths = get_folder_paths
        m.get_full_path = get_full_path
        m.get_filename_list = get_filename_list
        return m

    def comfy_modules(self) -> tuple[ModuleType, ModuleType, ModuleType]:
        sd, utils = ModuleType("comfy.sd"), ModuleType("comfy.utils")

        def load_checkpoint_guess_config(
            ckpt_path: str, output_vae: bool = True, output_clip: bool = True, output_clipvision: bool = False,
            embedding_directory: list[str] | None = None, output_model: bool = True, **options: Any,
        ) -> tuple[Any, ...]:
            Path(ckpt_path).read_bytes()  # the real one reads the file, so a missing one fails the same way
            self.checkpoints.append({
                "path": ckpt_path, "output_vae": output_vae, "output_clip": output_clip,
                "embedding_directory": embedding_directory,
            })
            return Thing(ckpt_path), Thing(ckpt_path), Thing(ckpt_path), None

        def load_torch_file(ckpt: str, safe_load: bool = False, device: Any = None, return_metadata: bool = False):
            self.torch_loads.append((ckpt, safe_load))
            return {"file": ckpt, "bytes": len(Path(ckpt).read_bytes())}

        def load_lora_for_models(model: Any, clip: Any, lora: dict[str, Any], strength_model: float,
                                 strength_clip: float) -> tuple[Any, Any]:
            self.lora_calls.append((model, clip, lora, strength_model, strength_clip))
            new_model = None if model is None else Thing(model.source, (*model.patches, (lora["file"], strength_model)))
            new_clip = None if clip is None else Thing(clip.source, (*clip.patches, (lora["file"], strength_clip)))
            return new_model, new_clip

        sd.load_checkpoint_guess_config = load_checkpoint_guess_config
        sd.load_lora_for_models = load_lora_for_models
        utils.load_torch_file = load_torch_file
        comfy = ModuleType("comfy")
        cli_args = ModuleType("comfy.cli_args")
        cli_args.args = self.args
        comfy.sd, comfy.utils, comfy.cli_args = sd, utils, cli_args
        return comfy, sd, utils

    def server(self) -> ModuleType:
        m = ModuleType("server")

        class PromptServer:
            instance = type("Instance", (), {"routes": self.routes, "app": self.app})()

        m.PromptServer = PromptServer
        self.prompt_server = PromptServer.instance
        return m

    def give_prompt_queue(self) -> PromptQueue:
        """ComfyUI's server as main.py makes it: its prompt queue exists before custom nodes are imported."""
        self.prompt_server.prompt_queue = PromptQueue()
        return self.prompt_server.prompt_queue

    def give_on_prompt_handlers(self) -> OnPromptHandlers:
        """A server without the prompt queue the usage hook wraps, but with ComfyUI's on-prompt handlers."""
        handlers = OnPromptHandlers()
        self.prompt_server.on_prompt_handlers = handlers.handlers
        self.prompt_server.add_on_prompt_handler = handlers.handlers.append
        return handlers


class ExecutionStatus(NamedTuple):
    status_str: str
    completed: bool
    messages: list[str]


class PromptQueue:
    """ComfyUI's execution.PromptQueue as its prompt worker uses it: `get` moves an item (number, prompt_id, prompt,
    extra_data, outputs) to `currently_running` under a counter, `task_done` moves it into the history."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.queue: list[tuple[Any, ...]] = []
        self.currently_running: dict[int, tuple[Any, ...]] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.task_counter = 0
        self.number = 0

    def put(self, item: tuple[Any, ...]) -> None:
        with self.mutex:
            heapq.heappush(self.queue, item)

    def get(self) -> tuple[tuple[Any, ...], int]:
        with self.mutex:
            item = heapq.heappop(self.queue)
            i = self.task_counter
            self.currently_running[i] = copy.deepcopy(item)
            self.task_counter += 1
            return item, i

    def task_done(self, item_id: int, history_result: dict[str, Any], status: ExecutionStatus | None) -> None:
        with self.mutex:
            prompt = self.currently_running.pop(item_id)
            # ComfyUI's own bookkeeping, so that a benchmark of the hook weighs it against the real cost.
            if len(self.history) > 10000:
                self.history.pop(next(iter(self.history)))
            status_dict = None if status is None else copy.deepcopy(status._asdict())
            self.history[prompt[1]] = {"prompt": prompt, "outputs": {}, "status": status_dict}
            self.history[prompt[1]].update(history_result)

    def run(self, prompt: dict[str, Any], success: bool = True) -> str:
        """One prompt through the queue as main.py's prompt_worker takes it; its prompt_id."""
        prompt_id = str(uuid.uuid4())
        self.number += 1
        self.put((self.number, prompt_id, prompt, {}, list(prompt)))
        _item, item_id = self.get()
        self.task_done(item_id, {"outputs": {}, "meta": {}},
                       status=ExecutionStatus("success" if success else "error", success, []))
        return prompt_id


class OnPromptHandlers:
    """PromptServer's on-prompt handlers: each gets the POST /prompt body and returns it; a failing one is logged."""

    def __init__(self) -> None:
        self.handlers: list[Any] = []

    def trigger(self, json_data: dict[str, Any]) -> dict[str, Any]:
        for handler in self.handlers:
            try:
                json_data = handler(json_data)
            except Exception:
                logging.warning("[ERROR] An error occurred during the on_prompt_handler processing", exc_info=True)
        return json_data


def install(monkeypatch: pytest.MonkeyPatch, base: Path) -> Comfy:
    """ComfyUI at `base` (models under base/models), its modules in sys.modules for this test only."""
    models = base / "models"
    folders = {name: [models / name] for name in ("checkpoints", "loras", "embeddings")}
    folders["custom_nodes"] = [base / "custom_nodes"]  # in ComfyUI's registry too, though it holds no models
    for paths in folders.values():
        for p in paths:
            p.mkdir(parents=True, exist_ok=True)
    comfy = Comfy(base, folders)
    comfy_module, sd, utils = comfy.comfy_modules()
    for name, module in (("folder_paths", comfy.folder_paths()), ("comfy", comfy_module), ("comfy.sd", sd),
                         ("comfy.utils", utils), ("comfy.cli_args", comfy_module.cli_args),
                         ("server", comfy.server())):
        monkeypatch.setitem(sys.modules, name, module)
    return comfy


def import_pack(monkeypatch: pytest.MonkeyPatch, name: str = "hikaze-model-manager") -> ModuleType:
    """Import the repository root the way ComfyUI imports a custom_nodes folder (its name may have dashes)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    for sub in [m for m in sys.modules if m.startswith(name + ".")]:
        monkeypatch.setitem(sys.modules, sub, sys.modules.pop(sub))  # so the test's end removes them too
    return module
