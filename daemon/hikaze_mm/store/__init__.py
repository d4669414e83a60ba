"""The store: what the daemon keeps (pending rows, models, their copies, tags, images, sessions) and the narrow
interfaces through which the rest of the daemon reads and writes it. `records` holds the values that cross the
boundary, `errors` what it raises, `interfaces` one Protocol per part and the bundle a backend builds; `sqlite/`
is the implementation, `backup` copies of its file. The store imports nothing of the daemon above it (no
pipeline, library or configuration): policy such as the metadata merge rules is handed in when it is built.
"""
