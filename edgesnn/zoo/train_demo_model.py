"""Train the shipped demo model: width-1/8 SynA-C OR-Spiking ResNet21, T=4, on full Fashion-MNIST (CPU).

    nohup python -m edgesnn.zoo.train_demo_model > runs/zoo-fmnist.out 2>&1 &

Resumable: run the same command again after an interruption and it continues from the last finished
epoch (runs/zoo-fmnist/last.pt). When done it copies the best checkpoint and the training log into
edgesnn/zoo/. The recipe is the paper's (MSE on one-hot of the mean output, Adam, cosine LR, horizontal
flips) with lr 5e-3 and batch 64, chosen for a short CPU run. The script is that configuration (RECIPE) plus
the copy into the package: the training is `edgesnn train` (``edgesnn.train.train``), equivalent to

    edgesnn train --dataset fashion-mnist --width 0.125 --T 4 --attention C --position b --epochs 6 \\
        --batch-size 64 --lr 5e-3 --loss mse --seed 0 --threads 1 --out runs/zoo-fmnist [--resume]
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

from edgesnn.train import TrainConfig, train
from edgesnn.zoo import DEMO_LOG, DEMO_MODEL

RECIPE = TrainConfig(
    dataset="fashion-mnist",
    out_dir="runs/zoo-fmnist",
    model={"width": 0.125, "T": 4, "attention": "C", "attention_position": "b"},
    epochs=6,
    batch_size=64,
    lr=5e-3,
    loss="mse",
    seed=0,
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=RECIPE.out_dir, help="working directory for checkpoints and the log")
    ap.add_argument("--threads", type=int, default=1, help="1: more threads spin-wait on a busy 2-core box")
    args = ap.parse_args()
    resume = (Path(args.out) / "last.pt").is_file()
    cfg = replace(RECIPE, out_dir=args.out, threads=args.threads, resume=resume)
    result = train(cfg)
    if result["epoch"] >= cfg.epochs:
        shutil.copyfile(Path(cfg.out_dir) / "best.pt", DEMO_MODEL)
        shutil.copyfile(Path(cfg.out_dir) / "train_log.jsonl", DEMO_LOG)
        print(f"copied best checkpoint ({100 * result['best_accuracy']:.2f}%) to {DEMO_MODEL}")


if __name__ == "__main__":
    main()
