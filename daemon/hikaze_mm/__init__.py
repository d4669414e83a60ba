"""Hikaze Model Manager: the always-on daemon that keeps a ComfyUI model library in order."""

__version__ = "0.1.0"
