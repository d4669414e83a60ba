"""Checking a ComfyUI workflow's models against this host: reading the workflow from JSON or from an image's
metadata (`documents`, `png`, `webp`, `a1111`), finding its model references (`loaders`, `references`), and telling
for each whether it resolves here, is here under another name, or is missing (`classify`, `check`).

Imports the store and the configuration's roots; the API names the folders to check against."""
