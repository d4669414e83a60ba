"""A model library like a real user's, for the page tests: kohya LoRAs with `ss_*` metadata and `ss_tag_frequency`,
checkpoints, `.civitai.info` sidecars with HTML descriptions, trigger words and tags, previews, CJK names, sub-folders
the user organised, a file with a copy elsewhere, NSFW models and a damaged file.

`write_library(root)` writes it under `root` (the models root: `root/loras/...`, `root/checkpoints/...`) and returns
what it wrote, so a test can name the files it looks for.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

# Civitai's descriptions are HTML: formatting, a link, a remote image and what a hostile author could slip in.
HTML_DESCRIPTION = (
    '<p>Use at <b>0.6-0.9</b> with <i>clip skip 2</i>. See <a href="https://civitai.com/models/{id}">the page</a>.</p>'
    '<img src="https://image.civitai.com/remote/{id}.jpeg" alt="sample">'
    '<p onclick="window.hacked = true">More <script>window.hacked = true</script>notes</p>'
)
CAPTIONS = {"1girl": 120, "solo": 110, "masterpiece": 90, "best quality": 80, "smile": 40, "outdoors": 12}
CJK_NAMES = ("少女风格", "水彩画", "キャラクター", "赛博朋克城市", "古風な着物")
BASE_MODELS = ("SD 1.5", "SDXL 1.0", "Pony", "Illustrious")


@dataclass
class Library:
    root: Path
    loras: list[Path] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)
    nsfw: list[Path] = field(default_factory=list)
    with_sidecar: list[Path] = field(default_factory=list)
    cjk: list[Path] = field(default_factory=list)
    copies: list[tuple[Path, Path]] = field(default_factory=list)  # (original, copy with the same bytes)
    damaged: list[Path] = field(default_factory=list)

    def add_copy(self) -> Path:
        """The last LoRA's bytes again in `loras/backup`: the same content as a model, in another folder."""
        original = self.loras[-1]
        copy = self.root / "loras" / "backup" / original.name
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(original.read_bytes())
        self.copies.append((original, copy))
        return copy

    @property
    def files(self) -> list[Path]:
        """Every model file (copies included), in the order written."""
        return [*self.loras, *self.checkpoints, *(c for _, c in self.copies), *self.damaged]


def _safetensors(seed: str, metadata: dict[str, str], size: int) -> bytes:
    header = {"lora_unet_down.weight": {"dtype": "U8", "shape": [0], "data_offsets": [0, 0]},
              "__metadata__": metadata}
    raw = json.dumps(header, ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)
    block = hashlib.sha512(seed.encode()).digest()
    body_size = max(0, size - 8 - len(raw))
    body = (block * (body_size // len(block) + 1))[:body_size]
    header["lora_unet_down.weight"] = {"dtype": "U8", "shape": [body_size], "data_offsets": [0, body_size]}
    raw = json.dumps(header, ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def _kohya(name: str, base: str) -> dict[str, str]:
    return {
        "ss_network_module": "networks.lora",
        "ss_network_dim": "32",
        "ss_network_alpha": "16",
        "ss_output_name": name,
        "ss_base_model_version": "sdxl_base_v1-0" if base.startswith("SDXL") else "sd_v1",
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
        "ss_tag_frequency": json.dumps({"10_train": CAPTIONS}),
    }


def _preview(path: Path, hue: int) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (48, 64), ((hue * 53) % 256, (hue * 97) % 256, (hue * 29) % 256)).save(buf, "PNG")
    path.with_name(path.name.removesuffix(".safetensors") + ".preview.png").write_bytes(buf.getvalue())


def _sidecar(path: Path, i: int, base: str, nsfw: bool) -> None:
    doc = {
        "id": 1000 + i, "modelId": 500 + i, "baseModel": base,
        "description": HTML_DESCRIPTION.format(id=500 + i),
        "trainedWords": [f"trigger{i}", f"style {i}"],
        "model": {"name": path.stem, "nsfw": nsfw, "tags": ["character", "anime" if i % 2 else "style"]},
    }
    path.with_name(path.name.removesuffix(".safetensors") + ".civitai.info").write_text(
        json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def write_library(root: Path, loras: int = 150, checkpoints: int = 20, size: int = 4096,
                  with_copy: bool = True) -> Library:
    """`loras` LoRAs spread over sub-folders (every third with a sidecar and a preview, every seventh NSFW, the
    first five with CJK names), `checkpoints` checkpoints, one LoRA copied into a backup folder (unless
    `with_copy` is false: `add_copy` writes it later), a damaged file."""
    lib = Library(root)
    folders = ("", "characters", "styles/anime", "styles/photo", "concepts")
    for i in range(loras):
        base = BASE_MODELS[i % len(BASE_MODELS)]
        name = CJK_NAMES[i] if i < len(CJK_NAMES) else f"lora_{i:03d}"
        path = root / "loras" / folders[i % len(folders)] / f"{name}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_safetensors(f"lora{i}", _kohya(name, base), size))
        lib.loras.append(path)
        if i < len(CJK_NAMES):
            lib.cjk.append(path)
        nsfw = i % 7 == 6
        if nsfw:
            lib.nsfw.append(path)
        if i % 3 == 0 or nsfw:
            _sidecar(path, i, base, nsfw)
            _preview(path, i)
            lib.with_sidecar.append(path)
    for i in range(checkpoints):
        path = root / "checkpoints" / ("sdxl" if i % 2 else "sd15") / f"checkpoint_{i:02d}.safetensors"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_safetensors(f"ckpt{i}", {"modelspec.title": path.stem}, size * 2))
        lib.checkpoints.append(path)
    if with_copy:
        lib.add_copy()
    damaged = root / "loras" / "broken_download.safetensors"
    damaged.write_bytes(struct.pack("<Q", 2**63) + b"\0" * 8)
    lib.damaged.append(damaged)
    return lib
