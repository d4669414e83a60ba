"""`hikaze-mm service install`: writes the systemd unit with this installation's command and config file."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from hikaze_mm.config.settings import ConfigError, find_config_file
from hikaze_mm.ops.systemd_unit import SYSTEM_DATA_DIR, render

SYSTEM_UNIT_PATH = Path("/etc/systemd/system/hikaze-mm.service")


def add_parser(sub: argparse._SubParsersAction) -> None:
    text = "install the daemon as a systemd service"
    service = sub.add_parser("service", help=text, description=text)
    actions = service.add_subparsers(dest="action", required=True, metavar="ACTION")
    text = "write the systemd unit for this installation and print the commands that enable it"
    install = actions.add_parser("install", help=text, description=text)
    install.add_argument("--config", metavar="FILE", help="the settings file the service uses (else the one "
                         "`hikaze-mm serve` would use now)")
    install.add_argument("--system", action="store_true", help="the system-wide, sandboxed unit for a dedicated "
                         f"user `hikaze`, written to {SYSTEM_UNIT_PATH} (run as root)")
    install.add_argument("--print", action="store_true", help="print the unit instead of writing it")


def run(args: argparse.Namespace) -> int:
    argv = [*_command(), "serve"]
    config = find_config_file(args.config)
    if config is not None:
        if not config.is_file():
            raise ConfigError(f"config file {config} does not exist")
        argv += ["--config", str(config.resolve())]
    if args.system:
        argv += ["--data-dir", SYSTEM_DATA_DIR]
    unit = render(argv, system=args.system)
    if args.print:
        sys.stdout.write(unit)
        return 0
    path = SYSTEM_UNIT_PATH if args.system else _user_unit_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(unit)
    except OSError as e:
        raise ConfigError(f"cannot write {path}: {e.strerror or e}; run as root, or use --print") from None
    print(f"wrote {path}")
    if config is None:
        print("no config file found: the service runs with the defaults (see --config)")
    print("now run:")
    ctl = "systemctl" if args.system else "systemctl --user"
    print(f"  {ctl} daemon-reload")
    print(f"  {ctl} enable --now hikaze-mm")
    if not args.system:
        print("  loginctl enable-linger $USER    # start at boot, keep running after you log out")
    return 0


def _user_unit_path() -> Path:
    config_home = Path(os.environ.get("XDG_CONFIG_HOME", ""))
    if not config_home.is_absolute():  # the XDG spec: a relative value is invalid and ignored
        config_home = Path.home() / ".config"
    return config_home / "systemd" / "user" / "hikaze-mm.service"


def _command() -> list[str]:
    """The installed `hikaze-mm` this was started as, else the one on PATH, else this Python with `-m`."""
    started_as = Path(sys.argv[0])
    if started_as.name == "hikaze-mm" and started_as.is_file():
        return [str(started_as.absolute())]
    found = shutil.which("hikaze-mm")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "hikaze_mm"]
