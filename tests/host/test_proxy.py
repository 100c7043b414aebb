"""The fault-injection proxy, and the acceptance test of streaming through it: >= 100 samples through 1 % of
bytes dropped / corrupted / duplicated (both ways), and through a proxy that restarts the board every few
results (mid-sample: FRAME by FRAME). Every sample ends verified or with an explicit error, in order, none
lost, none attributed to another sample (index, and bit-exact against the reference of *that* sample; the
samples' reference outputs are all distinct)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgesnn.host import Client, HostError, SerialTransport, start_host_board
from edgesnn.host.proxy import FaultCounts, FaultProxy, Faults, _Mangler
from edgesnn.reference import load
from edgesnn.reference import run as reference_run
from edgesnn.stream import Sample, Streamer
from tests.host.conftest import VECTORS

SMALL = next(v for v in VECTORS if v.name == "attn_ia_c") / "model.esnn"  # static 1x8x8: 68-byte SAMPLE
FRAMES = next(v for v in VECTORS if v.name == "spike_convs_k7_k3_k1") / "model.esnn"  # 4 frames of 2x16x16


def samples(model: Path, n: int, seed: int) -> list[Sample]:
    m = load(model.read_bytes())
    frames = 1 if m.static_input else m.T
    rng = np.random.default_rng(seed)
    return [
        Sample(rng.integers(0, 256, (frames, *m.input.shape), dtype=np.uint8), source=f"random {i}")
        for i in range(n)
    ]


def distinct_references(model: Path, items: list[Sample]) -> None:
    blob = model.read_bytes()
    refs = [reference_run(blob, s.u8) for s in items]
    outs = {tuple(r.logits) + tuple(r.spike_counts) for r in refs}
    assert len(outs) == len(items)  # a result given to the wrong sample could not pass as bit-exact


def test_faults_parse_and_validate():
    f = Faults.parse("rate=0.01, reset_after=40,seed=3")
    assert f.drop == pytest.approx(0.01 / 3) and f.dup == f.corrupt == f.drop
    assert f.reset_after == 40 and f.seed == 3
    assert Faults.parse("drop=0.1").corrupt == 0
    for bad in ("drop", "speed=1", "drop=x", "drop=2", "reset_after=0", "drop=0.6,dup=0.6"):
        with pytest.raises(ValueError):
            Faults.parse(bad)


def test_mangling_is_seeded_and_independent_of_chunking():
    f = Faults(drop=0.05, corrupt=0.05, dup=0.05, seed=7)
    data = bytes(range(256)) * 8
    counts = FaultCounts()
    whole = _Mangler(f, [7, 0])(data, counts)
    m2, c2 = _Mangler(f, [7, 0]), FaultCounts()
    pieces = b"".join(m2(data[i : i + 37], c2) for i in range(0, len(data), 37))
    assert whole == pieces != data
    n = len(data)
    for k in ("dropped", "corrupted", "duplicated"):
        assert 0.02 * n < getattr(counts, k) < 0.09 * n
    assert len(whole) == n - counts.dropped + counts.duplicated


def test_reset_needs_a_board_it_can_restart():
    with pytest.raises(HostError, match="needs a board this host starts"):
        FaultProxy(SerialTransport("loop://"), Faults(reset_after=3))


def test_stream_through_one_percent_byte_faults(board_bin: Path):
    items = samples(SMALL, 120, seed=1)
    distinct_references(SMALL, items)
    faults = Faults(drop=0.01 / 3, corrupt=0.01 / 3, dup=0.01 / 3, seed=5)
    proxy = FaultProxy(lambda: start_host_board(SMALL, build=False), faults)
    with Client(proxy, timeout=0.15, retries=25, compute_s=0.05, resync_quiet_s=0.005) as client:
        report = Streamer(client, SMALL.read_bytes()).run(items)
    outs = report.outcomes
    assert [o.index for o in outs] == list(range(120))  # none lost, in order
    assert report.aborted is None
    assert all(o.status in ("ok", "error") for o in outs)  # never a wrong result passed off as a sample's
    assert all(o.error for o in outs if o.status == "error")
    assert report.count("ok") >= 115
    c = proxy.counts
    assert min(c.dropped, c.corrupted, c.duplicated) >= 10  # faults hit both directions' bytes
    assert report.link.retries >= 30 and report.link.bad_frames >= 5


def test_stream_through_board_restarts_mid_sample(board_bin: Path):
    items = samples(FRAMES, 100, seed=2)
    distinct_references(FRAMES, items)
    # max_payload: one 2x16x16 frame fits, the 4-frame SAMPLE does not -> FRAME by FRAME, resets mid-sample
    proxy = FaultProxy(
        lambda: start_host_board(FRAMES, max_payload=4 + 512, build=False), Faults(reset_after=7, seed=1)
    )
    with Client(proxy, timeout=0.5, retries=3, compute_s=0.2, resync_quiet_s=0.005) as client:
        report = Streamer(client, FRAMES.read_bytes()).run(items)
    outs = report.outcomes
    assert [o.index for o in outs] == list(range(100))
    assert all(o.status == "ok" for o in outs), [o.error for o in outs if o.error][:3]
    assert proxy.counts.resets >= 12
    assert report.resets >= 12 and sum(o.resends for o in outs) >= 12
    assert client.stats.resets_seen >= 12


def test_stream_through_faults_and_restarts_together(board_bin: Path):
    items = samples(SMALL, 60, seed=3)
    faults = Faults(drop=0.01 / 3, corrupt=0.01 / 3, dup=0.01 / 3, reset_after=9, seed=9)
    proxy = FaultProxy(lambda: start_host_board(SMALL, build=False), faults)
    with Client(proxy, timeout=0.15, retries=25, compute_s=0.05, resync_quiet_s=0.005) as client:
        report = Streamer(client, SMALL.read_bytes(), max_resends=5).run(items)
    assert [o.index for o in report.outcomes] == list(range(60))
    assert all(o.status in ("ok", "error") for o in report.outcomes)
    assert report.count("ok") >= 55 and proxy.counts.resets >= 5
