"""The request's body as a workflow: JSON (the UI format, the API prompt, or both under `workflow` and `prompt`),
or a PNG or WebP whose metadata carries one (ComfyUI's `workflow` and `prompt` texts, A1111's `parameters`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from hikaze_mm.workflows import a1111
from hikaze_mm.workflows.errors import WorkflowError
from hikaze_mm.workflows.json_text import parse_json
from hikaze_mm.workflows.png import png_texts
from hikaze_mm.workflows.references import Reference, api_references, hash_fields, ui_references
from hikaze_mm.workflows.webp import webp_texts

MAX_NODES = 20_000
JSON_TYPE, PNG_TYPE, WEBP_TYPE = "application/json", "image/png", "image/webp"
CONTENT_TYPES = (JSON_TYPE, PNG_TYPE, WEBP_TYPE)
Source = Literal["ui", "api", "png", "webp"]
_IMAGE_KEYS = frozenset({"workflow", "prompt", "parameters"})


@dataclass(frozen=True)
class Documents:
    source: Source
    ui: dict[str, Any] | None = None
    api: dict[str, Any] | None = None
    parameters: str | None = None  # A1111's text

    def references(self) -> list[Reference]:
        """The UI workflow's references, then the prompt's that the UI does not hold (the same node's widget is
        the same reference in both), else the A1111 text's; hashes the A1111 text gives are put on the
        workflow's references of the same kind and file name."""
        refs = ui_references(self.ui) if self.ui is not None else []
        if self.api is not None:
            seen = {(r.node_id, r.widget, r.entry) for r in refs}
            refs += [r for r in api_references(self.api) if (r.node_id, r.widget, r.entry) not in seen]
        if self.parameters is None:
            return refs
        if not refs:
            return a1111.references(self.parameters)
        known = a1111.hashes(self.parameters)
        loras: dict[str, str] = {}
        for name, stated in known.loras.items():
            loras.setdefault(_stem(name), stated)
        return [_with_hashes(r, known, loras) for r in refs]


def _stem(name: str) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if base.lower().endswith((".safetensors", ".ckpt", ".pt", ".pth")) else base


def _with_hashes(ref: Reference, known: a1111.Hashes, loras: dict[str, str]) -> Reference:
    """`loras`: the text's LoRA hashes by the stem of the name it gives them (the first of a stem)."""
    if ref.sha256 or ref.autov2:
        return ref
    if ref.kind == "checkpoints":
        stated = known.model if known.model_name and _stem(known.model_name) == _stem(ref.name) else None
    else:
        stated = loras.get(_stem(ref.name)) if ref.kind == "loras" else None
    sha256, autov2 = hash_fields(stated)
    return dataclasses.replace(ref, sha256=sha256, autov2=autov2) if sha256 or autov2 else ref


def read(body: bytes, content_type: str) -> Documents:
    """The workflow in a body of `content_type` (one of CONTENT_TYPES); WorkflowError says why there is none."""
    if content_type == PNG_TYPE:
        return _from_image("png", png_texts(body, _IMAGE_KEYS))
    if content_type == WEBP_TYPE:
        return _from_image("webp", webp_texts(body, _IMAGE_KEYS))
    if not body.strip():
        raise WorkflowError("the body is empty; send a workflow (the UI format or the API prompt) as JSON")
    doc = parse_json(body, "the body")
    if isinstance(doc, list):
        raise WorkflowError("the body is a JSON array; a workflow is an object: the UI format (with `nodes`), the "
                            "API prompt, or {\"workflow\": ..., \"prompt\": ...}")
    if not isinstance(doc, dict):
        raise WorkflowError("the body is not a JSON object; send a workflow (the UI format or the API prompt)")
    if doc and set(doc) <= {"workflow", "prompt"}:
        ui, api = doc.get("workflow"), doc.get("prompt")
        if ui is not None and not _is_ui(ui):
            raise WorkflowError("`workflow` must be a workflow in the UI format: an object with a `nodes` list")
        if api is not None and not _is_api(api):
            raise WorkflowError("`prompt` must be a prompt in the API format: {node id: {\"class_type\", "
                                "\"inputs\"}}")
        return _counted(Documents("ui" if ui is not None else "api", ui, api))
    if _is_ui(doc):
        return _counted(Documents("ui", ui=doc))
    if _is_api(doc):
        return _counted(Documents("api", api=doc))
    raise WorkflowError("the body is not a workflow: the UI format has a `nodes` list, the API prompt maps node ids "
                        "to {\"class_type\", \"inputs\"}")


def _is_ui(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("nodes"), list)


def _is_api(doc: Any) -> bool:
    return (isinstance(doc, dict) and bool(doc)
            and all(isinstance(n, dict) and isinstance(n.get("class_type"), str) for n in doc.values()))


def _counted(docs: Documents) -> Documents:
    nodes = 0
    if docs.ui is not None:
        nodes += len(docs.ui["nodes"])
        definitions = docs.ui.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, dict) else None
        for graph in subgraphs if isinstance(subgraphs, list) else []:
            if isinstance(graph, dict) and isinstance(graph.get("nodes"), list):
                nodes += len(graph["nodes"])
    nodes = max(nodes, len(docs.api or {}))
    if nodes > MAX_NODES:
        raise WorkflowError(f"the workflow has {nodes} nodes; at most {MAX_NODES} are checked")
    return docs


def _from_image(source: Source, texts: dict[str, str]) -> Documents:
    what = source.upper()
    if not texts:
        raise WorkflowError(f"the {what} carries no workflow: no `workflow` or `prompt` (ComfyUI) nor `parameters` "
                            "(A1111) in its metadata")
    ui = api = None
    problems = []
    for key in ("workflow", "prompt"):
        if key not in texts:
            continue
        try:
            doc = parse_json(texts[key], f"the {what}'s `{key}`")
        except WorkflowError as e:
            problems.append(str(e))
            continue
        if key == "workflow" and _is_ui(doc):
            ui = doc
        elif key == "prompt" and _is_api(doc):
            api = doc
        else:
            problems.append(f"the {what}'s `{key}` is not a workflow")
    parameters = texts.get("parameters")
    if ui is None and api is None and parameters is None:
        raise WorkflowError("; ".join(problems))
    return _counted(Documents(source, ui, api, parameters))
