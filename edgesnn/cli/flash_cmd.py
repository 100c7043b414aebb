"""Put a model on a board: check it against the device profile, build the firmware with the model in
flash, then start the emulated board or flash the real one. Prints every command it runs.

- ``qemu-mps2-an386``: builds firmware/ports/qemu-mps2-an386 and runs qemu-system-arm with UART0 on a TCP
  port; prints the ``--port socket://127.0.0.1:PORT`` URL to use and serves until Ctrl-C.
- ``host``: builds the host board and serves the model on a pseudo-terminal (prints its /dev/pts path).
- real boards: C runtime (``stm32f411-nucleo``): builds firmware/ports/<device> and runs the profile's
  ``[flash] command`` (openocd; pyocd as an alternative); MicroPython boards (``runtime = "micropython"``:
  ``rp2040-pico``, ``esp32s3``): ``mpremote`` copies the runtime (devices/micropython/esnn_*.py), the
  protocol board script devices/micropython/esnn_board.py as ``main.py``, then the model with the profile's
  ``[flash] command``, and resets the board so main.py starts serving.
- ``micropython-unix``: the same board script on the unix port of MicroPython, served on a pseudo-terminal
  (prints its /dev/pts path).

The fit check comes first: the model's RAM (runtime arena + the protocol's input and receive buffers) and
flash (the blob) against the profile's budgets (--ram-budget overrides the RAM); a model that does not fit
fails with required vs available, what is live at the arena's peak and what would make it fit.
MicroPython profiles use the MicroPython runtime's own figures instead: the heap bound of
edgesnn.export.micropython_memory (Model + one run + the protocol board's buffers) and the model file plus
the runtime's .py sources in 4 KiB filesystem blocks, reported as "MicroPython heap" and "flash (model +
runtime files)" against the profile's RAM and flash less what it reserves for MicroPython itself.

edgesnn flash --device qemu-mps2-an386 out/model.esnn
edgesnn flash --device stm32f411-nucleo out/model.esnn --dry-run
edgesnn flash --device rp2040-pico out/model.esnn --dry-run
"""

from __future__ import annotations

import argparse
import os
import select
import shlex
import shutil
import subprocess
import time
import tty
from pathlib import Path

from edgesnn import resources
from edgesnn.cli.argtypes import positive_int
from edgesnn.cli.errors import CliError
from edgesnn.cli.signals import Terminated
from edgesnn.devices import DEVICES_DIR, DeviceError, DeviceProfile, fit_problems, load_profile
from edgesnn.host.children import die_with_parent
from edgesnn.host.transport import stop_process

