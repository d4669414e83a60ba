"""The library: importing pending rows with their conflict strategies (and on its own, with auto-import on), the
library service behind the API (models, tags, metadata, images), the metadata rules, image encoding and the image
files on disk, and the trash.

One layer with the pipeline (each may use the other's parts); imports inspect, store, config and events; never the
API, the legacy importer or the app.
"""
