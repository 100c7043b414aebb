"""What a stream leaves behind: live progress, the summary table, the `--json` log, the confusion-matrix plot
and, for every sample that is not bit-exact, a replay folder:

    <dir>/model.esnn                      the blob that was streamed (once)
    <dir>/<index>/input.bin               the u8 input as sent ([frames][C][H][W])
    <dir>/<index>/reference_logits.bin    int32 LE, and reference_spike_counts.bin (uint32 LE)
    <dir>/<index>/device_logits.bin       int32 LE, and device_spike_counts.bin (absent when no RESULT came)
    <dir>/<index>/meta.json               index, source, label, status, error / first difference, replay

Replay on the host C runtime: ``edgesnn verify --runtime c <dir>/model.esnn --input <dir>/<index>/input.bin``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgesnn.stream.runner import OK, Outcome, StreamReport
from edgesnn.stream.samples import Sample


class Progress:
    """A tqdm bar with samples/s (its rate), events/s, bit-exact and agreement so far; silent when
    ``enabled`` is False (tqdm's ``disable=None``: only on a terminal)."""

    def __init__(self, total: int | None, enabled: bool | None = None, desc: str = "stream") -> None:
        from tqdm import tqdm

        disable = None if enabled is None else not enabled  # None: tqdm shows it only on a terminal
        self.bar = tqdm(total=total, disable=disable, unit="sample", desc=desc)
        self.n = self.exact = self.agree = self.compared = self.events = 0

    def __call__(self, sample: Sample, out: Outcome) -> None:
        self.n += 1
        self.exact += out.status == OK
        self.events += out.events or 0
        if out.agrees is not None:
            self.compared += 1
            self.agree += bool(out.agrees)
        elapsed = self.bar.format_dict.get("elapsed", 0) or 1e-9
        post = {"exact": f"{self.exact}/{self.n}"}
        if self.compared:
            post["agree"] = f"{100 * self.agree / self.compared:.1f}%"
        if self.events:
            post["ev/s"] = f"{self.events / elapsed:,.0f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()


def _pct(part: float | None, whole: int = 1) -> str:
    return "n/a" if part is None else f"{100 * part / whole:.1f}%"


def summary_table(report: StreamReport, title: str = "") -> str:
    s = report.summary()
    n = s["samples"]
    rows: list[tuple[str, str]] = [("samples", str(n))]
    rows.append(("bit-exact with the reference", f"{s['bit_exact']}/{n} ({_pct(s['bit_exact'], max(n, 1))})"))
    if s["mismatches"] or s["errors"]:
        rows.append(("mismatches / errors", f"{s['mismatches']} / {s['errors']}"))
    if s["pytorch_exact"] is not None:
        k, m = s["pytorch_exact"], s["pytorch_exact_samples"]
        rows.append(("logits equal to QAT PyTorch", f"{k}/{m} ({_pct(k, max(m, 1))})"))
    if s["agreement"] is not None:
        rows.append(("top-1 agreement with float", f"{_pct(s['agreement'])} of {s['agreement_samples']}"))
    if s["accuracy"] is not None:
        acc = f"{_pct(s['accuracy'])} on {s['labelled']} labelled samples"
        if s["float_accuracy"] is not None:
            acc += f" (float model {_pct(s['float_accuracy'])})"
        rows.append(("accuracy (device)", acc))
    if s["counter_mean"] is not None:
        rows.append(
            (
                f"device {s['counter_kind']} per sample",
                f"mean {s['counter_mean']:,.0f}, min {s['counter_min']:,}, max {s['counter_max']:,}",
            )
        )
    rate = f"{s['samples_per_s']:.1f} samples/s" if s["samples_per_s"] else "n/a"
    if s["events_per_s"]:
        rate += f", {s['events_per_s']:,.0f} events/s ({s['events']:,} events)"
    rows.append(("throughput (with host checks)", rate))
    if s["round_trip_s"]:
        if s["compute_share"] is not None:
            rows.append(
                (
                    "link round trips",
                    f"{s['round_trip_s']:.2f} s: transfer {_pct(1 - s['compute_share'])}, "
                    f"compute {_pct(s['compute_share'])}",
                )
            )
        else:
            rows.append(("link round trips", f"{s['round_trip_s']:.2f} s (compute share unknown)"))
    if s["device_resets"] or s["resent_samples"]:
        rows.append(("device resets", f"{s['device_resets']} ({s['resent_samples']} samples sent again)"))
    link = s["link"]
    rows.append(
        (
            "link",
            f"{link['requests']} requests, {link['retries']} retries, {link['bad_frames']} bad frames, "
            f"{link['stray_replies']} stray replies",
        )
    )
    if s["aborted"]:
        rows.append(("ABORTED", s["aborted"]))
    width = max(len(k) for k, _ in rows)
    lines = [title] if title else []
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    bad = [o for o in report.outcomes if o.status != OK]
    for o in bad[:10]:
        why = o.error or o.first_diff
        lines.append(f"  sample {o.index} ({o.source}): {o.status.upper()}: {why}")
    if len(bad) > 10:
        lines.append(f"  ... and {len(bad) - 10} more (see the JSON log)")
    return "\n".join(lines)


def report_json(report: StreamReport, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    info = report.info
    return {
        **(extra or {}),
        "device": {
            "name": info.device_name,
            "runtime_version": info.runtime_version,
            "protocol_version": info.protocol_version,
            "model_crc": f"{info.model_crc:08x}",
            "model_size": info.model_size,
            "arena_bytes": info.arena_bytes,
            "max_payload": info.max_payload,
            "counter_kind": info.counter_kind.name.lower(),
            "input": [info.frames, *info.input_shape],
        },
        "summary": report.summary(),
        "transfer_probe_s": report.transfer_probe_s,
        "samples": [o.record() for o in report.outcomes],
    }


def write_json(path: str | Path, report: StreamReport, extra: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report_json(report, extra), indent=1) + "\n")
    return path


def fresh_folder(path: str | Path) -> Path:
    """``path`` when it does not exist or is an empty folder, else the first free ``path-2``, ``path-3``..:
    a run never writes into (or over) the replay folders of another."""
    path = Path(path)
    candidate, n = path, 1
    while candidate.exists() and not (candidate.is_dir() and not any(candidate.iterdir())):
        n += 1
        candidate = path.with_name(f"{path.name}-{n}")
    return candidate


def save_outcome(folder: str | Path, blob: bytes, sample: Sample, out: Outcome) -> Path:
    """The replay folder of one sample that is not bit-exact (module docstring)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    model = root / "model.esnn"
    if not model.is_file() or model.read_bytes() != blob:
        model.write_bytes(blob)
    d = root / f"{out.index:06d}"
    d.mkdir(exist_ok=True)
    meta = out.record()
    if sample.u8 is not None:
        np.ascontiguousarray(sample.u8, dtype=np.uint8).tofile(d / "input.bin")
        meta["input_shape"] = list(sample.u8.shape)
        meta["replay"] = f"edgesnn verify --runtime c {model} --input {d / 'input.bin'}"
    if out.reference is not None:
        out.reference.logits.astype("<i4").tofile(d / "reference_logits.bin")
        np.asarray(out.reference.spike_counts).astype("<u4").tofile(d / "reference_spike_counts.bin")
    if out.device is not None:
        out.device.logits.astype("<i4").tofile(d / "device_logits.bin")
        out.device.spike_counts.astype("<u4").tofile(d / "device_spike_counts.bin")
    (d / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return d


def confusion(report: StreamReport, num_classes: int) -> tuple[np.ndarray, str]:
    """Counts [truth, predicted] of the device's predictions against the labels (or, without labels,
    against the float model), and what the rows are."""
    pairs = [
        (o.label, o.predicted) for o in report.outcomes if o.label is not None and o.predicted is not None
    ]
    what = "label"
    if not pairs:
        pairs = [  # the outcomes with o.agrees not None, spelled so that the types narrow
            (o.float_predicted, o.predicted)
            for o in report.outcomes
            if o.float_predicted is not None and o.predicted is not None
        ]
        what = "float model"
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    for t, p in pairs:
        if 0 <= t < num_classes and 0 <= p < num_classes:
            m[t, p] += 1
    return m, what


def plot_confusion(
    report: StreamReport, folder: str | Path, classes: tuple[str, ...] = (), title: str = ""
) -> Path | None:
    """``confusion.png`` in ``folder`` (matplotlib, the 'plots' extra); None when nothing to plot."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        from edgesnn.stream.samples import StreamInputError

        raise StreamInputError(f"--plots needs matplotlib: pip install 'edgesnn[plots]' ({e})") from None
    k = report.info.num_classes
    m, what = confusion(report, k)
    if not m.sum():
        return None
    names = list(classes) if len(classes) == k else [str(i) for i in range(k)]
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * k, 1.0 + 0.5 * k))
    ax.imshow(m, cmap="Blues")
    for i in range(k):
        for j in range(k):
            if m[i, j]:
                color = "white" if m[i, j] > m.max() / 2 else "black"
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(k), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(k), names, fontsize=7)
    ax.set_xlabel("device prediction")
    ax.set_ylabel(what)
    ax.set_title(title or f"device vs {what} ({int(m.sum())} samples)", fontsize=9)
    fig.tight_layout()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "confusion.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
