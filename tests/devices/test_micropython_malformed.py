"""Malformed blobs are refused by the MicroPython loader with a BlobError naming the field, never a crash:
bad magic, bad CRC, every truncation, an array offset past the data section, an unknown opcode, every field
case of the reference's malformed tests, and every single-byte corruption (CRC fixed up so the loader
reaches the field). The loader accepts exactly what the Python reference accepts."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from edgesnn.reference import BlobError, load
from edgesnn.reference.layout import BufferKind
from edgesnn.reference.model import Buffer, Conv, Lif, Model, Readout
from edgesnn.reference.writer import to_bytes
from edgesnn.runtime.micropython import MicroPythonError, MicroPythonRuntime
from tests.devices.conftest import VECTOR_ROOT
from tests.reference import test_malformed as ref_cases

SMALL = (VECTOR_ROOT / "t1_int8" / "model.esnn").read_bytes()
EVERY_OP = ref_cases.BLOB


def with_crc(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]) & 0xFFFFFFFF)


def patched(blob: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(blob)
    struct.pack_into("<" + fmt, b, offset, value)
    return with_crc(bytes(b))


def reference_verdict(blob: bytes) -> str:
    try:
        load(blob)
    except BlobError as exc:
        return str(exc)
    return ""


def test_named_errors(mpy: MicroPythonRuntime):
    ops_offset, data_size = struct.unpack_from("<I", SMALL, 28)[0], struct.unpack_from("<I", SMALL, 40)[0]
    cases = {
        "magic": b"XSNN" + SMALL[4:],
        "CRC32": SMALL[:-1] + bytes([SMALL[-1] ^ 0x80]),
        "truncated": SMALL[:40],
        "file_size": SMALL[:-8] + SMALL[-4:],
        "version_major": patched(SMALL, 4, "H", 2),
        "opcode": patched(SMALL, ops_offset, "B", 9),
        "weight_offset": patched(SMALL, ops_offset + 24, "I", data_size + 4),  # the first CONV's weights
    }
    verdicts = mpy.validate(list(cases.values()))
    for (field, _), verdict in zip(cases.items(), verdicts, strict=True):
        assert verdict.startswith("BlobError: "), (field, verdict)
        assert field in verdict, (field, verdict)
    assert "past the data section" in verdicts[-1]
    assert "unknown" in verdicts[-2]


def test_a_refused_blob_is_a_readable_error(mpy: MicroPythonRuntime):
    x = np.zeros(int(np.prod(load(SMALL).input.shape)), dtype=np.uint8)
    with pytest.raises(MicroPythonError, match=r"^BlobError: CRC32: stored 0x") as info:
        mpy.run(SMALL[:-1] + bytes([SMALL[-1] ^ 1]), x)
    assert info.value.kind == "BlobError"
    with pytest.raises(MicroPythonError, match=r"^ValueError: input: 3 bytes"):
        mpy.run(SMALL, np.zeros(3, dtype=np.uint8))


def corpus() -> list[bytes]:
    out = []
    for blob in (SMALL, EVERY_OP):
        out += [blob[:n] for n in range(0, len(blob), 3)]  # truncations
        for n in range(68, len(blob), 4):  # truncated with file_size and CRC made consistent
            b = bytearray(blob[: n - 4] + b"\0\0\0\0")
            struct.pack_into("<I", b, 12, n)
            out.append(with_crc(bytes(b)))
    out += [ref_cases.patch(off, fmt, val) for off, fmt, val, _ in ref_cases.HEADER_CASES]
    for buf, off, fmt, val, _ in ref_cases.BUFFER_CASES:
        b = bytearray(EVERY_OP)
        struct.pack_into("<" + fmt, b, 64 + 8 * buf + off, *(val if isinstance(val, tuple) else (val,)))
        out.append(with_crc(bytes(b)))
    out += [
        ref_cases.patch(ref_cases.op_pos(op) + off, fmt, val) for op, off, fmt, val, _ in ref_cases.OP_CASES
    ]
    for blob in (SMALL, EVERY_OP):  # every single-byte corruption, CRC fixed up
        for i in range(len(blob) - 4):
            b = bytearray(blob)
            b[i] ^= 0xFF if i % 2 else 0x01
            out.append(with_crc(bytes(b)))
    return out


def test_loader_agrees_with_reference_and_never_crashes(mpy: MicroPythonRuntime):
    blobs = corpus()
    assert len(blobs) > 1000
    verdicts = mpy.validate(blobs)
    refused = 0
    for i, (blob, got) in enumerate(zip(blobs, verdicts, strict=True)):
        want = reference_verdict(blob)
        assert not got.startswith("CRASH"), f"case {i}: {got}"
        assert (got == "") == (want == ""), f"case {i}: MicroPython {got!r}, reference {want!r}"
        if got:
            refused += 1
            field = want.split(":")[0]
            assert field.split(" ")[0] in got, f"case {i}: MicroPython {got!r}, reference {want!r}"
    assert refused > 500


def test_binding_errors_are_readable(mpy: MicroPythonRuntime):
    import subprocess

    from edgesnn.runtime import micropython as binding

    x = np.zeros(int(np.prod(load(SMALL).input.shape)), dtype=np.uint8)
    with pytest.raises(MicroPythonError, match=r"^timeout: no result after") as info:
        MicroPythonRuntime(timeout_s=0.001).run(SMALL, x)
    assert info.value.kind == "timeout"
    b = [Buffer(BufferKind.INPUT_U8, 1, 256, 256), Buffer(BufferKind.CURRENT, 16, 256, 256)]
    b += [Buffer(BufferKind.SPIKES, 16, 256, 256)]
    ops = [
        Conv(0, 1, np.ones((1, 1, 1, 16), np.int8), np.zeros(16, np.int32), 1, 0, 8),
        Lif(1, 2, np.ones(16, np.int32), 32768, 32),
        Readout(2, np.ones((16, 2), np.int8), np.zeros(2, np.int32), 8),
    ]
    big = to_bytes(Model(2, 2, b, ops))  # a 4 MiB current buffer
    frames = np.zeros((2, 1, 256, 256), dtype=np.uint8)
    with pytest.raises(MicroPythonError, match=r"^MemoryError: the model's buffers do not fit") as info:
        MicroPythonRuntime(heapsize="512K").run(big, frames)
    assert info.value.kind == "MemoryError"
    with pytest.raises(MicroPythonError, match=r"^MemoryError: .*a larger heapsize may help"):
        MicroPythonRuntime(heapsize="6K").run(SMALL, x)  # too small to import the runtime
    trace = 'Traceback (most recent call last):\n  File "esnn_model.py", line 9, in run\nKeyError: 3\n'
    with pytest.raises(MicroPythonError, match=r"(?s)^crash: MicroPython traceback \(exit 1\):.*KeyError: 3"):
        binding._check(subprocess.CompletedProcess([], 1, "", trace))


def test_accepted_corruptions_run_like_the_reference(mpy: MicroPythonRuntime):
    """Every single-byte corruption both loaders accept (weights, biases, thresholds, table entries...) runs
    in MicroPython, in one interpreter, with the reference's logits, spike counts and final states."""
    from edgesnn.reference import run as reference_run
    from edgesnn.runtime.micropython import pattern_input

    blobs = []
    for blob in (SMALL, EVERY_OP):
        for i in range(len(blob) - 4):
            b = bytearray(blob)
            b[i] ^= 0xFF if i % 2 else 0x01
            if reference_verdict(with_crc(bytes(b))) == "":
                blobs.append(with_crc(bytes(b)))
    assert len(blobs) > 100
    verdicts = mpy.validate(blobs, run=True)
    ran = 0
    for k, (blob, got) in enumerate(zip(blobs, verdicts, strict=True)):
        assert not got.startswith(("CRASH", "BlobError")), f"case {k}: {got}"
        if got == "MemoryError":
            continue
        m = load(blob)
        frames = 1 if m.static_input else m.T
        x = pattern_input(frames * int(np.prod(m.input.shape))).reshape(frames, *m.input.shape)
        want = reference_run(blob, x)
        states = "/".join(",".join(str(int(v)) for v in np.asarray(s).reshape(-1)) for s in want.final_state)
        line = " ".join(
            [
                "ok",
                ",".join(str(int(v)) for v in want.logits),
                ",".join(str(int(v)) for v in want.spike_counts),
            ]
        )
        assert got == f"{line} {states}", f"case {k}"
        ran += 1
    assert ran > 100
