"""The systemd unit files, rendered with the real command line. The text lives here rather than only in
`systemd/` so an installed wheel can write it; a test keeps the committed files equal to these."""

from __future__ import annotations

import re

USER_TEMPLATE = """\
# Hikaze Model Manager as a systemd user service: runs as you, sees the model folders you see.
# `hikaze-mm service install` writes this file to ~/.config/systemd/user/ with the real ExecStart; then
#   systemctl --user daemon-reload && systemctl --user enable --now hikaze-mm
#   loginctl enable-linger $USER    # start at boot and keep running without a login session
# For a hardened, system-wide install under a dedicated user see hikaze-mm-system.service.

[Unit]
Description=Hikaze Model Manager daemon
Documentation=https://github.com/hikaze/hikaze-model-manager
# A daemon that keeps failing at start-up (a broken config) stops being restarted after five tries.
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
ExecStart={exec_start}
Restart=on-failure
RestartSec=5
# The daemon pings from its event loop every 15 s; a loop hung for 30 s gets the process restarted.
WatchdogSec=30
# Longer than the HTTP server's 5 s shutdown plus closing the database.
TimeoutStopSec=30

[Install]
WantedBy=default.target
"""

SYSTEM_TEMPLATE = """\
# Hikaze Model Manager as a system-wide service under a dedicated user `hikaze`, with sandboxing (a user unit
# cannot be sandboxed reliably). Install, as root:
#   useradd --system --home-dir /var/lib/hikaze-mm --shell /usr/sbin/nologin hikaze
#   hikaze-mm service install --system --config /etc/hikaze-mm/config.toml
#   systemctl daemon-reload && systemctl enable --now hikaze-mm
# The config must be readable by `hikaze`, and so must the model folders (e.g. a group the owner shares).
# Its data_dir is forced to /var/lib/hikaze-mm by --data-dir below: the one place this unit may write.

[Unit]
Description=Hikaze Model Manager daemon (system-wide)
Documentation=https://github.com/hikaze/hikaze-model-manager
After=network.target
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=notify
NotifyAccess=main
User=hikaze
Group=hikaze
ExecStart={exec_start}
Restart=on-failure
RestartSec=5
WatchdogSec=30
TimeoutStopSec=30
# Creates /var/lib/hikaze-mm owned by `hikaze`: the database, images and backups live there.
StateDirectory=hikaze-mm
StateDirectoryMode=0750
# The whole file system is read-only except the data dir.
ProtectSystem=strict
ReadWritePaths=/var/lib/hikaze-mm
# Model folders often live in home directories: readable, never writable. Deleting a model to the trash
# therefore works only for folders outside /home; add them to ReadWritePaths= if that is wanted.
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
# AF_UNIX for the sd_notify socket, AF_INET/AF_INET6 for the HTTP API.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6

[Install]
WantedBy=multi-user.target
"""

SYSTEM_DATA_DIR = "/var/lib/hikaze-mm"
# The ExecStart lines of the committed files under systemd/.
USER_PLACEHOLDER = ["%h/.local/bin/hikaze-mm", "serve"]
SYSTEM_PLACEHOLDER = ["/usr/local/bin/hikaze-mm", "serve", "--config", "/etc/hikaze-mm/config.toml",
                      "--data-dir", SYSTEM_DATA_DIR]
_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def quote(arg: str, *, specifiers: bool = True) -> str:
    """One ExecStart word: `%` and `$` would be expanded by systemd, spaces and quotes would split the word."""
    if specifiers:
        arg = arg.replace("%", "%%")
    arg = arg.replace("$", "$$")
    if _PLAIN.fullmatch(arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def command_line(argv: list[str]) -> str:
    return " ".join(quote(a) for a in argv)


def render(argv: list[str], *, system: bool = False) -> str:
    return (SYSTEM_TEMPLATE if system else USER_TEMPLATE).format(exec_start=command_line(argv))


def render_placeholder(*, system: bool = False) -> str:
    """The committed file: its ExecStart uses `%h`, a specifier meant to stay one."""
    argv = SYSTEM_PLACEHOLDER if system else USER_PLACEHOLDER
    line = " ".join(quote(a, specifiers=False) for a in argv)
    return (SYSTEM_TEMPLATE if system else USER_TEMPLATE).format(exec_start=line)
