"""What a file says about itself: the header probe, the base model it names, the sidecar files other tools
write beside it, the preview images beside it, and whether two paths are one file.

Pure reading, no policy: imports only config and events, never the store, the pipeline or the library.
"""
