"""The ComfyUI nodes. They never import hikaze_mm: ComfyUI's Python may not have it, and the nodes must load files
from their saved paths with no daemon running. Imports stay relative because ComfyUI has a top-level `nodes`."""

from .checkpoint import HikazeCheckpointLoader
from .lora import HikazeLoraPowerLoader
from .usage import install_usage_hook

# Outside ComfyUI (tests, scripts) there is no server to hook and nothing happens.
install_usage_hook()

NODE_CLASS_MAPPINGS = {
    "HikazeCheckpointLoader": HikazeCheckpointLoader,
    "HikazeLoraPowerLoader": HikazeLoraPowerLoader,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "HikazeCheckpointLoader": "Hikaze Checkpoint Loader",
    "HikazeLoraPowerLoader": "Hikaze LoRA Power Loader",
}
