"""The streaming loop, reusable from Python: send each sample to an open `Client`, receive its RESULT and
check it bit for bit against the integer reference (`edgesnn.reference.run` on the same blob), and its top-1
against the float PyTorch model when one is given.

    report = Streamer(client, blob, float_model=model).run(samples)
    report.ok, report.summary()

Every sample ends as exactly one `Outcome`, in order, with its index: ``ok`` (bit-exact), ``mismatch`` or
``error`` (an explicit message). A device reset (boot announcement, `DeviceReset`; or `BAD_SEQUENCE` when the
announcement itself was lost) makes the streamer say HELLO again, check the model is the same, and send the
sample in progress again from its first frame: samples whose RESULT arrived are never sent twice. A timeout
after the client's retries ends that sample with an error; when the board then does not answer HELLO either,
the stream stops (``report.aborted``) and no further sample is taken from the iterable.

Timing per sample: the round trip of its requests; the compute part is the RESULT counter when it is a time
(host board: nanoseconds; cycles with a known clock), else — with ``probe_transfer`` — the round trip minus
the measured round trip of a request of the same size that the device rejects unread (a reserved byte set: the
transfer alone). The rest is transfer.
"""

from __future__ import annotations

import statistics
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.host.client import Client, LinkStats
from edgesnn.host.errors import DeviceError, DeviceReset, DeviceTimeout, HostError
from edgesnn.host.framing import Err, Msg
from edgesnn.host.messages import Counter, DeviceResult, Info, best_encoding, frame_payload, sample_payload
from edgesnn.reference import Result, load
from edgesnn.reference import run as reference_run
from edgesnn.stream.samples import ModelInput, Sample

OK, MISMATCH, ERROR = "ok", "mismatch", "error"


@dataclass
class Outcome:
    index: int
    source: str
    label: int | None
    events: int | None
    status: str  # ok | mismatch | error
    reference_predicted: int | None
    predicted: int | None = None  # the device's
    float_predicted: int | None = None
    pytorch_exact: bool | None = None  # the QAT PyTorch model's integer logits == the device's (when given)
    error: str | None = None
    first_diff: str = ""  # the first differing field, for a mismatch
    resends: int = 0  # times the sample was sent again after a device reset
    round_trip_s: float | None = None
    compute_s: float | None = None
    counter: int | None = None
    device: DeviceResult | None = field(default=None, repr=False)
    reference: Result | None = field(default=None, repr=False)

    @property
    def bit_exact(self) -> bool:
        return self.status == OK

    @property
    def agrees(self) -> bool | None:
        if self.float_predicted is None or self.predicted is None:
            return None
        return self.predicted == self.float_predicted

    def record(self) -> dict[str, Any]:
        """JSON-ready; outputs are included for samples that are not bit-exact."""
        d: dict[str, Any] = {
            "index": self.index,
            "source": self.source,
            "label": self.label,
            "events": self.events,
            "status": self.status,
            "predicted": self.predicted,
            "reference_predicted": self.reference_predicted,
            "float_predicted": self.float_predicted,
            "bit_exact": self.bit_exact,
            "pytorch_exact": self.pytorch_exact,
            "error": self.error,
            "resends": self.resends,
            "round_trip_s": self.round_trip_s,
            "compute_s": self.compute_s,
            "counter": self.counter,
        }
        if self.status != OK:
            d["first_diff"] = self.first_diff
            if self.reference is not None:
                d["reference_logits"] = self.reference.logits.tolist()
                d["reference_spike_counts"] = [int(v) for v in self.reference.spike_counts]
            if self.device is not None:
                d["device_logits"] = self.device.logits.tolist()
                d["device_spike_counts"] = [int(v) for v in self.device.spike_counts]
        return d


def first_difference(device: DeviceResult, ref: Result) -> str:
    """'' when bit-exact, else the first differing field and where."""
    for name, got, want in (
        ("logits", device.logits, ref.logits),
        ("spike_counts", device.spike_counts, ref.spike_counts),
    ):
        got, want = np.asarray(got, dtype=np.int64), np.asarray(want, dtype=np.int64)
        if got.shape != want.shape:
            return f"{name}: device has {got.size} values, the reference {want.size}"
        bad = np.flatnonzero(got != want)
        if bad.size:
            i = int(bad[0])
            return f"{name}[{i}]: device {got[i]} vs reference {want[i]} ({bad.size} values differ)"
    if device.predicted != ref.predicted:
        return f"predicted: device {device.predicted} vs reference {ref.predicted}"
    return ""


