# ruff: noqa: UP031  (%-formatting: every MicroPython port has it, f-strings are optional)
# Command-line driver for the unix port (and the host binding edgesnn/runtime/micropython.py):
#
#   MICROPYPATH=devices/micropython micropython devices/micropython/esnn_cli.py \
#       MODEL.esnn INPUT.bin OUTDIR [--plain] [--steps] [--repeat N]
#   ... esnn_cli.py --validate CORPUS [--run] [--native]
#
# Runs one sample and writes OUTDIR/logits.bin (i32), spike_counts.bin (u32 per LIF op) and
# final_state.bin (i32, all LIF states in op order, [C][H][W]): the files of a conformance vector; and
# state_sizes.bin (u32, neurons per LIF op) to split the states. Kernels: the native module (esnn_native,
# when it is on the path) unless --plain or --viper, else viper; --plain: plain kernels instead of viper;
# --steps: drive reset() + step(frame) T times (time-major streaming, causal graphs) instead of run().
# Prints one line `ok predicted=K kernels=native|viper|plain ms=...` (ms: mean of N more runs after the first,
# without the final-state copies).
# --validate CORPUS [--run]: CORPUS holds blobs as (u32 length, bytes) records; prints one line per blob:
# `ok`, `BlobError: <message>`, or `CRASH <exception>` (a bug: anything but BlobError). With --run, each
# accepted blob also runs (viper kernels) on the input whose byte i is (37 i + 11) & 0xFF and prints
# `ok LOGITS COUNTS STATES` (comma-separated, the LIF states separated by '/'), or `MemoryError` when its
# buffers do not fit the heap. --native: the verdict of the C loader in esnn_native (which must import)
# instead of esnn_blob's.
# Exit status: 0 ok, 2 the model or input was refused or does not fit the heap (a BlobError / ValueError /
# MemoryError line on stderr), 1 usage.
import struct
import sys
from array import array

import esnn_blob
import esnn_model

try:
    from time import ticks_diff, ticks_us
except ImportError:  # CPython
    from time import perf_counter

    def ticks_us():
        return int(perf_counter() * 1e6)

    def ticks_diff(a, b):
        return a - b


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _pattern(n):
    # the input of --run: byte i is (37 i + 11) & 0xFF
    x = bytearray(n)
    for i in range(n):
        x[i] = (37 * i + 11) & 0xFF
    return x


def _csv(values):
    return ",".join(str(v) for v in values)


def validate(path, run, native=False):
    corpus = _read(path)
    pos = 0
    while pos < len(corpus):
        n = struct.unpack_from("<I", corpus, pos)[0]
        blob = corpus[pos + 4 : pos + 4 + n]
        pos += 4 + n
        try:
            if native:  # the C loader's verdict (esnn_native), with its status and field
                m = esnn_model.Model(blob, final_state=run)
                if m.kernels != "native":
                    raise RuntimeError("--native: esnn_native is not on the path")
            else:
                esnn_blob.parse(blob)
            if not run:
                print("ok")
                m = None
                continue
            if not native:
                m = esnn_model.Model(blob)
            logits, _, counts, states = m.run(_pattern(m.frames * m.frame_size))
            print("ok %s %s %s" % (_csv(logits), _csv(counts), "/".join(_csv(s) for s in states)))
            m = None
        except esnn_blob.BlobError as exc:
            print("BlobError: %s" % exc)
        except MemoryError:
            print("MemoryError")
        except Exception as exc:
            print("CRASH %s: %s" % (type(exc).__name__, exc))
    return 0


def _sample(m, x, steps, states=True):
    if not steps:
        return m.run(x, states)
    frame = m.frame_size
    m.reset()
    for t in range(m.T):
        base = t * frame if len(x) > frame else 0
        m.step(x[base : base + frame])
    return m.results(states)


def main(argv):
    if len(argv) in (2, 3, 4) and argv[0] == "--validate":
        return validate(argv[1], "--run" in argv[2:], "--native" in argv[2:])
    args = [a for a in argv if not a.startswith("--")]
    plain = "--plain" in argv
    native = not plain and "--viper" not in argv
    steps = "--steps" in argv
    repeat = 0
    for i in range(len(argv) - 1):
        if argv[i] == "--repeat":
            repeat = int(argv[i + 1])
            args.remove(argv[i + 1])
    if len(args) != 3:
        sys.stderr.write("usage: esnn_cli.py MODEL INPUT OUTDIR [--plain|--viper] [--steps] [--repeat N]\n")
        return 1
    model_path, input_path, outdir = args
    try:
        m = esnn_model.Model(_read(model_path), viper=not plain, native=native)
        x = _read(input_path)
        logits, predicted, counts, states = _sample(m, x, steps)
        t0 = ticks_us()
        for _ in range(repeat):
            _sample(m, x, steps, states=False)
        us = ticks_diff(ticks_us(), t0)
    except esnn_blob.BlobError as exc:
        sys.stderr.write("BlobError: %s\n" % exc)
        return 2
    except ValueError as exc:
        sys.stderr.write("ValueError: %s\n" % exc)
        return 2
    except MemoryError:
        sys.stderr.write(
            "MemoryError: the model's buffers do not fit this heap (micropython -X heapsize=...)\n"
        )
        return 2
    _write(outdir + "/logits.bin", array("i", logits))
    _write(outdir + "/spike_counts.bin", array("I", counts))
    with open(outdir + "/final_state.bin", "wb") as f:
        for s in states:
            f.write(s)
    _write(outdir + "/state_sizes.bin", array("I", [len(s) for s in states]))
    ms = us / 1000 / repeat if repeat else 0
    print("ok predicted=%d kernels=%s ms=%.3f" % (predicted, m.kernels, ms))
    return 0


sys.exit(main(sys.argv[1:]))
