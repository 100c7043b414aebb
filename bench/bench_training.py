"""Training and inference throughput (samples/s, CPU) of SynA-C OR-Spiking ResNet21 (Fashion-MNIST shape)
at widths 1/8 and 1/4 and T = 4 and 16, against the same network computing OR the way the paper's public
code does: ``backbone(x) + shortcut(x) - backbone(x) * shortcut(x)``, i.e. each branch evaluated twice.

    python bench/bench_training.py [--batch 32] [--iters 3] [--threads 2]

Both variants run side by side in one process; the speedup column is their ratio. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import time
import types

import torch
import torch.nn.functional as F

from edgesnn.models import build_model, preset
from edgesnn.models.blocks import SEWBlock


def reference_or_forward(self: SEWBlock, x: torch.Tensor) -> torch.Tensor:
    return self.backbone(x) + self.shortcut(x) - self.backbone(x) * self.shortcut(x)


def make(width: float, T: int, reference: bool) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model(preset("fashion-mnist", width=width, T=T, attention="C"))
    if reference:
        for m in model.modules():
            if isinstance(m, SEWBlock):
                m.forward = types.MethodType(reference_or_forward, m)
    return model


def throughput(model: torch.nn.Module, batch: int, iters: int, train: bool) -> float:
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    model.train(train)

    def step() -> None:
        if train:
            loss = F.mse_loss(model(x), F.one_hot(y, 10).float())
            opt.zero_grad()
            loss.backward()
            opt.step()
        else:
            with torch.no_grad():
                model(x)

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return batch * iters / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch {args.batch}, "
        f"{args.iters} timed iterations"
    )
    print(
        f"{'width':>6} {'T':>3} {'mode':<6} {'ours (samples/s)':>17} "
        f"{'ref OR (samples/s)':>19} {'speedup':>8}"
    )
    for width in (0.125, 0.25):
        for T in (4, 16):
            for train in (True, False):
                ours = throughput(make(width, T, False), args.batch, args.iters, train)
                ref = throughput(make(width, T, True), args.batch, args.iters, train)
                mode = "train" if train else "infer"
                print(
                    f"{width:>6} {T:>3} {mode:<6} {ours:>17.1f} {ref:>19.1f} {ours / ref:>7.2f}x", flush=True
                )


if __name__ == "__main__":
    main()