@dataclass
class StreamReport:
    info: Info
    outcomes: list[Outcome]
    wall_s: float
    link: LinkStats
    resets: int = 0
    aborted: str | None = None
    transfer_probe_s: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.aborted is None and all(o.status == OK for o in self.outcomes)

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def summary(self) -> dict[str, Any]:
        outs = self.outcomes
        n = len(outs)
        done = [o for o in outs if o.predicted is not None]
        labelled = [o for o in done if o.label is not None]
        with_float = [o for o in done if o.float_predicted is not None]
        with_qat = [o for o in done if o.pytorch_exact is not None]
        f_labelled = [o for o in with_float if o.label is not None]
        counters = [o.counter for o in done if o.counter is not None]
        events = sum(o.events or 0 for o in outs)
        rts = [o.round_trip_s for o in done if o.round_trip_s is not None]
        comp = [o.compute_s for o in done if o.compute_s is not None and o.round_trip_s is not None]
        round_trip = sum(rts)
        compute = sum(comp) if len(comp) == len(rts) and rts else None
        return {
            "samples": n,
            "bit_exact": self.count(OK),
            "mismatches": self.count(MISMATCH),
            "errors": self.count(ERROR),
            "aborted": self.aborted,
            "agreement": sum(bool(o.agrees) for o in with_float) / len(with_float) if with_float else None,
            "agreement_samples": len(with_float),
            "pytorch_exact": sum(bool(o.pytorch_exact) for o in with_qat) if with_qat else None,
            "pytorch_exact_samples": len(with_qat),
            "accuracy": sum(o.predicted == o.label for o in labelled) / len(labelled) if labelled else None,
            "float_accuracy": (
                sum(o.float_predicted == o.label for o in f_labelled) / len(f_labelled)
                if f_labelled
                else None
            ),
            "labelled": len(labelled),
            "counter_kind": self.info.counter_kind.name.lower(),
            "counter_mean": statistics.fmean(counters) if counters else None,
            "counter_min": min(counters) if counters else None,
            "counter_max": max(counters) if counters else None,
            "wall_s": self.wall_s,
            "samples_per_s": n / self.wall_s if self.wall_s > 0 else None,
            "events": events,
            "events_per_s": events / self.wall_s if self.wall_s > 0 and events else None,
            "round_trip_s": round_trip,
            "compute_s": compute,
            "transfer_s": round_trip - compute if compute is not None else None,
            "compute_share": compute / round_trip if compute is not None and round_trip > 0 else None,
            "device_resets": self.resets,
            "resent_samples": sum(o.resends > 0 for o in outs),
            "link": {
                "requests": self.link.requests,
                "retries": self.link.retries,
                "bad_frames": self.link.bad_frames,
                "stray_replies": self.link.stray_replies,
                "resets_seen": self.link.resets_seen,
            },
        }


class StreamInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, see edgesnn.cli.signals) during `Streamer.run`: ``report`` holds every sample
    finished before it (``report.aborted`` says where it stopped), for the summary, the log and a resume."""

    def __init__(self, report: StreamReport, cause: KeyboardInterrupt) -> None:
        super().__init__(report.aborted)
        self.report = report
        self.signum = getattr(cause, "signum", 2)  # SIGINT unless the cause says otherwise


def blob_crc(blob: bytes) -> int:
    return zlib.crc32(blob[:-4]) & 0xFFFFFFFF


class Streamer:
    """Streams samples to one board. ``float_model``: a torch module taking the training input layout
    (static images ``[B, C, H, W]``, frames ``[T, B, C, H, W]``). ``on_outcome(sample, outcome)`` is called
    after each sample (progress bars, saving mismatches). ``qat_model``: an ``edgesnn.qat.QATNet`` of the
    same checkpoint; its integer logits (``run_int``) must equal the device's on every sample."""

    def __init__(
        self,
        client: Client,
        blob: bytes,
        *,
        float_model: Any = None,
        qat_model: Any = None,
        max_resends: int = 3,
        probe_transfer: bool | None = None,
        clock_hz: float | None = None,
        on_outcome: Callable[[Sample, Outcome], None] | None = None,
    ) -> None:
        self.client, self.blob = client, bytes(blob)
        self.mi = ModelInput.of(load(self.blob))
        self.float_model = float_model
        self.qat_model = qat_model
        self.max_resends = max_resends
        self.probe_transfer = probe_transfer
        self.clock_hz = clock_hz
        self.on_outcome = on_outcome
        self.resets = 0
        self._probe: dict[str, float] = {}

    # -- setup ----------------------------------------------------------------------------------------------

    def connect(self) -> Info:
        """HELLO, and check the board runs this blob with a usable model."""
        info = self.client.hello()
        desc = self.client.transport.description
        if info.model_status != 0:
            raise HostError(f"{desc} has no usable model (esnn status {info.model_status}): flash it again")
        crc, size = blob_crc(self.blob), len(self.blob)
        if (info.model_crc, info.model_size) != (crc, size):
            raise HostError(
                f"{desc} runs another model (CRC {info.model_crc:08x}, {info.model_size} B) than the one "
                f"given "
                f"(CRC {crc:08x}, {size} B): flash this model first, or pass the one on the board"
            )
        if info.frames != self.mi.frames or info.input_shape != self.mi.shape:
            raise HostError(
                f"{desc} reports input {info.frames} x {info.input_shape}, the blob "
                f"{self.mi.frames} x {self.mi.shape}"
            )
        return info

    # -- one sample ---------------------------------------------------------------------------------------

    def _float_prediction(self, u8: np.ndarray) -> int:
        import torch

        x = torch.from_numpy(u8.astype(np.float32) / np.float32(self.mi.scale_num))
        x = x[:1] if self.mi.static else x[:, None]  # [1, C, H, W] or [T, 1, C, H, W]
        with torch.no_grad():
            return int(self.float_model(x).argmax(1)[0])

    def _qat_logits(self, u8: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(u8.astype(np.float64) / self.mi.scale_num)
        x = x[:1] if self.mi.static else x[:, None]
        return self.qat_model.run_int(x.float()).logits[0].numpy()

    def _compute_s(self, result: DeviceResult, round_trip: float, u8: np.ndarray) -> float | None:
        if result.counter_kind == Counter.NANOSECONDS:
            return min(result.counter / 1e9, round_trip)
        if result.counter_kind == Counter.CYCLES and self.clock_hz:
            return min(result.counter / self.clock_hz, round_trip)
        probe = self.probe_transfer if self.probe_transfer is not None else True
        if not probe:
            return None
        transfer = self.transfer_time(u8)
        return None if transfer is None else max(round_trip - transfer, 0.0)

    def transfer_time(self, u8: np.ndarray) -> float | None:
        """Round trip of requests as big as this sample's that the device rejects before running anything
        (median of 3), i.e. the link's share; cached by payload size. None when the probe fails."""
        info = self.client.require_info()
        frames = np.ascontiguousarray(u8, dtype=np.uint8).reshape(info.frames, info.frame_values)
        enc = best_encoding(frames, info.encodings)
        payload = sample_payload(frames, enc)
        if len(payload) <= info.max_payload:
            type_, bad, repeat = Msg.SAMPLE, payload[:1] + b"\x01" + payload[2:], 1
        else:
            fp = frame_payload(0, frames[0], enc)
            type_, bad, repeat = Msg.FRAME, fp[:3] + b"\x01" + fp[4:], info.frames
        key = f"{type_.name} {len(bad)} B x {repeat}"
        if key not in self._probe:
            times = []
            try:
                for _ in range(3):
                    t0 = time.perf_counter()
                    try:
                        self.client.request(type_, bad)
                    except DeviceError as e:
                        if e.code != Err.BAD_PAYLOAD:
                            raise
                    times.append(time.perf_counter() - t0)
            except HostError:
                return None
            self._probe[key] = statistics.median(times) * repeat
        return self._probe[key]

    def run_one(self, index: int, sample: Sample, ref: Result | None = None) -> Outcome:
        """Send one sample (again after a device reset), check it; never raises for a device-side failure
        of this sample (the outcome says it), only when the board is gone (HostError)."""
        if sample.u8 is None:
            raise ValueError(f"sample {index} has no input: {sample.error}")
        ref = reference_run(self.blob, sample.u8) if ref is None else ref
        out = Outcome(index, sample.source, sample.label, sample.events, ERROR, ref.predicted, reference=ref)
        if self.float_model is not None:
            out.float_predicted = self._float_prediction(sample.u8)
        while True:
            t0 = time.perf_counter()
            try:
                result = self.client.run_sample(sample.u8)
            except DeviceReset as e:
                self.resets += 1
                if out.resends >= self.max_resends:
                    out.error = f"{e} ({out.resends} resends already)"
                    self.client.reconnect()
                    return out
                out.resends += 1
                self.client.reconnect()
                continue
            except DeviceError as e:
                if e.code == Err.BAD_SEQUENCE and out.resends < self.max_resends:
                    out.resends += 1  # the device lost the sample's frames (an unannounced reset)
                    continue
                out.error = str(e)
                return out
            except DeviceTimeout as e:
                out.error = str(e)
                self.client.reconnect()  # a board that does not answer HELLO either ends the stream
                return out
            out.round_trip_s = time.perf_counter() - t0
            break
        out.device, out.predicted = result, result.predicted
        out.counter = result.counter if result.counter_kind != Counter.NONE else None
        out.first_diff = first_difference(result, ref)
        if self.qat_model is not None:
            want = self._qat_logits(sample.u8)
            out.pytorch_exact = bool(np.array_equal(np.asarray(result.logits, dtype=np.int64), want))
            if not out.pytorch_exact and not out.first_diff:
                out.first_diff = f"logits: device {result.logits.tolist()} vs QAT PyTorch {want.tolist()}"
        out.status = MISMATCH if out.first_diff else OK
        out.compute_s = self._compute_s(result, out.round_trip_s, sample.u8)
        return out

    # -- the stream -----------------------------------------------------------------------------------------

    def run(self, samples: Iterable[Sample], start: int = 0) -> StreamReport:
        """Stream ``samples``, numbered from ``start`` (a resumed run). Ctrl-C or SIGTERM raises
        `StreamInterrupted` carrying the report of the samples done."""
        info = self.client.info if self.client.info is not None else self.connect()
        outcomes: list[Outcome] = []
        t0 = time.perf_counter()

        def report(aborted: str | None) -> StreamReport:
            wall = time.perf_counter() - t0
            return StreamReport(
                info, outcomes, wall, self.client.stats, self.resets, aborted, dict(self._probe)
            )

        try:
            aborted = self._run(samples, start, outcomes)
        except KeyboardInterrupt as e:
            where = f"interrupted after {len(outcomes)} samples (next: sample {start + len(outcomes)})"
            raise StreamInterrupted(report(where), e) from e
        return report(aborted)

    def _run(self, samples: Iterable[Sample], start: int, outcomes: list[Outcome]) -> str | None:
        aborted = None
        for index, sample in enumerate(samples, start):
            if sample.u8 is None:  # could not be read: an explicit error, not sent
                out = Outcome(index, sample.source, sample.label, None, ERROR, None, error=sample.error)
                outcomes.append(out)
                if self.on_outcome is not None:
                    self.on_outcome(sample, out)
                continue
            ref = reference_run(self.blob, sample.u8)
            try:
                out = self.run_one(index, sample, ref)
            except HostError as e:
                out = Outcome(index, sample.source, sample.label, sample.events, ERROR, ref.predicted)
                out.error, out.reference = str(e), ref
                aborted = f"the board stopped answering at sample {index}: {e}"
            outcomes.append(out)
            if self.on_outcome is not None:
                self.on_outcome(sample, out)
            if aborted:
                break
        return aborted


def stream(
    client: Client,
    blob: bytes | str | Path,
    samples: Iterable[Sample],
    float_model: Any = None,
    **options: Any,
) -> StreamReport:
    """One call: connect, stream every sample, return the report (see `Streamer`)."""
    data = Path(blob).read_bytes() if isinstance(blob, (str, Path)) else blob
    streamer = Streamer(client, data, float_model=float_model, **options)
    streamer.connect()
    return streamer.run(samples)