FIRMWARE = resources.firmware_dir()
INSTALL = {
    "openocd": "apt-get install openocd",
    "pyocd": "pip install pyocd",
    "mpremote": "pip install mpremote",
    "nrfjprog": "Nordic's nRF Command Line Tools",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", type=Path, help="the .esnn model blob")
    p.add_argument("--device", required=True, help="device profile name (devices/*.toml) or a .toml path")
    p.add_argument("--dry-run", action="store_true", help="check the fit and print the commands, run nothing")
    p.add_argument("--serial", help="serial port of a real board (default: the profile's [transport] serial)")
    p.add_argument(
        "--ram-budget",
        type=positive_int,
        metavar="BYTES",
        help="RAM the model may use on the board, overriding the profile's (ram - reserved_ram)",
    )


def model_needs(blob: bytes, where: str) -> tuple[int, int]:
    """(RAM, flash) bytes the model needs on a board: arena (the C loader's esnn_arena_required) + one
    sample's u8 input + a receive buffer for it; flash = the blob."""
    from edgesnn.format import BlobError, parse
    from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable

    try:
        model = parse(blob)
    except BlobError as exc:
        raise CliError(f"{where}: {exc}") from exc
    try:
        v = CRuntime().validate(blob)
    except CRuntimeUnavailable as exc:
        raise CliError(f"the fit check needs the host C runtime: {exc}") from exc
    if not v.ok:
        raise CliError(f"{where}: the C runtime refuses it: {v.status} {v.field}".rstrip())
    from edgesnn.export.passes.memory import board_io_bytes

    return v.arena_bytes + board_io_bytes(model), len(blob)


def _why(profile: DeviceProfile, blob: bytes, word: int = 4) -> str:
    """What is live at the arena's peak and what would make the model fit (edgesnn.export.blob_fit)."""
    from edgesnn.export import micropython_memory as mm
    from edgesnn.export.blob_fit import explain_blob
    from edgesnn.export.passes.memory import board_io_bytes, plan_arena
    from edgesnn.format import parse

    model = parse(blob)
    if profile.runtime == "micropython":
        return explain_blob(
            model, lambda m: mm.model_heap_bytes(m, len(blob), True, word), profile.model_ram_bytes, False
        )
    return explain_blob(
        model, lambda m: plan_arena(m).total_bytes + board_io_bytes(m), profile.model_ram_bytes
    )


def _budget_note(blob: bytes, profile: DeviceProfile) -> str:
    """The arena a C board builds with when its RAM leaves more than the lean plan needs (arena_budget)."""
    if profile.runtime != "c":
        return ""
    from edgesnn.export.passes.memory import FASTEST, plan_arena
    from edgesnn.format import parse
    from edgesnn.host.qemu import arena_budget

    budget = arena_budget(blob, model_ram=profile.model_ram_bytes)
    if budget is None:
        return ""
    fastest = plan_arena(parse(blob), budget=FASTEST).total_bytes
    what = "the fastest plan" if budget >= fastest else "the fastest plan within it"
    return f"; the board's arena is {budget} B, the RAM left spent on speed ({what}, ESNN_OPT_FAST)"


def micropython_needs(blob: bytes, where: str, word: int = 4) -> tuple[int, int]:
    """(RAM, flash) bytes on a MicroPython board: the heap bound of Model + one run + the protocol board's
    buffers (edgesnn.export.micropython_memory); flash = the model file + the runtime's .py sources as
    `flash` copies them, in 4 KiB filesystem blocks."""
    from edgesnn.export import micropython_memory as mm
    from edgesnn.format import BlobError

    try:
        ram = mm.heap_bytes(blob, board=True, word=word)
    except BlobError as exc:
        raise CliError(f"{where}: {exc}") from exc
    return ram, mm.flash_bytes(len(blob))


def check_fit(profile: DeviceProfile, blob: bytes, where: str) -> tuple[int, int]:
    from edgesnn.export.micropython_memory import word_bytes

    if profile.runtime == "micropython":
        ram, flash = micropython_needs(blob, where, word_bytes(profile.core))
        problems = fit_problems(profile, ram, flash)
        problems = [
            p.replace("RAM", "MicroPython heap", 1).replace("flash", "flash (model + runtime files)", 1)
            for p in problems
        ]
    else:
        ram, flash = model_needs(blob, where)
        problems = fit_problems(profile, ram, flash)
    if problems:
        why = _why(profile, blob, word_bytes(profile.core) if profile.runtime == "micropython" else 4)
        raise CliError(f"{where} does not fit {profile.name}: " + "; ".join([*problems, why]))
    return ram, flash


def _make_cmd(port: str, model: Path, out: Path, budget: int | None) -> list[str]:
    from edgesnn.host.qemu import board_build_dir

    port_dir, build = FIRMWARE / "ports" / port, board_build_dir(port)
    argv = ["make", "-C", str(port_dir), "-j1", f"B={build}", "board", f"MODEL={model}", f"OUT={out}"]
    return argv + ([f"ARENA_BUDGET={budget}"] if budget else [])


def _fill(template: str, **values: str) -> list[str]:
    return [token.format(**values) for token in shlex.split(template)]


def _show(argv: list[str]) -> None:
    print(f"$ {shlex.join(argv)}", flush=True)


def _serve_until_interrupt(proc: subprocess.Popen, what: str) -> int:
    """Wait until Ctrl-C (exit 0: the documented way to stop) or SIGTERM (re-raised: exit 143); the board
    process is stopped either way."""
    try:
        while proc.poll() is None:
            time.sleep(0.2)
    except KeyboardInterrupt as exc:
        print(f"\nstopping {what}", flush=True)
        if isinstance(exc, Terminated):
            raise
        return 0
    finally:
        stop_process(proc)
    raise CliError(f"{what} exited with status {proc.returncode}")


def _qemu(args: argparse.Namespace, model: Path, profile: DeviceProfile) -> int:
    from edgesnn.host import qemu

    limits = qemu.limits_of(profile)  # an emulated part (qemu-stm32f411): the part's RAM, flash, stack
    out = qemu.image_dir(model.read_bytes(), "qemu-mps2-an386", limits=limits)
    if args.dry_run:
        budget = qemu.arena_budget(model.read_bytes(), limits)
        _show(_make_cmd("qemu-mps2-an386", model, out, budget) + (limits.make_vars() if limits else []))
        argv = qemu.qemu_argv(out / "esnn_board.elf", 0)
        _show([a.replace("127.0.0.1:0,", "127.0.0.1:PORT,") for a in argv])
        print("(PORT: a free TCP port; connect with --port socket://127.0.0.1:PORT)")
        return 0
    try:
        image = qemu.build_image(model, limits=limits)
    except qemu.ImageTooBig as exc:
        raise CliError(str(exc)) from exc
    print(image.report)
    proc = qemu.QemuProcess(image.elf)
    try:
        _show(proc.argv)
        print(f"QEMU board serving {model.name}: use --port {proc.url}  (Ctrl-C stops it)", flush=True)
        return _serve_until_interrupt(proc.proc, "qemu-system-arm")
    finally:
        proc.stop()  # QEMU and its temp folder (monitor socket, log)


def _host(args: argparse.Namespace, model: Path) -> int:
    from edgesnn.host.board import BINARIES, BUILD, PORT, build_host_board

    argv = [str(BINARIES["board"]), "--pty", "--name", "host", str(model)]
    if args.dry_run:
        _show(["make", "-C", str(PORT), "-j1", f"B={BUILD}", "board"])
        _show(argv)
        return 0
    build_host_board("board")
    _show(argv)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent())
    try:
        assert proc.stdout is not None
        path = proc.stdout.readline().strip()
        if not path:
            proc.wait(timeout=5)
            raise CliError(f"the host board did not start (status {proc.returncode})")
        print(f"host board serving {model.name}: use --port {path}  (Ctrl-C stops it)", flush=True)
        return _serve_until_interrupt(proc, "the host board")
    finally:
        stop_process(proc)


