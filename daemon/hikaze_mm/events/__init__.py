"""The in-process event bus and the typed events every stage publishes (the page hears them over SSE).

The bottom layer: imports nothing else of hikaze_mm, so the pipeline, the library and the API can all publish.
"""
