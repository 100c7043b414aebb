"""Benchmark: events/s of every reader (the real recordings that tests/fetch_test_data.py caches, plus
synthetic files for formats with no real file) and of the binning. A benchmark, not a test: it prints, it
does not assert.

    python3 tests/fetch_test_data.py && PYTHONPATH=. python bench/bench_readers.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgesnn.data.binning import BinningParams, bin_events
from edgesnn.data.events import make_events, read_events, write_events
from tests.fetch_test_data import events_dir

EVENTS_DIR = events_dir()
REAL = ["nmnist_sample.bin", "ncars_sample.dat", "gen3_evt2.raw", "imx636_evt3.raw", "davis346.aedat4",
        "dvxplorer_sample.aedat4"]  # fmt: skip


def best_of(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def synthetic(n: int, sensor: tuple[int, int], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.poisson(1.0, n))
    return make_events(rng.integers(0, sensor[0], n), rng.integers(0, sensor[1], n), t, rng.integers(0, 2, n))


def row(name: str, n: int, seconds: float) -> None:
    print(f"{name:<40s} {n:>10,d} events {seconds * 1e3:9.2f} ms {n / seconds / 1e6:9.1f} M events/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--synthetic-events", type=int, default=2_000_000)
    args = ap.parse_args()
    print(f"readers (best of {args.repeat}):")
    for name in REAL:
        path = EVENTS_DIR / name
        if not path.is_file():
            print(f"{name:<40s} missing ({path})")
            continue
        n = len(read_events(path))
        row(f"{name} [{read_events(path).format}]", n, best_of(lambda p=path: read_events(p), args.repeat))
    with tempfile.TemporaryDirectory() as tmp:
        for fmt, sensor, suffix in [("aedat31", (128, 128), ".aedat"), ("aedat2", (128, 128), ".aedat"),
                                    ("nmnist", (34, 34), ".bin"), ("dat", (304, 240), ".dat"),
                                    ("evt2", (640, 480), ".raw"), ("evt3", (1280, 720), ".raw"),
                                    ("npy", (346, 260), ".npy")]:  # fmt: skip
            n = args.synthetic_events if fmt != "nmnist" else min(args.synthetic_events, 1_000_000)
            ev = synthetic(n, sensor)
            if fmt == "nmnist":
                ev["t"] %= 1 << 23
                ev.sort(order="t")
            path = Path(tmp) / f"syn_{fmt}{suffix}"
            write_events(path, ev, sensor, fmt)
            row(f"synthetic {fmt}", n, best_of(lambda p=path, f=fmt: read_events(p, format=f), args.repeat))
    print(f"binning (best of {args.repeat}):")
    ev = synthetic(args.synthetic_events, (128, 128), seed=1)
    cases = {
        "number, T=16, 128x128": BinningParams(T=16),
        "number, T=16, pool 128->48": BinningParams(T=16, size=(48, 48)),
        "time 10 ms windows, T=16, binary": BinningParams(
            T=16, split_by="time", window_us=10_000, mode="binary"
        ),
        "number, T=16, refractory 1 ms": BinningParams(T=16, refractory_us=1000),
        "number, T=16, BAF 5 ms": BinningParams(T=16, baf_us=5000),
    }
    for label, params in cases.items():
        row(label, len(ev), best_of(lambda p=params: bin_events(ev, (128, 128), p), args.repeat))


if __name__ == "__main__":
    main()
