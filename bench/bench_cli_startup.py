"""Benchmark: wall time of `edgesnn --help` next to `python -c pass` (the interpreter's own start-up), as the
median of N fresh processes each, and their ratio. Target: `edgesnn --help` within 0.5 s (commands are
registered lazily, so --help imports no command module and no torch). A benchmark, not a test: it prints,
it does not assert.

    python bench/bench_cli_startup.py [--runs 11] [--also stream]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.5


def wall(argv: list[str], runs: int) -> float:
    """Median wall time in seconds of ``runs`` fresh processes running ``argv``."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11, help="processes per command (default 11)")
    ap.add_argument("--also", nargs="*", default=[], metavar="CMD", help="also time `edgesnn CMD --help`")
    args = ap.parse_args()
    base = wall([sys.executable, "-c", "pass"], args.runs)
    print(f"median of {args.runs} runs each")
    print(f"{'python -c pass':<28} {base:7.3f} s")
    for cmd in [None, *args.also]:
        argv = [sys.executable, "-m", "edgesnn", *([cmd] if cmd else []), "--help"]
        t = wall(argv, args.runs)
        label = f"edgesnn {cmd + ' ' if cmd else ''}--help"
        note = "within" if t <= TARGET_S else "OVER"
        print(
            f"{label:<28} {t:7.3f} s  ratio {t / base:5.2f}x python -c pass  ({note} the {TARGET_S} s target)"
        )


if __name__ == "__main__":
    main()
