"""``phnet-train`` (``phnet-eval`` is ``train.eval.evaluate``, ``phnet-corpus``
``train.corpus.build``)."""
from __future__ import annotations

import argparse
import logging
import sys


def train_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="phnet-train",
        description="Train a PHNet checkpoint (paper §5.1 stages, Lion). Single process, or "
        "data parallel with: torchrun --nproc_per_node=N -m train.cli ...",
    )
    p.add_argument("--config", help="TOML training config (default: the paper's recipe, lite model)")
    p.add_argument("--out", required=True, help="run directory (checkpoints, logs, curves)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    p.add_argument("--max-minutes", type=float, help="stop (resumably) after this many minutes")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config value, e.g. --set data.root=photos --set optim.batch_size=8")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from .config import load_config
    from .trainer import Trainer

    overrides = list(args.set)
    if args.max_minutes is not None:
        overrides.append(f"run.max_minutes={args.max_minutes}")
    try:
        cfg = load_config(args.config, overrides)
        trainer = Trainer(cfg, args.out, resume=args.resume)
    except (ValueError, FileNotFoundError) as exc:
        print(f"phnet-train: {exc}", file=sys.stderr)
        return 2
    best = trainer.fit()
    if trainer.dist.main:
        if cfg.run.select_on:
            print(f"best checkpoint: {best} (val {cfg.run.select_on} fMSE {trainer.pos.best_select:.2f})")
        else:
            print(f"best checkpoint: {best} (val fPSNR {trainer.pos.best_fpsnr:.2f} dB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(train_main())
