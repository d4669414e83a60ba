"""The database behind narrow interfaces: the records the other layers pass around, one interface per kind of
caller (pending rows and the file index for the pipeline; models, tags, copies, images and search for the library;
sessions for the API), and backups.

Knows nothing of configuration files, the pipeline or the library's rules: imports only events, if anything. The
SQLite implementation lives in `store.sqlite`; a second backend plugs in beside it and passes the same contract tests.
"""
