"""What a model file's first bytes say about it, read from the hashing pass (no second read of the file).

For safetensors that is the whole JSON header: the tensor names and shapes, and the `__metadata__` map that trainers
fill (kohya `ss_*` keys, ModelSpec `modelspec.*` keys). The data section is never looked at, so the probe costs one
JSON parse per file however large the file is.

The result is a `Header`, a JSON-serialisable dict. A file is taken for safetensors when a plausible length word is
followed by `{`, or, failing the other formats' magic, when either one holds; anything else is "unknown" without an
error, as many formats are simply not probed.
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any, TypedDict

from hikaze_mm.inspect.base_model import FLUX, SD1, SD2, SD3, SDXL, UNKNOWN, finetune_named_in, normalise, unique_words

MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024  # the format's own limit
_PREFIX = 9  # the length word and the first byte of the header it announces

# Cross-attention keys of SD-style UNets, full or as LoRA down-projections; their last dim is the text context width.
_CROSS_ATTN_K = re.compile(
    r"(?:input_blocks|down_blocks|middle_block|mid_block|output_blocks|up_blocks).*"
    r"attn2[._]to_k(?:\.lora_down|\.lora_A|\.lora\.down)?\.weight$"
)
_CONTEXT_WIDTH = {768: SD1, 1024: SD2, 1280: SDXL, 2048: SDXL}  # 1280: the SDXL refiner
_KOHYA_UNET_BLOCK = re.compile(r"^lora_unet_.*_transformer_blocks_(\d+)_")
_DOUBLE_BLOCK = re.compile(r"double_blocks[._](\d+)[._]")
_SINGLE_BLOCK = re.compile(r"single_(?:transformer_)?blocks[._](\d+)[._]")
# Flux.1 has 19 double and 38 single blocks; HunyuanVideo and Flux.2 dev reuse the names with more of them.
_FLUX_DOUBLE_BLOCKS, _FLUX_SINGLE_BLOCKS = 19, 38
_LORA_KEY = re.compile(
    r"\.lora_(?:down|up|A|B)\.|lora\d*\.(?:down|up)\.weight$|\.(?:hada|lokr)_w\d|^lora_(?:unet|te\d?)_"
)
_EMBEDDING_KEYS = ("emb_params", "clip_l", "clip_g")
_CHECKPOINT_PREFIXES = ("model.diffusion_model.", "input_blocks.", "double_blocks.", "joint_blocks.")
# ControlNets and IP-Adapters copy a main model's block names but are not loadable as one.
_ADAPTER_KEY = re.compile(r"ip_adapter|controlnet|zero_convs|input_hint_block")
_FINETUNE_KEYS = ("modelspec.architecture", "ss_base_model_version", "ss_sd_model_name", "modelspec.title")


class _Format(TypedDict):
    format: str  # "safetensors" | "gguf" | "zip-pickle" | "pickle" | "unknown"


class Header(_Format, total=False):
    """What the probe found in a file's first bytes."""

    tensor_count: int  # safetensors only
    metadata: dict[str, Any]  # the `__metadata__` map; string values that hold JSON objects or arrays come decoded
    base_model: str  # see `base_model.py`; present whenever a safetensors header was parsed
    base_model_source: str  # "modelspec" | "kohya" | "tensors" | "none", alongside base_model
    kind_hint: str  # "lora" | "checkpoint" | "embedding" | "vae", only when the tensor names say so
    trigger_words: list[str]  # only when `modelspec.trigger_phrase` names some
    error: str  # only when the file is damaged; the other keys then hold what could be read
    declared_length: int  # the header length the first 8 bytes announce, when no header could be read after them


