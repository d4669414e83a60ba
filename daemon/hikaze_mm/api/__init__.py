"""The HTTP API and the manager page: the aiohttp app and its route table (`routes`), the guard every request
passes (`security`, `origin_policy`, `sessions`, `connections`), reading requests into typed values once
(`params`, `requests`, `model_edit`), the handlers by area (`handlers/`), the page (`page`) and the ComfyUIs that
announce themselves (`comfy_peers`). It owns the wire: routes, status codes, headers and error messages.

It may import legacy, library, pipeline, store, inspect, config and events for their types and errors; at run time
it reaches the daemon only through the parts the app hands it (`parts.ApiParts`). Nothing imports it but the app.
"""
