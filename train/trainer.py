"""The PHNet trainer: paper §5.1 stages, Lion, mixed precision on CUDA, torchrun data parallel,
exact resume, CSV logs with a PNG plot, per-epoch validation, best checkpoint by val fPSNR
(or by the mean fMSE of chosen validation subsets, ``run.select_on``).

Run directory layout (only rank 0 writes):

``resume.safetensors``  model, optimiser and RNG state + position (stage, epoch, batch); no pickle
``best.safetensors``    the model with the best validation fPSNR so far (``phnet.load`` reads it)
``last.safetensors``    the model at the last epoch end
``train.csv``           one row per logged step; ``val.csv`` one row per validation
``curves.png``          loss, train PSNR and validation fPSNR against the step
``config.json``         the resolved training config

Exact resume: the order of samples is a pure function of (seed, epoch, rank), every synthetic
sample of (index, epoch), and the RNG and optimiser states travel in ``resume.safetensors``; a
run stopped at step k and resumed reaches the same weights as one that never stopped.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors import safe_open
from safetensors.torch import save_file
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

import phnet
from phnet.light import move_batch
from phnet.network import PHNet

from .config import StageConfig, TrainConfig
from .data.build import build_dataset
from .losses import phnet_loss, psnr_per_image
from .eval.metrics import MetricAccumulator, batch_metrics

log = logging.getLogger(__name__)

def network_input(model: PHNet, batch: dict) -> torch.Tensor:
    """What the network sees of a batch: the composite, with the person first moved from the
    captured room's light to the scene's for a model trained that way (``light_prior``), as
    ``phnet.Harmonizer`` does in the camera. ``(N, 3, H, W)`` float32 on the CPU."""
    comp = batch["composite"]
    if not model.config.light_prior or "captured" not in batch:
        return comp
    moved = move_batch(comp.float().numpy(), batch["mask"].float().numpy(),
                       batch["captured"].float().numpy())
    return torch.from_numpy(moved)


TRAIN_FIELDS = ["step", "stage", "epoch", "lr", "loss", "l_psnr", "l_fnmse", "l_grad", "psnr", "seconds"]
VAL_FIELDS = ["step", "stage", "epoch", "mse", "fmse", "psnr", "fpsnr", "n", "select_fmse"]


@dataclass
class Position:
    """Where training stands: the next batch to run is ``batch`` of ``epoch`` of ``stage``."""

    stage: int = 0
    epoch: int = 0
    batch: int = 0
    step: int = 0
    best_fpsnr: float = -math.inf
    best_select: float = math.inf
    """Best mean fMSE of the ``run.select_on`` subsets so far."""
    seconds: float = 0.0


def selection_fmse(summary: dict, select_on: str) -> float | None:
    """Mean fMSE over the images of the named validation subsets (``"people,identity"``), or
    None when ``select_on`` is empty or none of them has a foreground image."""
    names = [n.strip() for n in select_on.split(",") if n.strip()]
    total = count = 0.0
    for name in names:
        group = summary["subsets"].get(name)
        if group and group.get("fmse") is not None and group.get("n_fg"):
            total += group["fmse"] * group["n_fg"]
            count += group["n_fg"]
    return total / count if count else None


class Distributed:
    """Rank and world size from torchrun's environment; a single process otherwise."""

    def __init__(self, device: torch.device):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.enabled = self.world > 1
        if self.enabled and not dist.is_initialized():
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def epoch_order(n: int, seed: int, epoch: int, rank: int, world: int) -> list[int]:
    """This rank's share of a seeded permutation of ``range(n)`` for ``epoch``."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    usable = len(perm) - len(perm) % world
    return perm[rank:usable:world]


class Trainer:
    """Trains a PHNet by ``cfg`` into ``out_dir``; ``fit()`` returns the best checkpoint's path."""

    def __init__(self, cfg: TrainConfig, out_dir: str | Path, resume: bool = False):
        self.cfg = cfg
        self.out = Path(out_dir)
        want = cfg.run.device
        if want == "auto":
            want = "cuda" if torch.cuda.is_available() else "cpu"
        self.dist = Distributed(torch.device(want))
        self.device = torch.device(want)
        if self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        torch.manual_seed(cfg.run.seed)
        self.model: PHNet = phnet.build(cfg.model.name, **cfg.model.overrides()).to(self.device)
        self.train_set = build_dataset(cfg.data, "train")
        self.val_set = build_dataset(cfg.data, "val")
        if len(self.train_set) == 0:
            raise ValueError(f"the training split of {cfg.data.root or cfg.data.kind!r} is empty")
        for name, ds in (("train", self.train_set), ("val", self.val_set)):
            skipped = getattr(ds, "skipped", [])
            if skipped and self.dist.main:
                log.warning("%s split: skipped %d unreadable files, e.g. %s", name, len(skipped), skipped[0])
        self.pos = Position()
        self.optimizer_state: dict | None = None
        if resume:
            self._load_resume()
        elif self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
        self.amp = cfg.optim.amp and self.device.type == "cuda"

    # ----------------------------------------------------------------- stages and optimiser

    def _configure_stage(self, stage: StageConfig) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
        from lion_pytorch import Lion

        model = self.model
        model.pfe_enabled = stage.pfe and model.pfe is not None
        for p in model.parameters():
            p.requires_grad_(True)
        if stage.freeze_encoder:
            for p in model.encoder.parameters():
                p.requires_grad_(False)
        if model.pfe is not None and not model.pfe_enabled:
            for p in model.pfe.parameters():
                p.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        opt = Lion(params, lr=stage.lr, betas=self.cfg.optim.betas, weight_decay=self.cfg.optim.weight_decay)
        if self.optimizer_state is not None:
            opt.load_state_dict(self.optimizer_state)
            self.optimizer_state = None
        wrapped: torch.nn.Module = model
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = DistributedDataParallel(model, device_ids=ids)
        return wrapped, opt

    def _loader(self, epoch_global: int, skip_batches: int) -> tuple[DataLoader, int]:
        cfg = self.cfg
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch_global)
        order = epoch_order(len(self.train_set), cfg.run.seed, epoch_global, self.dist.rank, self.dist.world)
        bs = cfg.optim.batch_size
        batches = len(order) // bs
        if cfg.run.steps_per_epoch:
            batches = min(batches, cfg.run.steps_per_epoch)
        if batches == 0:
            raise ValueError(
                f"the training split has {len(order)} samples per process, fewer than one batch "
                f"of {bs}: lower optim.batch_size or add data"
            )
        order = order[skip_batches * bs : batches * bs]
        loader = DataLoader(
            self.train_set, batch_size=bs, sampler=order, num_workers=cfg.run.workers,
            drop_last=True, pin_memory=self.device.type == "cuda",
        )
        return loader, batches

    # ----------------------------------------------------------------- the loop

    def fit(self) -> Path:
        cfg = self.cfg
        start = time.monotonic() - self.pos.seconds
        deadline = start + cfg.run.max_minutes * 60 if cfg.run.max_minutes else math.inf
        epochs_before = [sum(s.epochs for s in cfg.stages[:i]) for i in range(len(cfg.stages))]
        stopped = False
        try:
            while self.pos.stage < len(cfg.stages) and not stopped:
                stage = cfg.stages[self.pos.stage]
                model, opt = self._configure_stage(stage)
                while self.pos.epoch < stage.epochs and not stopped:
                    stopped = self._run_epoch(model, opt, stage, epochs_before[self.pos.stage], start, deadline)
                    if not stopped:
                        self._validate(stage)
                        self.pos.epoch += 1
                        self.pos.batch = 0
                        self.pos.seconds = time.monotonic() - start
                        self._save_resume(opt)
                if not stopped:
                    self.pos.stage += 1
                    self.pos.epoch = 0
            if stopped:
                self.pos.seconds = time.monotonic() - start
                self._save_resume(opt)
                if self.dist.main:
                    log.info("stopped after %.1f min at step %d (resume with --resume)",
                             self.pos.seconds / 60, self.pos.step)
        finally:
            self.dist.barrier()
            self.dist.close()
        return self.out / "best.safetensors"

    def _run_epoch(self, model, opt, stage: StageConfig, epoch_offset: int, start: float, deadline: float) -> bool:
        """Runs the rest of the current epoch; True when the time limit stopped it."""
        from tqdm import tqdm

        cfg = self.cfg
        loader, batches = self._loader(epoch_offset + self.pos.epoch, self.pos.batch)
        model.train()
        if stage.freeze_encoder:
            self.model.encoder.eval()
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
        bar = tqdm(total=batches, initial=self.pos.batch, disable=not self.dist.main, leave=False,
                   desc=f"{stage.name} {self.pos.epoch + 1}/{stage.epochs}")
        rows = []
        try:
            for batch in loader:
                comp = network_input(self.model, batch).to(self.device, non_blocking=True)
                mask = batch["mask"].to(self.device, non_blocking=True)
                real = batch["real"].to(self.device, non_blocking=True)
                with autocast:
                    out = model(comp, mask)
                terms = phnet_loss(out.image.float(), out.raw.float(), real, mask)
                opt.zero_grad(set_to_none=True)
                terms.total.backward()
                if cfg.optim.grad_clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
                opt.step()
                self.pos.batch += 1
                self.pos.step += 1
                psnr = psnr_per_image(out.image.detach().float(), real).mean().item()
                bar.update(1)
                bar.set_postfix(loss=f"{terms.total.item():.4f}", psnr=f"{psnr:.2f}")
                if self.pos.step % cfg.run.log_every == 0:
                    rows.append([self.pos.step, stage.name, self.pos.epoch, stage.lr, terms.total.item(),
                                 terms.psnr.item(), terms.fn_mse.item(), terms.grad.item(), psnr,
                                 round(time.monotonic() - start, 1)])
                if cfg.run.checkpoint_every and self.pos.step % cfg.run.checkpoint_every == 0:
                    self.pos.seconds = time.monotonic() - start
                    self._save_resume(opt)
                if time.monotonic() > deadline or self.pos.step == cfg.run.max_steps:
                    return True
            return False
        finally:
            bar.close()
            self._append_csv("train.csv", TRAIN_FIELDS, rows)

    @torch.no_grad()
    def _validate(self, stage: StageConfig) -> None:
        """Validation on rank 0 (fMSE / fPSNR on 0-255, masks binarised); best checkpoint kept."""
        if not self.dist.main:
            return
        meta = {"step": str(self.pos.step), "stage": stage.name, "data": self.cfg.data.kind,
                "train_config": json.dumps(self.cfg.to_dict())}
        if len(self.val_set) == 0:
            log.warning("no validation split: best.safetensors is the last model")
            for name in ("last.safetensors", "best.safetensors"):
                phnet.save(self.model, self.out / name, metadata=meta)
            self.plot()
            return
        self.model.eval()
        acc = MetricAccumulator()
        limit = self.cfg.run.val_limit or len(self.val_set)
        loader = DataLoader(self.val_set, batch_size=self.cfg.optim.batch_size,
                            sampler=list(range(min(limit, len(self.val_set)))),
                            num_workers=self.cfg.run.workers)
        for batch in loader:
            out = self.model(network_input(self.model, batch).to(self.device),
                             batch["mask"].to(self.device))
            for m, subset in zip(batch_metrics(out.image.float(), batch["real"], batch["mask"]), batch["subset"]):
                acc.add(m, subset)
        summary = acc.summary()
        s = summary["overall"]
        select = selection_fmse(summary, self.cfg.run.select_on)
        self._append_csv("val.csv", VAL_FIELDS, [[self.pos.step, stage.name, self.pos.epoch, s["mse"],
                                                  s["fmse"], s["psnr"], s["fpsnr"], s["n"], select]])
        log.info("val after step %d: MSE %.2f fMSE %.2f PSNR %.2f fPSNR %.2f (n=%d)%s",
                 self.pos.step, s["mse"], s["fmse"] or float("nan"), s["psnr"], s["fpsnr"] or float("nan"), s["n"],
                 f"; {self.cfg.run.select_on} fMSE {select:.2f}" if select is not None else "")
        meta["val_fpsnr"] = f"{s['fpsnr']:.4f}"
        phnet.save(self.model, self.out / "last.safetensors", metadata=meta)
        if self.cfg.run.select_on:
            better = select is not None and select < self.pos.best_select
            if better:
                self.pos.best_select = select
                meta["val_select_fmse"] = f"{select:.4f}"
        else:
            better = s["fpsnr"] is not None and s["fpsnr"] > self.pos.best_fpsnr
        if s["fpsnr"] is not None:
            self.pos.best_fpsnr = max(self.pos.best_fpsnr, s["fpsnr"])
        if better:
            phnet.save(self.model, self.out / "best.safetensors", metadata=meta)
        self.plot()
        self.model.train()

    # ----------------------------------------------------------------- state on disk

    def _save_resume(self, opt: torch.optim.Optimizer) -> None:
        if not self.dist.main:
            return
        tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        osd = opt.state_dict()
        for idx, st in osd["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim.{idx}.{key}"] = val.detach().cpu().contiguous()
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {
            "position": json.dumps(self.pos.__dict__),
            "param_groups": json.dumps(osd["param_groups"]),
            "config": json.dumps(self.cfg.to_dict()),
        }
        tmp = self.out / "resume.safetensors.tmp"
        save_file(tensors, str(tmp), metadata=meta)
        os.replace(tmp, self.out / "resume.safetensors")

    def _load_resume(self) -> None:
        path = self.out / "resume.safetensors"
        if not path.is_file():
            raise FileNotFoundError(f"cannot resume: {path} does not exist")
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        saved = json.loads(meta["config"])
        if saved["model"] != self.cfg.to_dict()["model"]:
            raise ValueError(f"cannot resume {path}: it trains {saved['model']}, the config asks for "
                             f"{self.cfg.to_dict()['model']}")
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        self.pos = Position(**json.loads(meta["position"]))
        state: dict[int, dict] = {}
        for k, v in tensors.items():
            if k.startswith("optim."):
                _, idx, key = k.split(".", 2)
                state.setdefault(int(idx), {})[key] = v.to(self.device)
        self.optimizer_state = {"state": state, "param_groups": json.loads(meta["param_groups"])}
        torch.set_rng_state(tensors["rng.torch"])
        if "rng.cuda" in tensors and torch.cuda.is_available():
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        if self.dist.main:
            log.info("resuming %s at stage %d epoch %d batch %d (step %d)", path,
                     self.pos.stage, self.pos.epoch, self.pos.batch, self.pos.step)

    def _append_csv(self, name: str, fields: list[str], rows: list[list]) -> None:
        if not self.dist.main or not rows:
            return
        path = self.out / name
        new = not path.exists()
        with path.open("a", newline="") as fh:
            w = csv.writer(fh)
            if new:
                w.writerow(fields)
            w.writerows(rows)

    def plot(self) -> Path | None:
        """Writes ``curves.png`` from the CSV logs (rank 0)."""
        return plot_curves(self.out) if self.dist.main else None


