"""The HTTP API and the manager page: the aiohttp app and its route table (`routes`), the guard every request
passes (`security`, `origin_policy`, `sessions`, `connections`), reading requests into typed values once
(`params`, `requests`, `model_edit`), the handlers by area (`handlers/`), and the page (`page`), the ComfyUIs that
announce themselves (`comfy_peers`). It owns the wire: status codes, headers and error messages.

It may import the library, legacy, pipeline, store, inspect, config and events below it, and only through the
parts the app hands it (`parts.ApiParts`); nothing imports it but the app that wires it.
"""