def _micropython_copies(serial: str) -> list[list[str]]:
    """mpremote commands that put the MicroPython runtime and the protocol board (as main.py) on a board."""
    from edgesnn.host.micropython_board import BOARD_SCRIPT
    from edgesnn.runtime.micropython import DRIVER, RUNTIME_DIR

    runtime = [str(p) for p in sorted(RUNTIME_DIR.glob("esnn_*.py")) if p not in (DRIVER, BOARD_SCRIPT)]
    return [
        ["mpremote", "connect", serial, "cp", *runtime, ":"],
        ["mpremote", "connect", serial, "cp", str(BOARD_SCRIPT), ":main.py"],
    ]


def _micropython_unix(args: argparse.Namespace, model: Path) -> int:
    """The MicroPython board on the unix port, bridged to a pseudo-terminal whose path is printed."""
    from edgesnn.host.micropython_board import micropython_argv, start_micropython_board

    try:
        argv = micropython_argv(model)
    except Exception as exc:
        raise CliError(str(exc)) from exc
    _show(argv)
    if args.dry_run:
        print("(its stdin/stdout bridged to a pseudo-terminal; connect with --port /dev/pts/N)")
        return 0
    board = start_micropython_board(model)
    master, slave = os.openpty()  # the slave stays open: the master never sees a hang-up between hosts
    tty.setraw(slave)
    print(
        f"MicroPython board serving {model.name}: use --port {os.ttyname(slave)}  (Ctrl-C stops it)",
        flush=True,
    )
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.005)
            if ready:
                board.write(os.read(master, 65536))
            data = board.read(0.005)
            if data:
                os.write(master, data)
    except KeyboardInterrupt:
        print("\nstopping the MicroPython board")
        return 0
    finally:
        board.close()
        os.close(master)
        os.close(slave)


