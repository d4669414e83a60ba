"""The manager page in real Chromium on generated libraries of 1,000 and 100,000 models (the database written as
`library_scale.py` writes it): the time from navigation to the first cards painted, and the longest frame while
scrolling through 10,000 rows (the list view; all of them when the library has fewer), both read in the page with
the Performance API.

Goals: first cards at 100,000 models within 1.5x of the time at 1,000; the longest scrolling frame at 100,000 within
1.5x of the one at 1,000 (a virtualised grid should not care how long the list is).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import SERVE, stop_daemon, verdict
from library_scale import generate
from memory import free_port, idle, wait_for
from playwright.sync_api import Browser, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import CHROMIUM, CHROMIUM_ARGS

FIRST_PAINT_GOAL = 1.5
FRAME_GOAL = 1.5
LIST_ROW_PX = 48

# Installed before the page's own scripts: note when the first card is in the DOM, then two animation frames later
# (the frame that shows it has been painted).
FIRST_CARDS = """
new MutationObserver((_, observer) => {
  if (!document.querySelector('[data-testid="model-card"] img, [data-testid="model-card"] .placeholder')) return;
  observer.disconnect();
  requestAnimationFrame(() => requestAnimationFrame(() => { window.__firstCards = performance.now(); }));
}).observe(document, { childList: true, subtree: true });
"""

# Scrolls the grid by `step` pixels every frame until `rows` rows have gone by; reports every frame's length and
# the long animation frames Chromium saw (over 50 ms).
SCROLL = """
async ([rows, step]) => {
  const grid = document.querySelector('[data-testid="model-grid"]');
  const long = [];
  const observer = new PerformanceObserver((list) => long.push(...list.getEntries().map((e) => e.duration)));
  observer.observe({ type: "long-animation-frame", buffered: false });
  const end = Math.min(rows * ROW_PX, grid.scrollHeight - grid.clientHeight);
  const frames = [];
  let last = await new Promise(requestAnimationFrame);
  while (grid.scrollTop < end - 1) {
    grid.scrollTop = Math.min(end, grid.scrollTop + step);
    const now = await new Promise(requestAnimationFrame);
    frames.push(now - last);
    last = now;
  }
  await new Promise((r) => setTimeout(r, 200));
  observer.disconnect();
  return { frames, long };
}
""".replace("ROW_PX", str(LIST_ROW_PX))


def first_cards_ms(browser: Browser, url: str) -> float:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.add_init_script(FIRST_CARDS)
    page.goto(url)
    page.wait_for_function("() => window.__firstCards !== undefined", timeout=60_000)
    ms = page.evaluate("() => window.__firstCards")
    page.close()
    return ms


def scroll_frames(browser: Browser, url: str, rows: int, step: int) -> dict[str, list[float]]:
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    prefs = {"view": "list", "columns": 5, "hideNsfw": True, "detailsWidth": 30}
    page.add_init_script(f"localStorage.setItem('hikaze.prefs', {json.dumps(json.dumps(prefs))})")
    page.goto(url)
    page.wait_for_selector('[data-testid="model-row"]')
    result = page.evaluate(SCROLL, [rows, step])
    page.close()
    return result


def measure(workdir: Path, size: int, seed: int, runs: int, rows: int, step: int, timeout: float) -> dict[str, float]:
    data_dir = workdir / f"library-{size}"
    data_dir.mkdir()
    lib = generate(data_dir / "library.sqlite3", size, seed, ())
    port = free_port()
    log_path = workdir / f"{size}.log"
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [*SERVE, "--data-dir", str(data_dir), "--models-root",
             str(workdir / "empty-models"), "--port", str(port), "--rescan-interval", "0", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "HIKAZE_MM_CONFIG": str(workdir / "config.toml")},
        )
    try:
        wait_for(daemon, port, lambda s: idle(s) and s["last_scan"] is not None, timeout, "the start-up scan")
        url = f"http://127.0.0.1:{port}/"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            first_cards_ms(browser, url)  # warm-up: the daemon's caches and Chromium's code cache
            paints = [first_cards_ms(browser, url) for _ in range(runs)]
            scrolled = scroll_frames(browser, url, rows, step)
            browser.close()
    finally:
        code = stop_daemon(daemon)
    if code != 0:
        raise RuntimeError(f"the daemon exited with {code}:\n{log_path.read_text(errors='replace')[-3000:]}")
    frames = scrolled["frames"]
    figures = {
        "models": lib.ok, "first_cards_ms": statistics.median(paints), "first_cards_best_ms": min(paints),
        "frames": len(frames), "longest_frame_ms": max(frames), "p99_frame_ms": sorted(frames)[int(len(frames) * 0.99)],
        "median_frame_ms": statistics.median(frames), "long_animation_frames": len(scrolled["long"]),
    }
    print(f"  {size:>7,} models: first cards {figures['first_cards_ms']:6.0f} ms (median of {runs}, best "
          f"{figures['first_cards_best_ms']:.0f}); scrolling {len(frames)} frames: longest "
          f"{figures['longest_frame_ms']:.1f} ms, p99 {figures['p99_frame_ms']:.1f} ms, median "
          f"{figures['median_frame_ms']:.1f} ms, {figures['long_animation_frames']} long animation frames (>50 ms)")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=1_000, help="models in the baseline library")
    parser.add_argument("--large", type=int, default=100_000, help="models in the large library")
    parser.add_argument("--runs", type=int, default=5, help="page loads timed per library")
    parser.add_argument("--rows", type=int, default=10_000, help="list rows to scroll through")
    parser.add_argument("--step", type=int, default=LIST_ROW_PX * 10, help="pixels scrolled per frame")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="hikaze-bench-page-"))
    try:
        (workdir / "config.toml").write_text("")
        (workdir / "empty-models").mkdir()
        print(f"page_render: the manager page in Chromium, {args.rows:,} list rows scrolled {args.step} px a frame")
        small = measure(workdir, args.small, args.seed, args.runs, args.rows, args.step, args.timeout)
        large = measure(workdir, args.large, args.seed, args.runs, args.rows, args.step, args.timeout)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    paint_ratio = large["first_cards_ms"] / small["first_cards_ms"]
    frame_ratio = large["longest_frame_ms"] / small["longest_frame_ms"]
    print(f"  first cards {args.large:,} / {args.small:,}: {paint_ratio:.2f} (goal <= {FIRST_PAINT_GOAL}) "
          f"{verdict(paint_ratio <= FIRST_PAINT_GOAL)}")
    print(f"  longest frame {args.large:,} / {args.small:,}: {frame_ratio:.2f} (goal <= {FRAME_GOAL}) "
          f"{verdict(frame_ratio <= FRAME_GOAL)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
