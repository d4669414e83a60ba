"""The model references of a workflow: each loader widget, payload entry and LoRA row that names a file, where it
sits (node, widget, entry) and what the workflow says of it (name, sha256, AutoV2).

Read from the UI format (`nodes`, widget values by position or by name, subgraphs by their instances: an inner
node is `outer:inner`, as ComfyUI numbers it when it runs) and from the API prompt (inputs by name, links
skipped). Besides ComfyUI's loaders: the Hikaze nodes' payloads, rgthree's Power Lora Loader rows and LoRA
Manager's LoRA lists and `<lora:...>` texts. Whatever is not one of those shapes is passed over; nothing here
raises on a node it does not understand."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hikaze_mm.workflows.errors import WorkflowError
from hikaze_mm.workflows.json_text import parse_json
from hikaze_mm.workflows.loaders import (
    HIKAZE_CHECKPOINT,
    HIKAZE_LORAS,
    LOADERS,
    LORA_MANAGER_SUFFIX,
    LORA_TEXT,
    NOT_FILES,
    PAYLOAD,
    RGTHREE_LORAS,
)

MAX_REFERENCES = 10_000
MAX_SUBGRAPH_DEPTH = 16  # subgraphs inside subgraphs; ComfyUI's own limit is lower
SHA256 = re.compile(r"[0-9a-fA-F]{64}")
AUTOV2 = re.compile(r"[0-9a-fA-F]{10}")
LORA_TAG = re.compile(r"<lora:([^<>]*)>", re.IGNORECASE)
PAYLOAD_LISTS = ("loras", "LoRAs", "LoRAList", "loRAList")  # the nodes' list key and the first version's aliases
_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)\s*")


@dataclass(frozen=True)
class Reference:
    node_id: str
    node_type: str
    widget: str
    entry: int | None  # a payload's or a list's entry, 1-based
    kind: str  # ComfyUI's folder name
    name: str  # as the workflow writes it
    sha256: str | None = None
    autov2: str | None = None
    full_path: str | None = None  # a Hikaze payload's saved path, which its node loads first
    # LoRA Manager and A1111 find a file by its name alone (no folder, no extension) anywhere in the folders.
    by_stem: bool = False


def lora_tag_names(text: str) -> list[str]:
    """The names of the `<lora:name:weight>` / `<lora:name:model:clip>` entries of a text, in order."""
    names = []
    for inner in LORA_TAG.findall(text):
        parts = inner.split(":")
        # The weights come last; a name may hold a colon itself.
        for _ in range(2):
            if len(parts) > 1 and _NUMBER.fullmatch(parts[-1]):
                parts.pop()
        name = ":".join(parts).strip()
        if name:
            names.append(name)
    return names


def hash_fields(value: object) -> tuple[str | None, str | None]:
    """(sha256, AutoV2) of a hash a workflow or image states: 64 hex digits are a sha256, 10 an AutoV2 (its first
    ten). Other lengths (AutoV1, AutoV3, CRC32) are hashes of something else and cannot be compared."""
    if not isinstance(value, str):
        return None, None
    value = value.strip()
    if SHA256.fullmatch(value):
        return value.lower(), None
    if AUTOV2.fullmatch(value):
        return None, value.lower()
    return None, None


class Values:
    """A node's widget values: by position (the UI's list) or by name (the API's inputs, a newer front end's
    `widgets_values_named`, which is read before the list beside it)."""

    def __init__(self, positional: list[Any] | None, named: Mapping[str, Any] | None):
        self.positional = positional
        self.named = named

    def get(self, name: str, index: int) -> Any:
        if self.named is not None:
            return self.named.get(name)
        if self.positional is not None and index < len(self.positional):
            return self.positional[index]
        return None

    def items(self) -> Iterator[tuple[str | None, Any]]:
        if self.named is not None:
            yield from self.named.items()
        elif self.positional is not None:
            yield from ((None, v) for v in self.positional)


class Collector:
    def __init__(self) -> None:
        self.found: list[Reference] = []

    def add(self, ref: Reference) -> None:
        if len(self.found) >= MAX_REFERENCES:
            raise WorkflowError(f"the workflow names more than {MAX_REFERENCES} models; check it in parts")
        self.found.append(ref)

    def node(self, node_id: str, node_type: str, values: Values) -> None:
        if node_type in LOADERS:
            for widget in LOADERS[node_type]:
                value = values.get(widget.name, widget.position)
                if isinstance(value, str) and value.strip() not in NOT_FILES:
                    self.add(Reference(node_id, node_type, widget.name, None, widget.kind, value))
        elif node_type == HIKAZE_CHECKPOINT:
            self._checkpoint_payload(node_id, node_type, values.get(PAYLOAD, 0))
        elif node_type == HIKAZE_LORAS:
            self._lora_payload(node_id, node_type, values.get(PAYLOAD, 0))
            text = values.get(LORA_TEXT, 1)
            if isinstance(text, str):
                for n, name in enumerate(lora_tag_names(text), 1):
                    self.add(Reference(node_id, node_type, LORA_TEXT, n, "loras", name))
        elif node_type == RGTHREE_LORAS:
            self._rgthree(node_id, node_type, values)
        elif node_type.endswith(LORA_MANAGER_SUFFIX):
            self._lora_manager(node_id, node_type, values)

    def _checkpoint_payload(self, node_id: str, node_type: str, text: Any) -> None:
        doc = _payload(text)
        if not isinstance(doc, dict):
            return
        path, name = _text(doc.get("ckpt_path")), _text(doc.get("name"))
        if path or name:
            sha256, _ = hash_fields(doc.get("sha256"))
            self.add(Reference(node_id, node_type, PAYLOAD, None, "checkpoints", name or path, sha256,
                               full_path=path or None))

    def _lora_payload(self, node_id: str, node_type: str, text: Any) -> None:
        doc = _payload(text)
        rows = doc if isinstance(doc, list) else None
        if isinstance(doc, dict):
            rows = next((doc[k] for k in PAYLOAD_LISTS if isinstance(doc.get(k), list)), None)
        for n, row in enumerate(rows or [], 1):
            if not isinstance(row, dict):
                continue
            path, name = _text(row.get("full_path")), _text(row.get("name")) or _text(row.get("lora"))
            if path or name:
                sha256, _ = hash_fields(row.get("sha256"))
                self.add(Reference(node_id, node_type, PAYLOAD, n, "loras", name or path, sha256,
                                   full_path=path or None))

    def _rgthree(self, node_id: str, node_type: str, values: Values) -> None:
        # Each row is a {on, lora, strength, strengthTwo} among the header's and buttons' values. Its widget's
        # name comes from a counter that removing or moving rows never winds back, so the name is taken where the
        # workflow carries it (the API's inputs, a newer front end's `widgets_values_named`); a bare list of
        # values has only the order, and the Nth row is `lora_N` (what rgthree names them when it loads a file).
        rows = 0
        for key, value in values.items():
            if not (isinstance(value, dict) and "lora" in value):
                continue
            rows += 1
            widget = key if key is not None else f"lora_{rows}"
            lora = value.get("lora")
            if isinstance(lora, str) and lora.strip() not in NOT_FILES:
                self.add(Reference(node_id, node_type, widget, None, "loras", lora))

    def _lora_manager(self, node_id: str, node_type: str, values: Values) -> None:
        # Its `loras` widget holds the list the node loads ({name, strength, clipStrength, active, ...}, a bare
        # list in the UI, {"__value__": [...]} in the API); its text mirrors the list, so it is read only when
        # there is no list (the LoRA Text Loader's `lora_syntax`).
        rows: list[Any] | None = None
        texts: list[tuple[str, str]] = []
        for key, value in values.items():
            if isinstance(value, dict) and isinstance(value.get("__value__"), list):
                value = value["__value__"]
            if rows is None and isinstance(value, list) and any(isinstance(r, dict) and "name" in r for r in value):
                rows = value
            elif isinstance(value, str) and "<lora:" in value.lower():
                texts.append((key or "text", value))
        if rows is not None:
            for n, row in enumerate(rows, 1):
                name = _text(row.get("name")) if isinstance(row, dict) else ""
                if name:
                    self.add(Reference(node_id, node_type, "loras", n, "loras", name, by_stem=True))
            return
        for widget, text in texts:
            for n, name in enumerate(lora_tag_names(text), 1):
                self.add(Reference(node_id, node_type, widget, n, "loras", name, by_stem=True))


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _payload(text: Any) -> Any:
    """A payload widget's document, or None: a payload the nodes would refuse names no file to check."""
    if isinstance(text, (dict, list)):
        return text
    if not isinstance(text, str) or not text.strip():
        return None
    try:
        return parse_json(text, "a payload")
    except WorkflowError:
        return None


