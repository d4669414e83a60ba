"""Running the daemon as a service: structured logs, `verify`, sd_notify, the systemd unit and its install.

Beside the API: imports the layers below it, never the API, the app or the CLI.
"""
