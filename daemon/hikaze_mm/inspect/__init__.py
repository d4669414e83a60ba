"""What a model file says about itself: the header probe (format, tensors, trainer metadata), the base model
those name, the sidecars and preview images other tools left beside it (looked for in folder listings shared by
a batch of files), and whether two paths are one file.

Plain blocking functions over the file system, called from threads; they read, never write. It imports only the
standard library and itself: the library encodes the previews it finds, the pipeline decides what to do with
what it reads.
"""
