"""The `hikaze-mm` command: parsing arguments, the one-shot commands (scan, status, backup, restore, verify,
import-legacy, service install) and starting the app for `serve`.

The top: may import anything except the API directly (the app wires the API).
"""
