# ruff: noqa: UP031  (%-formatting: every MicroPython port has it, f-strings are optional)
# Command-line driver for the unix port (and the host binding edgesnn/runtime/micropython.py):
#
#   MICROPYPATH=devices/micropython micropython devices/micropython/esnn_cli.py \
#       MODEL.esnn INPUT.bin OUTDIR [--plain] [--repeat N]
#
# Runs one sample and writes OUTDIR/logits.bin (i32), spike_counts.bin (u32 per LIF op) and
# final_state.bin (i32, all LIF states in op order, [C][H][W]): the files of a conformance vector; and
# state_sizes.bin (u32, neurons per LIF op) to split the states.
# Prints one line `ok predicted=K kernels=viper|plain ms=...` (ms: mean of N runs after the first).
# Exit status: 0 ok, 2 the model or input was refused (a BlobError/ValueError line on stderr), 1 usage.
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


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    plain = "--plain" in argv
    repeat = 0
    for i in range(len(argv) - 1):
        if argv[i] == "--repeat":
            repeat = int(argv[i + 1])
            args.remove(argv[i + 1])
    if len(args) != 3:
        sys.stderr.write("usage: esnn_cli.py MODEL INPUT OUTDIR [--plain] [--repeat N]\n")
        return 1
    model_path, input_path, outdir = args
    try:
        m = esnn_model.Model(_read(model_path), viper=not plain)
        x = _read(input_path)
        logits, predicted, counts, states = m.run(x)
        t0 = ticks_us()
        for _ in range(repeat):
            m.run(x)
        us = ticks_diff(ticks_us(), t0)
    except esnn_blob.BlobError as exc:
        sys.stderr.write("BlobError: %s\n" % exc)
        return 2
    except ValueError as exc:
        sys.stderr.write("ValueError: %s\n" % exc)
        return 2
    _write(outdir + "/logits.bin", array("i", logits))
    _write(outdir + "/spike_counts.bin", array("I", counts))
    with open(outdir + "/final_state.bin", "wb") as f:
        for s in states:
            f.write(s)
    _write(outdir + "/state_sizes.bin", array("I", [len(s) for s in states]))
    ms = us / 1000 / repeat if repeat else 0
    print("ok predicted=%d kernels=%s ms=%.3f" % (predicted, "viper" if m.viper else "plain", ms))
    return 0


sys.exit(main(sys.argv[1:]))
