"""The work of POST /api/workflows/check as the library grows: a workflow of 200 and of 10,000 LoRA references
(half ComfyUI's LoraLoader by a name from another machine, half LoRA Manager rows found by the file name alone,
the two kinds that are looked up among the library's files), read from its JSON and judged against a library of
10,000 and of 100,000 known files, in-process (the part of the check that runs in a thread; the store's queries
are one or two per check whatever its size). Median of `--rounds`.

Baseline: a check of 10 references against the same library. A check should cost its library's lookups (built
once, as a check of 10 references shows) plus its references' (as the smaller library shows), not their product:
10,000 references at 100,000 files / (10 references at 100,000 files + 10,000 references at 10,000 files) <= 1.5.
`--src DIR` times another checkout's daemon package (a base commit), e.g. with `--refs 10 200` where a check that
walks the library per reference would take hours.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import verdict

GOAL = 1.5


def library(root: Path, count: int) -> Any:
    from hikaze_mm.store.known_files import FileIndex
    from hikaze_mm.store.path_table import PathTable

    pending = PathTable()
    for n in range(count):
        pending.set(str(root / f"set{n % 100:03d}" / f"lora{n}.safetensors"), (65536, 1, n + 1, 1), "ready")
    return FileIndex(pending, PathTable(), PathTable(), {}, {})


def workflow(refs: int, files: int) -> bytes:
    """Names spread over the library and beyond it: every other one names a file the library has."""
    def name(n: int) -> str:
        return f"lora{(n * 7919) % (2 * files)}"
    nodes: list[dict[str, Any]] = [{"id": n + 2, "type": "LoraLoader", "widgets_values": [
        f"other/machine/{name(n)}.safetensors", 1.0, 1.0]} for n in range(refs // 2)]
    rows = [{"name": name(n), "strength": 1.0, "clipStrength": 1.0, "active": True} for n in range(refs - refs // 2)]
    nodes.append({"id": 1, "type": "Lora Loader (LoraManager)", "widgets_values": [{"version": 1}, "", rows]})
    return json.dumps({"nodes": nodes}).encode()


def check_once(body: bytes, folder: str, index: Any) -> int:
    from hikaze_mm.workflows import documents
    from hikaze_mm.workflows.classify import Here, classify
    from hikaze_mm.workflows.folders import announced_folders

    refs = documents.read(body, documents.JSON_TYPE).references()
    here = Here(announced_folders({"loras": (folder,)}), index)
    return len([classify(r, here, []) for r in refs])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--refs", type=int, nargs="+", default=[10, 200, 10_000], help="the first is the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--src", type=Path, help="a checkout whose daemon/ to time instead of the installed one")
    args = parser.parse_args()
    if args.src is not None:
        sys.path.insert(0, str(args.src.resolve() / "daemon"))
    import hikaze_mm

    print(f"hikaze_mm from {Path(hikaze_mm.__file__).parent}")
    times: dict[tuple[int, int], float] = {}
    with tempfile.TemporaryDirectory(prefix="hikaze-bench-") as tmp:
        folder = Path(tmp) / "loras"
        check_once(workflow(10, 10), str(folder), library(folder, 10))  # imports and first calls, untimed
        for files in args.files:
            index = library(folder, files)
            for refs in args.refs:
                body = workflow(refs, files)
                samples = []
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    answered = check_once(body, str(folder), index)
                    samples.append(time.perf_counter() - started)
                if answered != refs:
                    print(f"FAIL: {answered} answers for {refs} references")
                    return 1
                took = times[files, refs] = statistics.median(samples)
                base = times[files, args.refs[0]]
                print(f"{files:>7} files {refs:>6} refs: {took * 1000:9.1f} ms  x{took / base:7.1f} of "
                      f"{args.refs[0]} refs  {took / refs * 1e6:8.1f} us/ref", flush=True)
    if len(args.files) > 1:
        small, big, few, many = min(args.files), max(args.files), args.refs[0], args.refs[-1]
        ratio = times[big, many] / (times[big, few] + times[small, many])
        print(f"{many} refs at {big} files / ({few} refs at {big} files + {many} refs at {small} files): "
              f"{ratio:.2f} (goal <= {GOAL}): {verdict(ratio <= GOAL)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
