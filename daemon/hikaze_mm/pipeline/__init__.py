"""How a file on disk becomes a row in the import queue, in the README's order: the watcher (`watch`, with
`inotify_coverage`, `poll_observer` with `poll_tree`, and `mounts`) and the walks (`walk`, `reconcile`) report
files; the `supervisor` keeps the folders watched and walked; the `settle` queue waits until a file is quiet; the
`decisions` say what a report means for the store, under the one `DecisionLock`; `hashing` reads each settled file
once and `intake` records the result. `placement` says whether a path named from elsewhere (a v1 row, a retry)
lies in the model folders.

It imports `inspect`, `store`, `config`, `events` and, for image files and metadata rules, `library`. The app builds
it; the importers and the status document get the parts they use from the app.
"""
