"""Workflows and images shaped as ComfyUI's front end, its SaveImage / SaveAnimatedWEBP and A1111 write them, for
any test that needs one: a UI workflow (with a subgraph), its API prompt, the Hikaze payloads, rgthree Power Lora
Loader rows and a LoRA Manager loader, and PNGs and WebPs that carry them (hostile ones too). Any test imports it
as `workflow_fixtures`, as it does `conftest`."""

from __future__ import annotations

import io
import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

SUBGRAPH_ID = "9f1c2a64-3b7e-4c1d-a2f0-5e6d7c8b9a01"


def ui_node(node_id: int, node_type: str, widgets: list[Any] | dict[str, Any], *, inputs: Sequence[dict[str, Any]] = (),
            outputs: Sequence[dict[str, Any]] = (), mode: int = 0) -> dict[str, Any]:
    """A node as the front end saves it (position, size, slots, properties and its widgets' values)."""
    return {"id": node_id, "type": node_type, "pos": [100 + 20 * node_id, 130], "size": [315, 98], "flags": {},
            "order": node_id, "mode": mode, "inputs": list(inputs), "outputs": list(outputs),
            "properties": {"Node name for S&R": node_type, "cnr_id": "comfy-core", "ver": "0.3.60"},
            "widgets_values": widgets}


def _slot(name: str, kind: str, link: int | None = None) -> dict[str, Any]:
    return {"name": name, "type": kind, "link": link}


def _out(name: str, kind: str, links: list[int]) -> dict[str, Any]:
    return {"name": name, "type": kind, "links": links, "slot_index": 0}


def ui_workflow(nodes: list[dict[str, Any]], subgraphs: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "4b0b6f4e-4d0a-4a44-9a8b-1f1d6f0b7c11", "revision": 0,
        "last_node_id": max((n["id"] for n in nodes), default=0), "last_link_id": 9,
        "nodes": nodes, "links": [[1, 4, 0, 10, 0, "MODEL"], [2, 4, 1, 10, 1, "CLIP"]], "groups": [], "config": {},
        "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.28.7"}, "version": 0.4,
    }
    if subgraphs:
        doc["definitions"] = {"subgraphs": list(subgraphs)}
    return doc


def subgraph(graph_id: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": graph_id, "version": 1, "state": {"lastGroupId": 0, "lastNodeId": 12, "lastLinkId": 3,
                                                     "lastRerouteId": 0},
            "revision": 0, "config": {}, "name": "LoRA stack",
            "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
            "outputNode": {"id": -20, "bounding": [600, 0, 120, 60]},
            "inputs": [{"id": "in-model", "name": "model", "type": "MODEL", "linkIds": [1]}],
            "outputs": [{"id": "out-model", "name": "MODEL", "type": "MODEL", "linkIds": [2]}],
            "widgets": [], "nodes": nodes, "groups": [], "links": [], "extra": {}}


def checkpoint_payload(path: str, sha256: str, name: str) -> str:
    return json.dumps({"ckpt_path": path, "sha256": sha256, "name": name})


def lora_payload(*entries: dict[str, Any]) -> str:
    rows = [{"name": "", "full_path": "", "sha256": "", "strength_model": 1.0, "strength_clip": 1.0, "enabled": True,
             **e} for e in entries]
    return json.dumps({"version": 2, "loras": rows})


def rgthree_widgets(*loras: str | None) -> list[Any]:
    """A Power Lora Loader's widget values: the divider's and header's, a row per LoRA, the spacer's and the
    button's."""
    rows = [{"on": True, "lora": lora, "strength": 0.8, "strengthTwo": None} for lora in loras]
    return [{}, {"type": "PowerLoraLoaderHeaderWidget"}, *rows, {}, ""]


def lora_manager_widgets(*names: str) -> list[Any]:
    """LoRA Manager's loader: its widget's version marker, the text, and the list it loads."""
    text = " ".join(f"<lora:{n}:0.7>" for n in names)
    rows = [{"name": n, "strength": 0.7, "clipStrength": 0.7, "active": True, "expanded": False, "locked": False}
            for n in names]
    return [{"version": 1, "textWidgetName": "text"}, text, rows]


def api_node(class_type: str, inputs: dict[str, Any], title: str = "") -> dict[str, Any]:
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title or class_type}}


def png(texts: dict[str, str], *, compressed: tuple[str, ...] = (), size: tuple[int, int] = (8, 8)) -> bytes:
    """A PNG made by Pillow carrying `texts` as SaveImage writes them (tEXt; zTXt for the keys in `compressed`)."""
    info = PngInfo()
    for key, text in texts.items():
        info.add_text(key, text, zip=key in compressed)
    out = io.BytesIO()
    Image.new("RGB", size, (40, 80, 120)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def comfy_png(workflow: dict[str, Any] | None, prompt: dict[str, Any] | None, **kw: Any) -> bytes:
    texts = {}
    if prompt is not None:
        texts["prompt"] = json.dumps(prompt)
    if workflow is not None:
        texts["workflow"] = json.dumps(workflow)
    return png(texts, **kw)


def comfy_webp(workflow: dict[str, Any] | None, prompt: dict[str, Any] | None) -> bytes:
    """A WebP with ComfyUI's EXIF: `prompt:{...}` in Model (0x0110), `workflow:{...}` in Make (0x010F)."""
    image = Image.new("RGB", (8, 8), (40, 80, 120))
    exif = image.getexif()
    if prompt is not None:
        exif[0x0110] = "prompt:" + json.dumps(prompt)
    if workflow is not None:
        exif[0x010F] = "workflow:" + json.dumps(workflow)
    out = io.BytesIO()
    image.save(out, "WEBP", exif=exif, lossless=True)
    return out.getvalue()


def a1111_parameters(prompt: str, settings: dict[str, str]) -> str:
    return prompt + "\nNegative prompt: lowres, bad anatomy\n" + ", ".join(f"{k}: {v}" for k, v in settings.items())


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(*chunks: bytes, width: int = 1, height: int = 1) -> bytes:
    """A PNG put together chunk by chunk: its header claims `width` x `height`, the pixels are one IDAT of a
    single row, whatever the header says (the check never decodes them)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + b"".join(chunks)
            + png_chunk(b"IDAT", zlib.compress(b"\0\0\0\0")) + png_chunk(b"IEND", b""))


def zlib_bomb(gib: int) -> bytes:
    """A zlib stream of `gib` GiB of zeros in a few MB, made in no time: one raw deflate segment of 4 MiB, ended by a
    full flush so that copies of it may follow one another, repeated, then a final empty block and the checksum."""
    segment = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = segment.compress(bytes(4 << 20)) + segment.flush(zlib.Z_FULL_FLUSH)
    size = gib << 30
    checksum = ((size % 65521) << 16) | 1  # Adler-32 of `size` zero bytes
    return b"\x78\x9c" + piece * (gib * 256) + zlib.compressobj(9, zlib.DEFLATED, -15).flush() + struct.pack(
        ">I", checksum)