def _real(args: argparse.Namespace, profile: DeviceProfile, model: Path) -> int:
    if not profile.flash_command:
        raise CliError(
            f"{DEVICES_DIR / profile.name}.toml: [flash] command: missing (how to flash this board)"
        )
    serial = args.serial or profile.serial or "/dev/ttyACM0"
    port_dir = FIRMWARE / "ports" / profile.name
    commands: list[list[str]] = []
    values = {"model": str(model), "serial": serial, "elf": "", "bin": "", "hex": ""}
    if profile.runtime == "c":
        if args.dry_run:
            from edgesnn.host.qemu import image_dir

            out = image_dir(model.read_bytes(), profile.name, model_ram=profile.model_ram_bytes)
        else:
            if not (port_dir / "Makefile").is_file():
                ports = sorted(p.parent.name for p in (FIRMWARE / "ports").glob("*/Makefile"))
                raise CliError(f"no C port for {profile.name} in firmware/ports (it has: {', '.join(ports)})")
            from edgesnn.host.qemu import build_image

            image = build_image(model, board=profile.name, model_ram=profile.model_ram_bytes)
            print(image.report)
            out = image.elf.parent
            subprocess.run(
                ["arm-none-eabi-objcopy", "-O", "ihex", str(image.elf), str(out / "esnn_board.hex")],
                check=True,
            )
        values.update(elf=str(out / "esnn_board.elf"), bin=str(out / "esnn_board.bin"))
        values["hex"] = str(out / "esnn_board.hex")
        if args.dry_run:
            from edgesnn.host.qemu import arena_budget

            _show(
                _make_cmd(
                    profile.name,
                    model,
                    out,
                    arena_budget(model.read_bytes(), model_ram=profile.model_ram_bytes),
                )
            )
            if not (port_dir / "Makefile").is_file():
                print(f"(no C port firmware/ports/{profile.name} yet: this build would fail)")
            _show(["arm-none-eabi-objcopy", "-O", "ihex", values["elf"], values["hex"]])
    if profile.runtime == "micropython":
        commands += _micropython_copies(serial)
    commands.append(_fill(profile.flash_command, **values))
    if profile.runtime == "micropython":
        commands.append(["mpremote", "connect", serial, "reset"])  # main.py starts serving
    if args.dry_run:
        for cmd in commands:
            _show(cmd)
        for alt in profile.flash_alternatives:
            print(f"# or: {shlex.join(_fill(alt, **values))}")
        print(f"# then: edgesnn verify --device {profile.name} --port {serial} MODEL")
        return 0
    for cmd in commands:
        tool = cmd[0]
        if shutil.which(tool) is None:
            alts = [a.split()[0] for a in profile.flash_alternatives if shutil.which(a.split()[0])]
            hint = f"; or use {alts[0]} ({profile.flash_alternatives[0]})" if alts else ""
            raise CliError(f"{tool} not found: {INSTALL.get(tool, 'install it')}{hint}")
        _show(cmd)
        proc = subprocess.run(cmd, check=False)
        if proc.returncode != 0:
            raise CliError(f"{tool} failed with status {proc.returncode}")
    print(f"flashed {model.name} to {profile.name}: use --port {serial}")
    return 0


def run(args: argparse.Namespace) -> int:
    model: Path = args.model
    try:
        profile = load_profile(args.device).with_ram_budget(args.ram_budget)
    except DeviceError as exc:
        raise CliError(str(exc)) from exc
    try:
        blob = model.read_bytes()
    except OSError as exc:
        raise CliError(f"cannot read {model}: {exc.strerror or exc}") from exc
    model = model.resolve()
    ram, flash = check_fit(profile, blob, str(args.model))
    if profile.runtime == "micropython":
        print(
            f"{args.model} fits {profile.name}: MicroPython heap {ram} of {profile.model_ram_bytes} B, "
            f"flash (model + runtime files) {flash} of {profile.model_flash_bytes} B"
        )
    else:
        print(
            f"{args.model} fits {profile.name}: RAM {ram} of {profile.model_ram_bytes} B, "
            f"flash {flash} of {profile.model_flash_bytes} B{_budget_note(blob, profile)}"
        )
    if profile.flash_method == "qemu":
        return _qemu(args, model, profile)
    if profile.flash_method == "process" and profile.runtime == "micropython":
        return _micropython_unix(args, model)
    if profile.flash_method == "process" or profile.runtime == "host":
        return _host(args, model)
    return _real(args, profile, model)
