"""The pipeline from a file on disk to a pending row, in the README's order: watch (inotify coverage, polling
fallback, mounts) and the folder supervisor; walk and reconcile; settle; the decisions about what a file event means;
hashing (SHA-256 + BLAKE3 + header probe in one read); intake, which records the result as a pending row.

May import inspect, store, config and events, and the library's metadata rules and image files it fills pending rows
with (library and pipeline are one layer); never the API, the legacy importer or the app.
"""
