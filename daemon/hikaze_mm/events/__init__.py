"""The event bus and the events it carries: what the pipeline, the library and the v1 importer tell the world.

`catalog` names every event as a frozen dataclass and says what each one looks like on the wire; `bus` numbers
them and hands them to every subscriber (the API's event stream, the CLI's progress bars, the app's image
cleaner). It imports nothing of the daemon; everything above may import it.
"""
