"""Which models a ComfyUI prompt loads, read from its API form `{node_id: {"class_type", "inputs"}}`.

This runs on ComfyUI's worker thread for every prompt, so it only picks the loaders' inputs out of the dict; the
names are turned into files, and our payloads parsed, later on the reporter's own thread (usage_files).
An input that is a link (`[node_id, slot]`) is another node's output, known only while the prompt runs: skipped.
"""

from __future__ import annotations

from typing import Any, NamedTuple

# class_type -> the inputs that name one file each, with the ComfyUI folder name the loader looks it up in
NAMED_INPUTS: dict[str, tuple[tuple[str, str], ...]] = {
    "CheckpointLoaderSimple": (("ckpt_name", "checkpoints"),),
    "CheckpointLoader": (("ckpt_name", "checkpoints"),),
    "unCLIPCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "ImageOnlyCheckpointLoader": (("ckpt_name", "checkpoints"),),
    "UNETLoader": (("unet_name", "diffusion_models"),),
    "VAELoader": (("vae_name", "vae"),),
    "CLIPLoader": (("clip_name", "text_encoders"),),
    "DualCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2)),
    "TripleCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2, 3)),
    "QuadrupleCLIPLoader": tuple((f"clip_name{i}", "text_encoders") for i in (1, 2, 3, 4)),
    "ControlNetLoader": (("control_net_name", "controlnet"),),
    "DiffControlNetLoader": (("control_net_name", "controlnet"),),
    "UpscaleModelLoader": (("model_name", "upscale_models"),),
    "CLIPVisionLoader": (("clip_name", "clip_vision"),),
    "StyleModelLoader": (("style_model_name", "style_models"),),
    "HypernetworkLoader": (("hypernetwork_name", "hypernetworks"),),
    "GLIGENLoader": (("gligen_name", "gligen"),),
}
# ComfyUI's LoRA loaders return their inputs untouched, without opening the file, when every strength is 0.
LORA_STRENGTHS: dict[str, tuple[str, ...]] = {
    "LoraLoader": ("strength_model", "strength_clip"),
    "LoraLoaderModelOnly": ("strength_model",),
}
RGTHREE_LORAS = "Power Lora Loader (rgthree)"
# What a reference's text is: a file name as ComfyUI's loaders take it, or an input of ours read as that node reads it
NAME, CHECKPOINT_PAYLOAD, LORA_PAYLOAD, LORA_TEXT = "name", "checkpoint payload", "LoRA payload", "LoRA text"
OUR_INPUTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "HikazeCheckpointLoader": (("hikaze_payload", "checkpoints", CHECKPOINT_PAYLOAD),),
    "HikazeLoraPowerLoader": (("hikaze_payload", "loras", LORA_PAYLOAD), ("lora_text", "loras", LORA_TEXT)),
}


class Reference(NamedTuple):
    node: str  # the class_type that loads it
    kind: str  # the ComfyUI folder name
    text: str  # a file name in the kind's folders, or one of our nodes' inputs
    form: str  # NAME, CHECKPOINT_PAYLOAD, LORA_PAYLOAD or LORA_TEXT


def references(prompt: Any) -> list[Reference]:
    """Every model reference of the prompt's loaders, in prompt order, duplicates included."""
    found: list[Reference] = []
    if not isinstance(prompt, dict):
        return found
    for node in prompt.values():
        if not isinstance(node, dict):
            continue
        class_type = node.get("class_type")
        inputs = node.get("inputs")
        if not isinstance(class_type, str) or not isinstance(inputs, dict):
            continue
        named = NAMED_INPUTS.get(class_type)
        if named is not None:
            for field, kind in named:
                value = inputs.get(field)
                if isinstance(value, str) and value:
                    found.append(Reference(class_type, kind, value, NAME))
        elif class_type in LORA_STRENGTHS:
            value = inputs.get("lora_name")
            if isinstance(value, str) and value and not _all_zero(inputs.get(f) for f in LORA_STRENGTHS[class_type]):
                found.append(Reference(class_type, "loras", value, NAME))
        elif class_type == RGTHREE_LORAS:
            found.extend(_rgthree_rows(inputs))
        elif class_type in OUR_INPUTS:
            for field, kind, form in OUR_INPUTS[class_type]:
                value = inputs.get(field)
                if isinstance(value, str) and value:
                    found.append(Reference(class_type, kind, value, form))
    return found


def _rgthree_rows(inputs: dict[str, Any]) -> list[Reference]:
    """rgthree's loader keeps one `lora_N` input per row; it applies a row that is on with a strength not 0."""
    rows = []
    for key, row in inputs.items():
        if not (isinstance(row, dict) and key[:5].lower() == "lora_" and row.get("on") is True):
            continue
        name = row.get("lora")
        if isinstance(name, str) and name and name != "None" and not _all_zero(
                (row.get("strength"), row.get("strengthTwo"))):
            rows.append(Reference(RGTHREE_LORAS, "loras", name, NAME))
    return rows


def _all_zero(strengths: Any) -> bool:
    """Whether every strength given is the number 0; a missing one (None) is not counted, a link is not 0."""
    given = [s for s in strengths if s is not None]
    return bool(given) and all(isinstance(s, (int, float)) and not isinstance(s, bool) and s == 0 for s in given)
