"""Hikaze Model Manager as a ComfyUI custom node package: the two loader nodes, the front-end extension and two
routes about the daemon. Importing it registers the routes and nothing else: no database, no thread, no torch."""

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from .nodes.routes import register_with_comfyui

WEB_DIRECTORY = "./web/comfyui"

register_with_comfyui()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
