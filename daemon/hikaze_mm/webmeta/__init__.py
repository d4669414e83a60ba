"""Metadata from the web, looked up by a model file's own sha256 (never by its name): Civitai first, CivArchive for
the models deleted from Civitai.

`client` talks HTTP to the configured sources only (paced, retried, size-capped, every request timed out), `sources`
reads their answers into one `WebRecord`, and `lookup` puts the two together for one sha256. What the library does
with a record (fill what the user has not set) is the library's; this package fetches and reads, and imports only
the standard library, aiohttp and itself.
"""