class HeaderProbe:
    """Fed the file's chunks in order; stops collecting as soon as it has what it needs."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = _PREFIX
        self._header_len: int | None = None
        self.done = False
        self.result: Header = {"format": "unknown"}

    def feed(self, chunk: memoryview) -> None:
        # One chunk usually holds the length word and the header both, so it is consumed stage by stage.
        while not self.done:
            take = self._need - len(self._buf)
            self._buf += chunk[:take]
            chunk = chunk[take:]
            if len(self._buf) < self._need:
                return
            if self._header_len is None:
                self._start(complete=True)
            else:
                # A view, not a copy: the header may be up to 100 MB.
                self._stop(_read_header(memoryview(self._buf)[8:]))

    def finish(self) -> Header:
        """The findings; a file that ends inside its header gets what could be said plus an error."""
        if not self.done:
            if self._header_len is not None:
                got = len(self._buf) - 8
                self._stop({"format": "safetensors", "declared_length": self._header_len,
                            "error": f"file ends {got} bytes into its {self._header_len}-byte header"})
            else:
                self._start(complete=False)
        return self.result

    def _start(self, complete: bool) -> None:
        head = bytes(self._buf)
        n = struct.unpack_from("<Q", head)[0] if len(head) >= 8 else 0
        plausible = 2 <= n <= MAX_SAFETENSORS_HEADER
        opens_object = head[8:9] == b"{"
        # Header lengths of 128 + 256k begin with pickle's opcode byte (and some with "PK"): the '{' after them decides.
        if plausible and opens_object:
            self._expect_header(n)
        elif head[:4] == b"GGUF":
            self._stop({"format": "gguf"})
        elif head[:2] == b"PK":
            self._stop({"format": "zip-pickle"})
        elif head[:1] == b"\x80":
            self._stop({"format": "pickle"})
        elif len(head) < 8:
            self._stop({"format": "unknown"})
        elif plausible and complete:
            self._expect_header(n)
        elif plausible:
            self._stop({"format": "safetensors", "declared_length": n,
                        "error": f"file ends before its {n}-byte header"})
        elif opens_object:
            problem = "too short" if n < 2 else f"over the {MAX_SAFETENSORS_HEADER}-byte limit"
            self._stop({"format": "safetensors", "declared_length": n, "error": f"header length {n} is {problem}"})
        else:
            # Kept for a file whose name says safetensors: what its length word claims is the damage in words.
            self._stop({"format": "unknown", "declared_length": n})

    def _expect_header(self, n: int) -> None:
        self._header_len = n
        self._need = 8 + n

    def _stop(self, found: Header) -> None:
        self.result = found
        self.done = True
        self._buf = bytearray()


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; letting them through would make the stored header unreadable to SQLite.
    raise ValueError(f"{name} is not valid JSON")


def _read_header(raw: memoryview) -> Header:
    found: Header = {"format": "safetensors"}
    try:
        text = str(raw, "utf-8")
    except UnicodeDecodeError as e:
        found["error"] = f"header is not UTF-8 (bad byte at {e.start})"
        return found
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        found["error"] = "header JSON is nested too deeply"
        return found
    except ValueError as e:
        found["error"] = f"header is not valid JSON: {e}"
        return found
    if not isinstance(doc, dict):
        found["error"] = f"header is a JSON {type(doc).__name__}, not an object"
        return found
    raw_meta = doc.pop("__metadata__", None)
    found["tensor_count"] = len(doc)
    metadata: dict[str, Any] = {}
    if isinstance(raw_meta, dict):
        metadata = {key: _decode_nested(value) for key, value in raw_meta.items()}
    elif raw_meta is not None:
        found["error"] = "__metadata__ is not an object"
    if metadata:
        found["metadata"] = metadata
    found["base_model"], found["base_model_source"] = _base_model(metadata, doc)
    kind = _kind(doc)
    if kind is not None:
        found["kind_hint"] = kind
    words = _trigger_words(metadata)
    if words:
        found["trigger_words"] = words
    return found


def _decode_nested(value: Any) -> Any:
    """kohya stores dicts and lists as JSON text inside the string-only map; give them back their shape."""
    if not isinstance(value, str) or value.lstrip()[:1] not in ("{", "["):
        return value
    try:
        decoded = json.loads(value, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return value
    return decoded if isinstance(decoded, (dict, list)) else value


def _base_model(metadata: dict[str, Any], tensors: dict[str, Any]) -> tuple[str, str]:
    family: str | None = None
    source = "none"
    architecture = metadata.get("modelspec.architecture")
    version = metadata.get("ss_base_model_version")
    if isinstance(architecture, str) and (family := normalise(architecture)):
        source = "modelspec"
    elif isinstance(version, str) and (family := normalise(version)):
        source = "kohya"
    elif metadata.get("ss_v2") == "True":
        # Trainers from before ss_base_model_version existed flagged SD2 runs this way.
        family, source = SD2, "kohya"
    elif family := _family_from_tensors(tensors):
        source = "tensors"
    if family is None or family == SDXL:
        for key in _FINETUNE_KEYS:
            value = metadata.get(key)
            if isinstance(value, str) and (named := finetune_named_in(value)):
                return named, "modelspec" if key.startswith("modelspec.") else "kohya"
    return family or UNKNOWN, source


def _last_dim(entry: Any) -> int | None:
    shape = entry.get("shape") if isinstance(entry, dict) else None
    if isinstance(shape, list) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return None


def _max_index(pattern: re.Pattern[str], names: list[str]) -> int:
    return max((int(m.group(1)) for name in names if (m := pattern.search(name))), default=-1)


def _family_from_tensors(tensors: dict[str, Any]) -> str | None:
    names = list(tensors)
    if any("joint_blocks" in name for name in names):
        return SD3
    doubles = _max_index(_DOUBLE_BLOCK, names)
    flux_like = (doubles >= 0 and not any("ip_adapter" in name for name in names)) or any(
        "transformer.single_transformer_blocks." in name for name in names
    )
    if flux_like and doubles < _FLUX_DOUBLE_BLOCKS and _max_index(_SINGLE_BLOCK, names) < _FLUX_SINGLE_BLOCKS:
        return FLUX
    for name in names:
        if _CROSS_ATTN_K.search(name) and (family := _CONTEXT_WIDTH.get(_last_dim(tensors[name]) or 0)):
            return family
    if any(name.startswith("conditioner.") for name in names):
        return SDXL
    if any(name.startswith("lora_te1_") for name in names) and any(name.startswith("lora_te2_") for name in names):
        return SDXL
    # SD1 and SD2 UNets have one transformer block per attention; only SDXL LoRAs name blocks 2 and up.
    if any((m := _KOHYA_UNET_BLOCK.match(name)) and int(m.group(1)) >= 2 for name in names):
        return SDXL
    if _is_embedding(names):
        if "clip_g" in tensors:
            return SDXL
        return _CONTEXT_WIDTH.get(_last_dim(tensors[names[0]]) or 0)
    return None


def _is_embedding(names: list[str]) -> bool:
    return bool(names) and all(name in _EMBEDDING_KEYS or name.startswith("string_to_param.") for name in names)


def _kind(tensors: dict[str, Any]) -> str | None:
    names = list(tensors)
    if any(_LORA_KEY.search(name) for name in names):
        return "lora"
    if _is_embedding(names):
        return "embedding"
    if any(name.startswith(_CHECKPOINT_PREFIXES) for name in names) and not any(map(_ADAPTER_KEY.search, names)):
        return "checkpoint"
    if any(name.startswith("encoder.") for name in names) and any(name.startswith("decoder.") for name in names):
        return "vae"
    return None


def _trigger_words(metadata: dict[str, Any]) -> list[str]:
    """Only what the trainer named as a trigger. `ss_tag_frequency` holds the training captions (`1girl`, `solo`),
    which are not triggers: the API shows them apart, as training tags (`library/training_tags.py`)."""
    phrase = metadata.get("modelspec.trigger_phrase")
    return unique_words(phrase.split(",")) if isinstance(phrase, str) else []
