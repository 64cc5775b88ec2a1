"""The ablation of PHNet's parts on real people: one training budget, one data set, one row each.

``python -m train.ablation --data-root CORPUS --out runs/ablation [--recipe relight]`` trains
every row of the recipe's table from the same recipe for the same number of steps, changing
only what the row names, keeps each run's checkpoint chosen on the validation people, and
evaluates them all. The Markdown report is ``OUT/ablation.md``.

Recipe ``relight`` (``train/configs/lite-relight.toml``, the camera's harmoniser), rows of
:data:`RELIGHT_ROWS`, judged with ``phnet-eval --heldout`` on the held-out **sources**
(``train.eval.heldout``: no training picture came from them, and no checkpoint was chosen on
them; the shipped recipe was fixed before its ablation ran):

- ``relight``: the recipe as it is (captured frame as the light reference, relight triples,
  the bounded residual).
- ``no-captured``: ``model.light_prior`` off: the network sees the plain composite, as before.
- ``no-relight``: no relight triples in the mix (their share spread over the others).
- ``no-bound``: ``model.residual_bound`` 0: the network's change is not bounded.
- ``size-128``: training and running at 128 instead of 256 (four times the steps: the same
  pixels seen).

Recipe ``people`` (``train/configs/lite-people.toml``, the previous bundled lite), rows of
:data:`ROWS`, judged with ``phnet-eval --people`` on the **validation** people (the test people
stay unseen by every choice). Rows (model fields of ``phnet.PHNetConfig``, or the data mix):

- ``figure``: the recipe as it is (PN on the skips of D4-D6, PFE on the image, no prior,
  identity triples in the mix).
- ``text``: PN after the ConvT in D4-D6 and the paper's non-residual sigmoid output (§4.3's
  wording; a residual D6 cannot take a PN block there).
- ``no-pfe``: the PFE switched off.
- ``pfe-features``: the PFE on the bottleneck features (our earlier reading).
- ``prior-gated``: a Lab colour-transfer prior behind a gate the network predicts, starting
  closed.
- ``prior-fixed``: the previous lite's ungated prior (strength 0.5 at initialisation).
- ``no-identity``: the mix without identity triples (their share spread over the others).
- ``size-128``: training at 128x128 instead of 256x256 for four times the steps (the same
  pixels seen, about the same time; an epoch is still capped by the data set's length, 380
  batches with today's corpus, so 200 steps become 760), still evaluated at 256: does a
  cheaper resolution pay?

Runs resume where they stopped (``--resume`` semantics per row), so a stopped ablation can be
started again with the same command.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import sys
from pathlib import Path

from .config import StageConfig, load_config

log = logging.getLogger(__name__)

CONFIGS = Path(__file__).with_name("configs")
RECIPE = CONFIGS / "lite-people.toml"
RELIGHT_RECIPE = CONFIGS / "lite-relight.toml"

ROWS: dict[str, dict[str, object]] = {
    "figure": {},
    "text": {"model.pn_placement": "text", "model.residual": False},
    "no-pfe": {"model.pfe": False},
    "pfe-features": {"model.pfe_input": "features"},
    "prior-gated": {"model.colour_prior": True, "model.prior_gate": True},
    "prior-fixed": {"model.colour_prior": True},
    "no-identity": {"data.mix": "people:0.4,objects:0.2,silhouettes:0.2"},
    "size-128": {"data.size": 128},
}
RELIGHT_ROWS: dict[str, dict[str, object]] = {
    "relight": {},
    "no-captured": {"model.light_prior": False},
    "no-relight": {"data.mix": "people:0.35,identity:0.4,objects:0.25"},
    "no-bound": {"model.residual_bound": 0.0},
    "size-128": {"data.size": 128, "model.work_resolution": 128},
}
RECIPES = {"people": (RECIPE, ROWS), "relight": (RELIGHT_RECIPE, RELIGHT_ROWS)}
STEP_SCALE = {"size-128": 4}
"""Rows that see smaller crops train for more steps, so every row sees the same pixels."""


def row_config(row: str, root: str, steps: int, recipe: str = "people"):
    """The recipe with the row's change, cut to one stage of ``steps`` steps at the recipe's
    first learning rate, validated every 100 steps."""
    path, rows = RECIPES[recipe]
    if row not in rows:
        raise ValueError(f"unknown ablation row {row!r} of the {recipe} recipe (known: {', '.join(rows)})")
    overrides = [f"data.root={root!r}"]
    for key, value in rows[row].items():
        text = repr(value) if isinstance(value, str) else str(value).lower()
        overrides.append(f"{key}={text}")
    cfg = load_config(path, overrides)
    steps *= STEP_SCALE.get(row, 1)
    per_epoch = min(100 * STEP_SCALE.get(row, 1), steps)
    first = cfg.stages[0]
    cfg.stages = [StageConfig("ablation", epochs=-(-steps // per_epoch), lr=first.lr, pfe=first.pfe)]
    cfg.run = dataclasses.replace(cfg.run, steps_per_epoch=per_epoch, max_steps=0,
                                  max_minutes=0.0, val_limit=min(cfg.run.val_limit or 48, 48))
    return cfg


def train_row(row: str, root: str, steps: int, out: Path, recipe: str = "people") -> Path:
    """Trains (or resumes) one row; returns its best checkpoint copied to ``out/<row>.safetensors``."""
    from .trainer import Trainer

    run_dir = out / row
    cfg = row_config(row, root, steps, recipe)
    resume = (run_dir / "resume.safetensors").is_file()
    Trainer(cfg, run_dir, resume=resume).fit()
    best = out / f"{row}.safetensors"
    shutil.copyfile(run_dir / "best.safetensors", best)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.ablation", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-root", required=True, help="a phnet-corpus folder")
    p.add_argument("--out", required=True, help="run folder (one sub-folder per row)")
    p.add_argument("--steps", type=int, default=300, help="training steps per row (default 300)")
    p.add_argument("--recipe", default="people", choices=sorted(RECIPES),
                   help="people: the previous lite's recipe and rows; relight: the camera's")
    p.add_argument("--rows", default=None,
                   help=f"comma-separated (default: all of the recipe's): people: {', '.join(ROWS)}; "
                        f"relight: {', '.join(RELIGHT_ROWS)}")
    p.add_argument("--eval-only", action="store_true", help="evaluate the rows' checkpoints already in --out")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    table = RECIPES[args.recipe][1]
    rows = [r.strip() for r in (args.rows or ",".join(table)).split(",") if r.strip()]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        for row in rows:
            row_config(row, args.data_root, args.steps, args.recipe)  # refuse a bad row first
        checkpoints = []
        for row in rows:
            if args.eval_only:
                checkpoints.append(out / f"{row}.safetensors")
            else:
                log.info("ablation row %s: %d steps", row, args.steps)
                checkpoints.append(train_row(row, args.data_root, args.steps, out, args.recipe))
    except (ValueError, FileNotFoundError) as exc:
        print(f"ablation: {exc}", file=sys.stderr)
        return 2
    from .eval.evaluate import eval_main

    if args.recipe == "relight":
        argv = ["--heldout", "--data-root", args.data_root, "--methods", "composite,light,phnet",
                "--draws", "1", "--scenes", "1"]
    else:
        argv = ["--people", "--data-root", args.data_root, "--split", "val", "--size", "256",
                "--no-temporal", "--methods", "composite,colortransfer,phnet"]
    argv += ["--no-progress", "--markdown", str(out / "ablation.md"),
             "--json", str(out / "ablation.json")]
    for ck in checkpoints:
        argv += ["--checkpoint", str(ck)]
    return eval_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
