"""The first version's database: reading it without changing it, and bringing its models, tags, metadata and
images into this one as a background job.

Sits above the library and the pipeline it feeds; never imports the API or the app.
"""
