"""The HTTP API and the page: the aiohttp app and its route table, the security middleware (origins, token,
sessions, connection limits), request parsing into typed requests, handlers by area, and the built page.

Handlers are thin: they parse, call the narrow facade the app hands them, and answer. Nothing imports the API but
the app; the API imports the library, legacy, pipeline, inspect, store, config and events, never the app.
"""
