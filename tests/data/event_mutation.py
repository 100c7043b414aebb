"""A seeded mutation campaign for the event readers (issue 18): small synthetic files of every format,
mutated (byte flips, 32-bit "interesting" values, truncations, insertions, deletions), read back.

A reader may only (a) return events inside the sensor it reports, or (b) raise ``EventFormatError`` naming
the file and a byte offset inside it. Anything else — another exception, a ``BaseException`` such as pyo3's
``PanicException``, a ``MemoryError`` under the address-space limit, a process killed by a signal (SIGABRT
from a Rust panic that cannot unwind) — is a finding.

The mutants are decoded in a child process (``python tests/data/event_mutation.py WORKDIR``) with a bounded
address space, so a reader that aborts the process or allocates gigabytes is recorded, not fatal to pytest;
the child is restarted after the mutant that killed it.

Run by hand: ``python tests/data/event_mutation.py --campaign 300 --seed 18``.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
from pathlib import Path

# format -> (suffix, sensor); npz and npy are both "npy" to the readers
SEEDS = {
    "nmnist": (".bin", (34, 34)),
    "dat": (".dat", (304, 240)),
    "evt2": (".raw", (640, 480)),
    "evt3": (".raw", (1280, 720)),
    "aedat2": (".aedat", (128, 128)),
    "aedat31": (".aedat", (128, 128)),
    "npy": (".npy", (346, 260)),
    "npz": (".npz", (346, 260)),
    "aedat4": (".aedat4", (320, 240)),
}
ADDRESS_SPACE_LIMIT = 1 << 30  # the child's RLIMIT_AS: a reader asking for GBs gets MemoryError / abort
INTERESTING32 = (
    0,
    1,
    0x7F,
    0x80,
    0xFF,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFF,
    0x10000000,
)


def write_seeds(folder: Path, n_events: int = 150) -> dict[str, tuple[Path, tuple[int, int]]]:
    """One small valid file per format (AEDAT 4 only where dv-processing can write it)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from event_helpers import random_events

    from edgesnn.data.events import write_events

    out = {}
    for name, (suffix, sensor) in SEEDS.items():
        fmt = "npy" if name == "npz" else name
        if fmt == "aedat4":
            try:
                import dv_processing  # noqa: F401
            except ImportError:
                continue
        path = folder / f"seed_{name}{suffix}"
        write_events(path, random_events(n_events, sensor, seed=7, t0=1000), sensor, fmt)
        out[name] = (path, sensor)
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three stacked mutations, half of them aimed at the first 512 bytes (headers, tables)."""
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3))):
        n = len(b)
        if n == 0:
            return bytes(rng.randrange(256) for _ in range(8))
        hi = min(n, 512) if rng.random() < 0.5 else n
        pos = rng.randrange(hi)
        op = rng.randrange(7)
        if op == 0:  # random byte
            b[pos] = rng.randrange(256)
        elif op == 1:  # bit flip
            b[pos] ^= 1 << rng.randrange(8)
        elif op == 2:  # an interesting 32-bit value (sizes, counts, offsets)
            v = rng.choice(INTERESTING32) if rng.random() < 0.7 else rng.getrandbits(32)
            b[pos : pos + 4] = struct.pack("<I", v)
        elif op == 3:  # truncation
            del b[pos:]
        elif op == 4:  # insertion
            b[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 8, 16))))
        elif op == 5:  # deletion
            del b[pos : pos + rng.choice((1, 2, 4, 8, 16))]
        else:  # an interesting 16-bit value
            b[pos : pos + 2] = struct.pack("<H", rng.choice((0, 0xFFFF, 0x7FFF, 0x8000, 0x1FF, 0x200)))
    return bytes(b)


def make_mutants(folder: Path, per_format: int, seed: int) -> list[dict]:
    seeds = write_seeds(folder)
    jobs = []
    for name, (path, _) in seeds.items():
        rng = random.Random(f"{seed}:{name}")
        data = path.read_bytes()
        for i in range(per_format):
            m = folder / f"m_{name}_{i:04d}{path.suffix}"
            m.write_bytes(mutate(data, rng))
            jobs.append({"name": name, "path": str(m)})
    return jobs


def check_one(path: str) -> str:
    """'ok', 'error' (a proper EventFormatError), or 'unexpected: ...' — in the calling process."""
    from edgesnn.data.events import EventFormatError, read_events
    from edgesnn.data.events.types import check_events

    try:
        rec = read_events(path)
    except EventFormatError as e:
        size = os.path.getsize(path)
        if str(path) not in str(e) or not 0 <= e.offset <= size:
            return f"unexpected: EventFormatError without the file or an offset in [0, {size}]: {e}"
        return "error"
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        return f"unexpected: {type(e).__module__}.{type(e).__name__}: {str(e)[:200]}"
    w, h = rec.sensor_size
    if not (0 < w <= 1 << 16 and 0 < h <= 1 << 16):
        return f"unexpected: sensor size {rec.sensor_size}"
    try:
        check_events(rec.events, rec.sensor_size, path)
    except ValueError as e:
        return f"unexpected: events outside the sensor: {e}"
    return "ok"


def _child(workdir: Path) -> None:
    """Decode the jobs from ``start`` on, one JSON line per result; 'started' is written before each."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    jobs = json.loads((workdir / "jobs.json").read_text())
    start = int(sys.argv[3])
    with open(workdir / "results.jsonl", "a") as out:
        for i in range(start, len(jobs)):
            out.write(json.dumps({"i": i, "started": True}) + "\n")
            out.flush()
            res = check_one(jobs[i]["path"])
            out.write(json.dumps({"i": i, "result": res}) + "\n")
            out.flush()