def plot_curves(run_dir: Path) -> Path | None:
    """Loss and PSNR against the step from ``train.csv``, validation fPSNR from ``val.csv``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def read(name: str) -> list[dict]:
        p = run_dir / name
        return list(csv.DictReader(p.open())) if p.exists() else []

    train, val = read("train.csv"), read("val.csv")
    if not train:
        return None
    select = [(int(r["step"]), float(r["select_fmse"])) for r in val if r.get("select_fmse")]
    fig, axes = plt.subplots(1, 3 if select else 2, figsize=(15 if select else 10, 3.6))
    a, b = axes[0], axes[1]
    steps = [int(r["step"]) for r in train]
    a.plot(steps, [float(r["loss"]) for r in train])
    a.set_xlabel("step")
    a.set_ylabel("loss (Eq. 15)")
    a.set_yscale("log")
    b.plot(steps, [float(r["psnr"]) for r in train], label="train PSNR (batch, peak 1)", alpha=0.6)
    if val:
        b.plot([int(r["step"]) for r in val], [float(r["fpsnr"]) for r in val], "o-", label="val fPSNR")
    b.set_xlabel("step")
    b.set_ylabel("dB")
    b.legend()
    if select:
        c = axes[2]
        c.plot(*zip(*select), "o-", color="tab:green", label="val fMSE of run.select_on")
        c.set_xlabel("step")
        c.set_ylabel("fMSE (lower is better; picks best)")
        c.legend()
    fig.tight_layout()
    path = run_dir / "curves.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