def ui_references(workflow: Mapping[str, Any]) -> list[Reference]:
    collector = Collector()
    definitions = workflow.get("definitions")
    subgraphs: dict[str, list[Any]] = {}
    if isinstance(definitions, dict) and isinstance(definitions.get("subgraphs"), list):
        for graph in definitions["subgraphs"]:
            if isinstance(graph, dict) and isinstance(graph.get("id"), str) and isinstance(graph.get("nodes"), list):
                subgraphs.setdefault(graph["id"], graph["nodes"])
    nodes = workflow.get("nodes")
    if isinstance(nodes, list):
        _ui_nodes(collector, nodes, "", subgraphs, ())
    return collector.found


def _ui_nodes(collector: Collector, nodes: list[Any], prefix: str, subgraphs: dict[str, list[Any]],
              inside: tuple[str, ...]) -> None:
    for node in nodes:
        if not isinstance(node, dict):
            continue
        node_id, node_type = node.get("id"), node.get("type")
        if isinstance(node_id, bool) or not isinstance(node_id, (int, str)) or not isinstance(node_type, str):
            continue
        if node_type in subgraphs:
            # An instance of a subgraph: its inner nodes run as `instance:inner`. A subgraph that holds itself
            # (directly or not) is not followed again.
            if node_type not in inside and len(inside) < MAX_SUBGRAPH_DEPTH:
                _ui_nodes(collector, subgraphs[node_type], f"{prefix}{node_id}:", subgraphs, (*inside, node_type))
            continue
        raw, named = node.get("widgets_values"), node.get("widgets_values_named")
        if not isinstance(named, dict):
            named = raw if isinstance(raw, dict) else None
        values = Values(raw if isinstance(raw, list) else None, named)
        collector.node(f"{prefix}{node_id}", node_type, values)


def api_references(prompt: Mapping[str, Any]) -> list[Reference]:
    collector = Collector()
    for node_id, node in prompt.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            continue
        inputs = node.get("inputs")
        if not isinstance(inputs, dict):
            continue
        # A link is [node id, output slot]; only values set on the node itself name files.
        named = {k: v for k, v in inputs.items() if not _is_link(v)}
        collector.node(str(node_id), node["class_type"], Values(None, named))
    return collector.found


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int) and not isinstance(value[1], bool)
