"""Run every benchmark in this folder one after another with its defaults, with the same Python as this script.

Benchmarks report ratios and goals; only a correctness failure (a wrong digest, a file opened by a reconcile, a
daemon that exits badly) makes one fail, and then this script fails too.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("hash_throughput", "hash_workers", "reconcile", "settle_latency", "memory", "image_memory",
              "library_scale", "folder_tree", "page_render", "burst_load", "api_load", "big_library", "million",
              "legacy_import", "watch_setup", "scan_once", "first_index", "poll_idle", "postgres_vs_sqlite",
              "usage_hook", "workflow_check")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", metavar="NAME", help=f"run only these ({', '.join(BENCHMARKS)})")
    args = parser.parse_args()
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"no benchmark named {', '.join(sorted(unknown))}")
    failed: list[str] = []
    for name in args.only or BENCHMARKS:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(HERE / f"{name}.py")])
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s\n", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