def run_campaign(workdir: Path, per_format: int, seed: int, timeout: float = 300) -> dict:
    """Returns {name: {"ok": n, "error": n, "unexpected": [(path, what), ...]}} and the wall time."""
    workdir.mkdir(parents=True, exist_ok=True)
    jobs = make_mutants(workdir, per_format, seed)
    (workdir / "jobs.json").write_text(json.dumps(jobs))
    results: dict[int, str] = {}
    t0 = time.monotonic()
    start = 0
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", RUST_BACKTRACE="0")
    while start < len(jobs):
        results_file = workdir / "results.jsonl"
        results_file.write_text("")
        p = subprocess.run(
            [sys.executable, __file__, "--child", str(workdir), str(start)],
            env=env,
            capture_output=True,
            text=True,
            timeout=max(1.0, timeout - (time.monotonic() - t0)),
        )
        last = start
        for line in results_file.read_text().splitlines():
            r = json.loads(line)
            last = r["i"]
            if "result" in r:
                results[r["i"]] = r["result"]
        if p.returncode == 0 and last >= len(jobs) - 1 and last in results:
            break
        if last not in results:  # the mutant in flight killed the process
            tail = (p.stderr or "").strip().splitlines()[-1:] or [""]
            results[last] = f"unexpected: process died (exit {p.returncode}): {tail[0][:200]}"
        start = last + 1
    summary: dict = {}
    for i, job in enumerate(jobs):
        s = summary.setdefault(job["name"], {"ok": 0, "error": 0, "unexpected": []})
        r = results.get(i, "unexpected: no result")
        if r in ("ok", "error"):
            s[r] += 1
        else:
            s["unexpected"].append((job["path"], r))
    return {"formats": summary, "seconds": time.monotonic() - t0}


if __name__ == "__main__":
    sys.path.append(str(Path(__file__).resolve().parents[2]))  # after PYTHONPATH: old trees can be tested
    if sys.argv[1] == "--child":
        _child(Path(sys.argv[2]))
    else:
        import argparse
        import tempfile

        ap = argparse.ArgumentParser()
        ap.add_argument("--campaign", type=int, default=300, help="mutants per format")
        ap.add_argument("--seed", type=int, default=18)
        ap.add_argument("--show", type=int, default=3, help="findings shown per format")
        a = ap.parse_args()
        with tempfile.TemporaryDirectory() as d:
            res = run_campaign(Path(d), a.campaign, a.seed, timeout=3600)
            for name, s in res["formats"].items():
                kinds: dict[str, int] = {}
                for _, what in s["unexpected"]:
                    k = what.split(":")[1].strip() if what.count(":") > 1 else what
                    kinds[k] = kinds.get(k, 0) + 1
                print(
                    f"{name:8s} ok {s['ok']:4d}  error {s['error']:4d}  "
                    f"unexpected {len(s['unexpected']):4d} {kinds}"
                )
                for path, what in s["unexpected"][: a.show]:
                    print(f"    {Path(path).name}: {what}")
            print(f"{res['seconds']:.1f} s")
