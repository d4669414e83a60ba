"""ComfyUI's model loaders and the widgets that name their files, in the order the node lists its widgets (the
UI format keeps widget values by position; links and other inputs take no place among them). Checked against
ComfyUI's nodes.py and comfy_extras: each widget's folder is the one its options come from."""

from __future__ import annotations

from typing import NamedTuple


class Widget(NamedTuple):
    position: int  # among the node's widgets
    name: str
    kind: str  # ComfyUI's folder name


def _widgets(kind: str, *names: str, skip: int = 0) -> tuple[Widget, ...]:
    return tuple(Widget(skip + i, name, kind) for i, name in enumerate(names))


LOADERS: dict[str, tuple[Widget, ...]] = {
    "CheckpointLoaderSimple": _widgets("checkpoints", "ckpt_name"),
    "CheckpointLoader": _widgets("checkpoints", "ckpt_name", skip=1),  # after config_name, a `configs` file
    "unCLIPCheckpointLoader": _widgets("checkpoints", "ckpt_name"),
    "ImageOnlyCheckpointLoader": _widgets("checkpoints", "ckpt_name"),
    "LoraLoader": _widgets("loras", "lora_name"),  # then strength_model, strength_clip
    "LoraLoaderModelOnly": _widgets("loras", "lora_name"),  # then strength_model
    "UNETLoader": _widgets("diffusion_models", "unet_name"),  # then weight_dtype
    "VAELoader": _widgets("vae", "vae_name"),
    "CLIPLoader": _widgets("text_encoders", "clip_name"),  # then type, device
    "DualCLIPLoader": _widgets("text_encoders", "clip_name1", "clip_name2"),  # then type, device
    "TripleCLIPLoader": _widgets("text_encoders", "clip_name1", "clip_name2", "clip_name3"),
    "QuadrupleCLIPLoader": _widgets("text_encoders", "clip_name1", "clip_name2", "clip_name3", "clip_name4"),
    "ControlNetLoader": _widgets("controlnet", "control_net_name"),
    "DiffControlNetLoader": _widgets("controlnet", "control_net_name"),  # its model is a link
    "UpscaleModelLoader": _widgets("upscale_models", "model_name"),
    "CLIPVisionLoader": _widgets("clip_vision", "clip_name"),
    "StyleModelLoader": _widgets("style_models", "style_model_name"),
    "GLIGENLoader": _widgets("gligen", "gligen_name"),
    "HypernetworkLoader": _widgets("hypernetworks", "hypernetwork_name"),  # then strength
    "PhotoMakerLoader": _widgets("photomaker", "photomaker_model_name"),
}

# Values of a loader's list that name no file: VAELoader's built-in decoders, and the "None" some lists start with.
NOT_FILES = frozenset({"", "None", "none", "pixel_space", "taesd", "taesdxl", "taesd3", "taef1"})

HIKAZE_CHECKPOINT = "HikazeCheckpointLoader"
HIKAZE_LORAS = "HikazeLoraPowerLoader"
PAYLOAD = "hikaze_payload"  # both nodes' first widget
LORA_TEXT = "lora_text"  # the LoRA loader's second: <lora:name:0.8> entries
RGTHREE_LORAS = "Power Lora Loader (rgthree)"
LORA_MANAGER_SUFFIX = "(LoraManager)"  # Lora Loader, Lora Stacker, LoRA Text Loader, WanVideo Lora Select
