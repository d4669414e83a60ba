"""Hikaze Model Manager as a ComfyUI custom node package: the two loader nodes, the front-end extension and two
routes about the daemon. Importing it registers the routes and nothing else: no database, no thread, no torch."""

WEB_DIRECTORY = "./web/comfyui"

# ComfyUI imports this folder as a package. pytest, collecting this checkout's tests, imports the file as a plain
# module when the folder's name is not a valid package name (a CI checkout such as `ci-check`): there is no
# package to import from then, and nothing to register.
if __package__:
    from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
    from .nodes.routes import register_with_comfyui

    register_with_comfyui()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
