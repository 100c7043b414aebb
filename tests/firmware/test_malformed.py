"""Malformed blobs never crash the C loader: every truncation, every field the reference's malformed tests
corrupt, and every single-byte corruption (CRC fixed up so the loader reaches the field). The C loader must
reject exactly what the Python reference rejects, and where both accept a corrupted blob they must compute the
same results. The same corpus runs through the ASan + UBSan CLI."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgesnn.reference import BlobError, load
from edgesnn.reference import run as reference_run
from edgesnn.runtime.c import CRuntime
from tests.firmware.conftest import VECTOR_ROOT
from tests.reference import test_malformed as ref_cases

SMALL = (VECTOR_ROOT / "t1_int8" / "model.esnn").read_bytes()
EVERY_OP = ref_cases.BLOB
ARENA_LIMIT = 16 << 20  # skip running accepted corruptions whose buffers grew beyond this


def with_crc(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]) & 0xFFFFFFFF)


def reference_accepts(blob: bytes) -> bool:
    try:
        load(blob)
    except BlobError:
        return False
    return True


def truncations(blob: bytes) -> list[bytes]:
    return [blob[:n] for n in range(len(blob))]


def resized(blob: bytes) -> list[bytes]:
    """Truncated at every offset, with file_size and CRC made consistent (the loader reaches the sections)."""
    out = []
    for n in range(68, len(blob)):
        b = bytearray(blob[: n - 4] + b"\0\0\0\0")
        struct.pack_into("<I", b, 12, n)
        out.append(with_crc(bytes(b)))
    return out


def byte_flips(blob: bytes) -> list[bytes]:
    out = []
    for i in range(len(blob) - 4):
        for x in (0xFF, 0x01):
            b = bytearray(blob)
            b[i] ^= x
            out.append(with_crc(bytes(b)))
    return out


def field_cases() -> list[bytes]:
    cases = [ref_cases.patch(off, fmt, val) for off, fmt, val, _ in ref_cases.HEADER_CASES]
    for buf, off, fmt, val, _ in ref_cases.BUFFER_CASES:
        b = bytearray(EVERY_OP)
        struct.pack_into("<" + fmt, b, 64 + 8 * buf + off, *(val if isinstance(val, tuple) else (val,)))
        cases.append(with_crc(bytes(b)))
    for op, off, fmt, val, _ in ref_cases.OP_CASES:
        cases.append(ref_cases.patch(ref_cases.op_pos(op) + off, fmt, val))
    return cases


def test_every_truncation_is_rejected(rt: CRuntime):
    for blob in (SMALL, EVERY_OP):
        for n, t in enumerate(truncations(blob)):
            v = rt.validate(t)
            assert not v.ok, f"truncated at {n} accepted"
            assert v.status in ("ESNN_ERR_TRUNCATED", "ESNN_ERR_MAGIC"), (n, v)


def test_every_consistent_truncation_is_rejected(rt: CRuntime):
    for blob in (SMALL, EVERY_OP):
        for t in resized(blob):
            v = rt.validate(t)
            assert not v.ok, f"{len(t)}-byte prefix accepted"
            assert not reference_accepts(t)


def test_every_reference_field_case_is_rejected(rt: CRuntime):
    cases = field_cases()
    assert len(cases) > 80
    for i, blob in enumerate(cases):
        v = rt.validate(blob)
        assert not v.ok, f"field case {i} accepted"
        assert v.status.startswith("ESNN_ERR_")


def test_crc_and_magic_and_version(rt: CRuntime):
    assert rt.validate(SMALL).ok
    assert rt.validate(SMALL[:-1] + bytes([SMALL[-1] ^ 0x80])).status == "ESNN_ERR_CRC"
    assert rt.validate(b"XSNN" + SMALL[4:]).status == "ESNN_ERR_MAGIC"
    assert rt.validate(ref_cases.patch(4, "H", 2, SMALL)).status == "ESNN_ERR_VERSION"
    assert rt.validate(ref_cases.patch(6, "H", 1, SMALL)).status == "ESNN_ERR_VERSION"
    assert rt.validate(b"").status == "ESNN_ERR_TRUNCATED"


def _input_for(blob: bytes, rng: np.random.Generator) -> np.ndarray:
    m = load(blob)
    frames = 1 if m.static_input else m.T
    return rng.integers(0, 256, size=(frames, *m.input.shape), dtype=np.uint8)


@pytest.mark.parametrize("name", ["small", "every_op"])
def test_every_byte_corruption_agrees_with_reference(rt: CRuntime, name: str):
    blob = SMALL if name == "small" else EVERY_OP
    rng = np.random.default_rng(3)
    accepted = 0
    for i, b in enumerate(byte_flips(blob)):
        v = rt.validate(b)
        ref_ok = reference_accepts(b)
        assert v.ok == ref_ok, f"byte {i // 2}: C says {v.status} {v.field!r}, reference accepts={ref_ok}"
        if not v.ok or v.arena_bytes > ARENA_LIMIT:
            continue
        accepted += 1
        x = _input_for(b, rng)
        ref = reference_run(b, x)
        for kernels in ("fast", "reference"):
            got = rt.run(b, x, kernels=kernels)
            np.testing.assert_array_equal(got.logits, ref.logits, err_msg=f"byte {i // 2} {kernels}")
            np.testing.assert_array_equal(got.spike_counts, ref.spike_counts)
            for a, s in zip(got.final_state, ref.final_state, strict=True):
                np.testing.assert_array_equal(a, s.reshape(-1))
    assert accepted > 10  # weight/bias/threshold bytes change values, not validity


def test_asan_ubsan_walks_the_malformed_corpus(rt: CRuntime, asan_cli: Path, tmp_path: Path):
    corpus = truncations(SMALL) + resized(SMALL) + field_cases() + byte_flips(SMALL)
    paths = []
    for i, blob in enumerate(corpus):
        p = tmp_path / f"{i:05d}.esnn"
        p.write_bytes(blob)
        paths.append(p)
    for start in range(0, len(paths), 500):
        chunk = paths[start : start + 500]
        proc = subprocess.run(
            [str(asan_cli), "--validate", *map(str, chunk)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr[-3000:]
        lines = [ln for ln in proc.stdout.splitlines() if " run-failed " not in ln]
        assert "run-failed" not in proc.stdout, proc.stdout
        assert len(lines) == len(chunk)
        for line, path in zip(lines, chunk, strict=True):
            status = line.split()[1]
            assert status == rt.validate(path.read_bytes()).status, line
