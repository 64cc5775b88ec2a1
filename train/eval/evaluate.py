"""``phnet-eval``: PHNet checkpoints against the composite and colour-transfer baselines.

Every method sees the same images in the same way and is scored by ``train.eval.metrics`` with the
conventions named in the report. Two ways to feed the images:

- frame path (default, and the only one at native size): the composite and the ground truth are
  rounded to uint8 RGB (as 8-bit files are), each method is called as a frame,
  ``out = h(composite_uint8_HxWx3, mask_float32_HxW)`` after ``h.reset()``, so every image is
  its own one-frame video, and the uint8 output is scored against the uint8 ground truth. For
  PHNet this is ``Harmonizer.__call__``: working resolution, guided upsampling, mask blend.
- tensor path (``--tensor-path``, fixed sizes only): float [0, 1] tensors go through
  ``Harmonizer.harmonize_batch`` at the data set's size, scored against the float ground truth
  without rounding (the training-validation setting). Colour transfer has no tensor path and
  still runs on uint8; the composite is scored as float.

``--temporal`` switches to the synthetic-video evaluation of ``train.eval.temporal``; ``--people``
to the four measurements on a corpus's held-out real people (:mod:`train.eval.people`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .metrics import BUCKETS, MetricAccumulator, MetricConfig, tensor_to_image, tensor_to_mask
from .temporal import VideoConfig, evaluate_temporal, format_temporal_markdown, make_video

log = logging.getLogger(__name__)

KNOWN_METHODS = ("composite", "colortransfer", "light", "phnet")
DEFAULT_METHODS = "composite,colortransfer,phnet"

SCENARIOS: dict[str, dict] = {
    # A webcam's auto-exposure / white balance: the person's colours jitter, the mask is clean.
    "exposure": {"jitter": 0.03, "mask_jitter_px": 0},
    # A segmenter's edge: the person's colours only drift, the mask jitters by up to 2 px.
    "segmentation": {"jitter": 0.0, "mask_jitter_px": 2},
    "both": {"jitter": 0.03, "mask_jitter_px": 2},
}
"""Temporal evaluation presets (``VideoConfig`` fields)."""


class Composite:
    """The unharmonised baseline: returns the composite (frame and tensor paths)."""

    def __call__(self, composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.array(composite, copy=True)

    def harmonize_batch(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        return images.float()

    def reset(self) -> None:
        pass

    def info(self) -> dict:
        return {"method": "composite", "note": "identity (unharmonised composite)"}


@dataclass
class EvalResult:
    """What ``evaluate_dataset`` measured: per method the ``MetricAccumulator`` summary (overall,
    per subset, per bucket), what ran (``info``), the time it took, and the setting."""

    dataset: dict = field(default_factory=dict)
    path: str = "frame"
    metric: dict = field(default_factory=dict)
    methods: dict[str, dict] = field(default_factory=dict)
    info: dict[str, dict] = field(default_factory=dict)
    seconds_per_image: dict[str, float] = field(default_factory=dict)
    per_image: dict[str, list] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.per_image:
            d.pop("per_image")
        return d


def _as_list(batch):
    return batch


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) float [0, 1] -> RGB uint8 HxWx3 (rounded)."""
    return x.detach().float().mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()


def evenly_spaced(n: int, limit: int | None) -> list[int]:
    """``limit`` indices spread evenly over ``range(n)`` (all of them when ``limit`` is None or
    >= n), so a limited run still samples every subset of a concatenated data set."""
    if limit is None or limit >= n:
        return list(range(n))
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    return [int(i) for i in np.linspace(0, n - 1, num=limit).astype(np.int64)]


def evaluate_dataset(
    dataset,
    harmonisers: dict[str, object],
    metric: MetricConfig | None = None,
    path: str = "frame",
    limit: int | None = None,
    batch_size: int = 8,
    workers: int = 0,
    keep_records: bool = False,
    progress: bool = False,
    describe: dict | None = None,
) -> EvalResult:
    """Scores every harmoniser on ``dataset`` (items as ``train.data.base``: ``composite``/``real``
    (3, H, W) float [0, 1], ``mask`` (1, H, W), ``name``, ``subset``).

    ``harmonisers`` maps a label to an object with the frame call shape (``reset()``, ``info()``);
    for ``path="tensor"`` one with ``harmonize_batch`` runs on tensors. Raises ``ValueError`` for an
    empty data set.
    """
    if path not in ("frame", "tensor"):
        raise ValueError(f"path must be 'frame' or 'tensor', got {path!r}")
    if not harmonisers:
        raise ValueError("no methods to evaluate")
    n = len(dataset)
    if n == 0:
        raise ValueError(f"the data set is empty ({describe or type(dataset).__name__})")
    cfg = metric or MetricConfig()
    indices = evenly_spaced(n, limit)
    accs = {k: MetricAccumulator(cfg, keep_records=keep_records) for k in harmonisers}
    secs = dict.fromkeys(harmonisers, 0.0)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=indices, num_workers=workers, collate_fn=_as_list
    )
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(indices), desc="eval", unit="img")
    for items in loader:
        if path == "frame":
            _frame_batch(items, harmonisers, accs, secs)
        else:
            _tensor_batch(items, harmonisers, accs, secs)
        if bar is not None:
            bar.update(len(items))
    if bar is not None:
        bar.close()
    res = EvalResult(dataset=dict(describe or {}, n=len(indices)), path=path, metric=cfg.to_dict())
    for label, h in harmonisers.items():
        res.methods[label] = accs[label].summary()
        info = getattr(h, "info", None)
        res.info[label] = info() if callable(info) else {"method": label}
        res.seconds_per_image[label] = secs[label] / len(indices)
        if keep_records:
            res.per_image[label] = accs[label].records
    return res


def _frame_batch(items: Sequence[dict], harmonisers: dict, accs: dict, secs: dict) -> None:
    for item in items:
        comp = _to_uint8(item["composite"])
        real = _to_uint8(item["real"])
        mask = np.ascontiguousarray(tensor_to_mask(item["mask"]), dtype=np.float32)
        for label, h in harmonisers.items():
            if hasattr(h, "reset"):
                h.reset()
            t0 = time.perf_counter()
            out = h(comp, mask)
            secs[label] += time.perf_counter() - t0
            accs[label].update(out, real, mask, item.get("subset", ""), item.get("name", ""))


def _tensor_batch(items: Sequence[dict], harmonisers: dict, accs: dict, secs: dict) -> None:
    # Items of one batch share a size only when the data set has a fixed size; group anyway.
    groups: dict[tuple, list[dict]] = {}
    for item in items:
        groups.setdefault(tuple(item["composite"].shape), []).append(item)
    for group in groups.values():
        comps = torch.stack([it["composite"] for it in group]).float()
        masks = torch.stack([it["mask"] for it in group]).float()
        for label, h in harmonisers.items():
            t0 = time.perf_counter()
            if hasattr(h, "harmonize_batch"):
                with torch.inference_mode():
                    outs = [tensor_to_image(o) for o in h.harmonize_batch(comps, masks).clamp(0.0, 1.0)]
            else:
                outs = []
                for it in group:
                    if hasattr(h, "reset"):
                        h.reset()
                    outs.append(h(_to_uint8(it["composite"]),
                                  np.ascontiguousarray(tensor_to_mask(it["mask"]), dtype=np.float32)))
            secs[label] += time.perf_counter() - t0
            for it, out in zip(group, outs):
                accs[label].update(out, tensor_to_image(it["real"]), tensor_to_mask(it["mask"]),
                                   it.get("subset", ""), it.get("name", ""))


# ---------------------------------------------------------------------------- reports


def _fmt(x, digits: int = 2) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _row(d: dict) -> str:
    return f"{d['n']} | {_fmt(d['mse'])} | {_fmt(d['fmse'])} | {_fmt(d['psnr'])} | {_fmt(d['fpsnr'])}"


def format_markdown(res: EvalResult, title: str = "PHNet evaluation") -> str:
    """Markdown report: the setting and every convention in the header, then overall, per-subset
    and per-foreground-ratio tables with all methods side by side, then what each method ran."""
    cfg = MetricConfig(**res.metric)
    ds = res.dataset
    size = ds.get("size")
    size_text = "native size" if size is None else f"{size}x{size}"
    path_text = (
        "frame path (uint8 round trip, each image a one-frame video)"
        if res.path == "frame"
        else "tensor path (float, no rounding; colour transfer on uint8)"
    )
    where = " ".join(str(ds[k]) for k in ("kind", "split") if ds.get(k))
    peak = cfg.peak
    capped = sum(m["overall"]["n_capped"] for m in res.methods.values())
    lines = [
        f"# {title}: {where} ({ds.get('n', '?')} images, {size_text}, {path_text})",
        "",
        cfg.describe() + f" Capped values in this run: {capped}.",
        "",
        "## Overall",
        "",
        f"| Method | n | MSE ↓ | fMSE ({cfg.fmse}) ↓ | PSNR (peak {peak}) ↑ | fPSNR (peak {peak}) ↑ | ms/image |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, s in res.methods.items():
        lines.append(f"| {label} | {_row(s['overall'])} | {1000.0 * res.seconds_per_image.get(label, 0.0):.1f} |")
    head = f"| n | MSE ↓ | fMSE ({cfg.fmse}) ↓ | PSNR (peak {peak}) ↑ | fPSNR (peak {peak}) ↑ |"
    lines += ["", "## Per subset", "", "| Subset | Method " + head, "|---|---|---:|---:|---:|---:|---:|"]
    subsets = sorted({k for s in res.methods.values() for k in s["subsets"]})
    for sub in subsets:
        for label, s in res.methods.items():
            if sub in s["subsets"]:
                lines.append(f"| {sub} | {label} | {_row(s['subsets'][sub])} |")
    lines += [
        "",
        "## Per foreground ratio (paper Table 5)",
        "",
        "| Foreground | Method " + head,
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for bucket, _, _ in BUCKETS:
        for label, s in res.methods.items():
            lines.append(f"| {bucket} | {label} | {_row(s['buckets'][bucket])} |")
    lines += ["", "## Methods", ""]
    for label, info in res.info.items():
        lines.append(f"- `{label}`: " + ", ".join(f"{k}={v}" for k, v in info.items()))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="phnet-eval",
        description="Evaluate PHNet checkpoints (.safetensors) or ONNX graphs against the composite "
        "and colour-transfer baselines: MSE, fMSE, PSNR, fPSNR overall, per subset and per "
        "foreground ratio; or, with --temporal, flicker on synthetic video with known motion.",
    )
    d = p.add_argument_group("data")
    d.add_argument("--data-kind", choices=("synthetic", "ffhqh", "iharmony4", "corpus"),
                   help="data set layout (train.data.base.DataConfig.kind)")
    d.add_argument("--data-root", help="data set root folder")
    d.add_argument("--split", default="test", choices=("train", "val", "test"))
    d.add_argument("--size", default=None,
                   help="square size the data set resizes to, or 'native' for full resolution "
                   "(default: 256; temporal mode: native)")
    d.add_argument("--masks", help="mask source for the synthetic data set (DataConfig.masks)")
    d.add_argument("--subsets", help="comma-separated subsets (iHarmony4), default all")
    d.add_argument("--limit", type=int, help="evaluate N images spread evenly over the split")
    d.add_argument("--workers", type=int, default=0, help="data loader worker processes")
    d.add_argument("--batch-size", type=int, default=8, help="images loaded (and, on the tensor path, run) at once")
    d.add_argument("--data-seed", type=int, help="DataConfig.seed")
    m = p.add_argument_group("methods")
    m.add_argument("--methods", default=None,
                   help=f"comma-separated, of {', '.join(KNOWN_METHODS)} (default: all; phnet only with --checkpoint)")
    m.add_argument("--checkpoint", action="append", default=[],
                   help="PHNet .safetensors or .onnx file (repeat to compare several)")
    m.add_argument("--backend", default="auto", choices=("auto", "torch", "onnxruntime"))
    m.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    m.add_argument("--resolution", type=int, help="PHNet working resolution (default: the checkpoint's)")
    m.add_argument("--tensor-path", action="store_true",
                   help="run PHNet on float tensors at the data set's size (harmonize_batch) instead of frames")
    c = p.add_argument_group("metric conventions")
    c.add_argument("--fmse", default="idih", choices=("idih", "iharmony4"),
                   help="fMSE weight M (idih, paper Eq. 16) or M^2 (iharmony4, Eq. 17); equal on binary masks")
    c.add_argument("--peak", default="target-max", choices=("target-max", "255"),
                   help="PSNR peak: max of the target image (the paper's) or 255")
    c.add_argument("--soft-masks", action="store_true", help="do not binarise masks at 0.5")
    c.add_argument("--psnr-cap", type=float, default=100.0, help="PSNR reported for an error of 0 (dB)")
    pp = p.add_argument_group("people (a phnet-corpus folder as --data-root)")
    pp.add_argument("--people", action="store_true",
                    help="recolour, identity, new backgrounds and temporal on the corpus's held-out people")
    pp.add_argument("--samples", type=int, default=4,
                    help="perturbed versions of each person for recolour (default 4)")
    pp.add_argument("--no-temporal", action="store_true",
                    help="leave out the temporal measurement (the slowest)")
    pp.add_argument("--scenes", type=int, default=3,
                    help="scene photos of the split added to the bundled backgrounds (default 3)")
    h = p.add_argument_group("held-out people, as the camera runs (a phnet-corpus folder as --data-root)")
    h.add_argument("--heldout", action="store_true",
                   help="identity, relight, recolour, bright/dim rooms, blur, relight clips and new "
                        "backgrounds on people from sources no training picture came from, per source")
    h.add_argument("--sources", default=None,
                   help="comma-separated corpus sources to judge (default: train.eval.heldout's)")
    h.add_argument("--draws", type=int, default=2, help="lights / recolourings per test and photo")
    h.add_argument("--clip-frames", type=int, default=16, help="frames of each relight clip")
    t = p.add_argument_group("temporal (synthetic video)")
    t.add_argument("--temporal", action="store_true", help="evaluate flicker on synthetic video instead")
    t.add_argument("--scenarios", default="exposure,segmentation",
                   help=f"comma-separated presets of {', '.join(SCENARIOS)}")
    t.add_argument("--clips", type=int, default=4, help="stills (clips) taken from the data set")
    t.add_argument("--frames", type=int, default=48)
    t.add_argument("--video-size", type=int, default=256,
                   help="long side the stills are resized to before making clips (0: keep)")
    t.add_argument("--smooth-momentum", type=float, default=0.2,
                   help="momentum of the smoothed PHNet and colour-transfer variants (1.0 = none)")
    t.add_argument("--image", help="a photo to make clips from instead of a data set")
    t.add_argument("--mask", help="the person mask of --image (grey, 255 = person)")
    t.add_argument("--seed", type=int, default=0, help="seed of the clips' motion and gains")
    o = p.add_argument_group("output")
    o.add_argument("--markdown", help="write the Markdown report here (it is also logged)")
    o.add_argument("--json", help="write the results as JSON here")
    o.add_argument("--per-image", action="store_true", help="keep per-image metrics in the JSON")
    o.add_argument("--grid", help="write a PNG grid of examples here (composite | methods | real)")
    o.add_argument("--grid-count", type=int, default=6, help="examples in the grid (default 6)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _parse_methods(p: argparse.ArgumentParser, args) -> list[str]:
    if args.methods is None:
        names = ["composite", "colortransfer"] + (["phnet"] if args.checkpoint else [])
    else:
        names = [s.strip() for s in args.methods.split(",") if s.strip()]
    unknown = [n for n in names if n not in KNOWN_METHODS]
    if unknown or not names:
        p.error(f"--methods must name some of {', '.join(KNOWN_METHODS)}, got {args.methods!r}")
    if "phnet" in names and not args.checkpoint:
        p.error("method phnet needs --checkpoint PATH (a .safetensors or .onnx file)")
    if args.checkpoint and "phnet" not in names:
        log.warning("--checkpoint given but phnet is not in --methods: it is not evaluated")
    for ck in args.checkpoint:
        if not Path(ck).is_file():
            p.error(f"checkpoint {ck} does not exist")
        if Path(ck).suffix not in (".safetensors", ".onnx"):
            p.error(f"checkpoint {ck} must be a .safetensors or .onnx file")
    return names


def _load_phnets(args, momenta: Iterable[float]) -> dict[str, object]:
    """One Harmonizer per checkpoint and momentum, labelled ``phnet[:stem][ m=...]``."""
    from phnet import Harmonizer

    out = {}
    momenta = list(momenta)
    for i, ck in enumerate(args.checkpoint):
        base = "phnet"
        if len(args.checkpoint) > 1:
            stems = [Path(c).stem for c in args.checkpoint]
            names = [Path(c).name for c in args.checkpoint]
            base = f"phnet:{stems[i]}" if stems.count(stems[i]) == 1 else f"phnet:{names[i]}"
            if names.count(names[i]) > 1:
                base += f"#{i + 1}"
        for mo in momenta:
            label = base if len(momenta) == 1 else f"{base} m={mo:g}"
            out[label] = Harmonizer.load(ck, device=args.device, backend=args.backend,
                                         resolution=args.resolution, momentum=mo)
    return out


def _data_config(args, size):
    from ..data.base import DataConfig

    opts = {
        "kind": args.data_kind,
        "root": args.data_root,
        "masks": args.masks,
        "size": size,
        "subsets": tuple(s.strip() for s in args.subsets.split(",")) if args.subsets else None,
        "seed": args.data_seed,
    }
    # Unset options never reach the constructor: every default lives in DataConfig.
    known = {f.name for f in dataclasses.fields(DataConfig)}
    kwargs = {k: v for k, v in opts.items() if k in known and (v is not None or k == "size")}
    return DataConfig(**kwargs)


def _parse_size(p: argparse.ArgumentParser, text: str | None, default: int | None) -> int | None:
    if text is None:
        return default
    if text.lower() == "native":
        return None
    try:
        size = int(text)
    except ValueError:
        p.error(f"--size must be a number of pixels or 'native', got {text!r}")
    if size < 8:
        p.error(f"--size must be at least 8, got {size}")
    return size


def _write_outputs(args, markdown: str, data: dict) -> None:
    log.info("\n%s", markdown)
    if args.markdown:
        Path(args.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(args.markdown).write_text(markdown, encoding="utf-8")
        log.info("Markdown report written to %s", args.markdown)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(data, indent=2, default=_json_default), encoding="utf-8")
        log.info("JSON results written to %s", args.json)


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def eval_main(argv: list[str] | None = None) -> int:
    """``phnet-eval``; returns the exit status (2 for unusable input)."""
    p = _parser()
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    names = _parse_methods(p, args)
    metric = MetricConfig(fmse=args.fmse, peak=args.peak,
                          mask_threshold=None if args.soft_masks else 0.5, psnr_cap=args.psnr_cap)
    if args.heldout:
        from .outofsource import heldout_command

        if not args.data_root:
            p.error("--heldout needs --data-root (a corpus folder made by phnet-corpus)")
        return heldout_command(args, names)
    if args.people:
        return _people(p, args, names, metric)
    if args.temporal:
        return _temporal(p, args, names, metric)
    if not args.data_kind or not args.data_root:
        p.error("--data-kind and --data-root are required")
    size = _parse_size(p, args.size, 256)
    if args.tensor_path and size is None:
        p.error("--tensor-path needs a fixed --size (a multiple of 8), not native")
    if args.tensor_path and size % 8:
        p.error(f"--tensor-path needs --size a multiple of 8, got {size}")
    try:
        methods = _methods(names, args)
        from ..data.build import build_dataset

        data_cfg = _data_config(args, size)
        dataset = build_dataset(data_cfg, args.split)
        describe = {"kind": args.data_kind, "root": str(args.data_root), "split": args.split, "size": size}
        res = evaluate_dataset(
            dataset, methods, metric, path="tensor" if args.tensor_path else "frame",
            limit=args.limit, batch_size=args.batch_size, workers=args.workers,
            keep_records=args.per_image, progress=not args.no_progress, describe=describe,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        log.error("phnet-eval: %s", exc)
        return 2
    _write_outputs(args, format_markdown(res), res.to_dict())
    if args.grid:
        from .grid import example_grid

        picks = evenly_spaced(len(dataset), args.grid_count)
        log.info("wrote %s", example_grid(dataset, methods, picks, args.grid))
    return 0


def temporal_main(argv: list[str] | None = None) -> int:
    """Console entry for the temporal evaluation alone: the same as ``phnet-eval --temporal``."""
    import sys

    return eval_main(["--temporal", *(sys.argv[1:] if argv is None else argv)])


def _stills_from_args(p, args) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, real RGB uint8, mask float32) pairs: from --image/--mask or from the data set."""
    import cv2

    stills = []
    if args.image:
        if not args.mask:
            p.error("--image needs --mask")
        img = cv2.imread(args.image, cv2.IMREAD_COLOR)
        msk = cv2.imread(args.mask, cv2.IMREAD_GRAYSCALE)
        if img is None or msk is None:
            raise FileNotFoundError(f"cannot read {args.image if img is None else args.mask}")
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if msk.shape != img.shape[:2]:
            msk = cv2.resize(msk, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
        stills.append((Path(args.image).stem, img, msk.astype(np.float32) / 255.0))
    else:
        if not args.data_kind or not args.data_root:
            p.error("--temporal needs --data-kind and --data-root, or --image and --mask")
        from ..data.build import build_dataset

        size = _parse_size(p, args.size, None)
        dataset = build_dataset(_data_config(args, size), args.split)
        if len(dataset) == 0:
            raise ValueError(f"the data set is empty (kind={args.data_kind}, root={args.data_root}, split={args.split})")
        for i in evenly_spaced(len(dataset), args.clips):
            item = dataset[i]
            stills.append((str(item.get("name", i)), _to_uint8(item["real"]),
                           np.ascontiguousarray(tensor_to_mask(item["mask"]), dtype=np.float32)))
    if args.video_size:
        stills = [(n, *_fit(img, msk, args.video_size)) for n, img, msk in stills]
    return stills


def _fit(img: np.ndarray, msk: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    h, w = msk.shape
    s = long_side / max(h, w)
    if s == 1.0:
        return img, msk
    size = (max(8, round(w * s)), max(8, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return (cv2.resize(img, size, interpolation=interp),
            np.clip(cv2.resize(msk, size, interpolation=interp), 0.0, 1.0))


def _methods(names: list[str], args, momenta: Sequence[float] = (1.0,),
             tag_momentum: bool = False) -> dict[str, object]:
    """The methods of ``names``, one per momentum for colour transfer and PHNet; colour
    transfer's label carries its momentum with ``tag_momentum`` (the temporal reports)."""
    from phnet.colortransfer import ColorTransfer

    methods: dict[str, object] = {}
    for name in names:
        if name == "composite":
            methods["composite"] = Composite()
        elif name == "light":
            from phnet.light import LightTransfer

            methods["light"] = LightTransfer()
        elif name == "colortransfer":
            for mo in momenta:
                label = f"colortransfer m={mo:g}" if tag_momentum else "colortransfer"
                methods[label] = ColorTransfer(momentum=mo)
        else:
            methods.update(_load_phnets(args, list(momenta)))
    return methods


def _temporal_reports(args, names: list[str], metric: MetricConfig, scen: list[str],
                      stills: list[tuple[str, np.ndarray, np.ndarray]], title: str) -> tuple[list[str], dict]:
    """Every scenario over clips made from ``stills``: Markdown reports and their data."""
    momenta = [1.0] if args.smooth_momentum == 1.0 else [1.0, args.smooth_momentum]
    reports, data = [], {}
    for sc in scen:
        methods = _methods(names, args, momenta, tag_momentum=True)
        vcfg = VideoConfig(frames=args.frames, seed=args.seed, **SCENARIOS[sc])
        videos = (
            make_video(img, msk, dataclasses.replace(vcfg, seed=args.seed + i), name=n)
            for i, (n, img, msk) in enumerate(stills)
        )
        res = evaluate_temporal(methods, videos, metric, vcfg,
                                progress=None if args.no_progress else log.info)
        reports.append(format_temporal_markdown(res, f"{title}, scenario '{sc}'"))
        data[sc] = res.to_dict()
    return reports, data


def _scenarios(p: argparse.ArgumentParser, args) -> list[str]:
    scen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    bad = [s for s in scen if s not in SCENARIOS]
    if bad or not scen:
        p.error(f"--scenarios must name some of {', '.join(SCENARIOS)}, got {args.scenarios!r}")
    if not 0.0 < args.smooth_momentum <= 1.0:
        p.error(f"--smooth-momentum must lie in (0, 1], got {args.smooth_momentum}")
    return scen


def _temporal(p: argparse.ArgumentParser, args, names: list[str], metric: MetricConfig) -> int:
    scen = _scenarios(p, args)
    try:
        stills = _stills_from_args(p, args)
        reports, data = _temporal_reports(args, names, metric, scen, stills, "PHNet temporal evaluation")
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        log.error("phnet-eval: %s", exc)
        return 2
    _write_outputs(args, "\n".join(reports), {"scenarios": data})
    return 0


def _people(p: argparse.ArgumentParser, args, names: list[str], metric: MetricConfig) -> int:
    """``--people``: recolour, identity, new backgrounds and temporal on the corpus's people."""
    from . import people as pe
    from ..data.build import build_dataset

    if not args.data_root:
        p.error("--people needs --data-root (a corpus folder made by phnet-corpus)")
    if args.data_kind not in (None, "corpus"):
        p.error("--people reads a phnet-corpus folder: leave out --data-kind or give 'corpus'")
    size = _parse_size(p, args.size, 256)
    scen = _scenarios(p, args)
    root, split = args.data_root, args.split
    try:
        methods = _methods(names, args)
        sections, data = [], {}
        for what, mix, samples in (("recolour", "people:1", args.samples), ("identity", "identity:1", 1)):
            ds = build_dataset(pe.people_data_config(root, mix, size, samples, args.data_seed or 0), split)
            res = evaluate_dataset(ds, methods, metric, limit=args.limit, batch_size=args.batch_size,
                                   progress=not args.no_progress, keep_records=args.per_image,
                                   describe={"kind": f"corpus people ({what})", "root": str(root),
                                             "split": split, "size": size})
            data[what] = res.to_dict()
            sections.append(format_markdown(res, f"People, {what}"))
        people = pe.load_people(root, split, size)
        backgrounds = {**pe.bundled_backgrounds(), **pe.scene_backgrounds(root, split, args.scenes)}
        shift_methods = {k: v for k, v in methods.items() if k != "composite"}
        shifts = pe.new_background_shifts(shift_methods, people, backgrounds)
        data["new_backgrounds"] = shifts.to_dict()
        sections.append(pe.format_shift_markdown(shifts))
        if not args.no_temporal:
            stills = [(s.name, s.image, s.alpha)
                      for s in pe.load_people(root, split, None, single_only=True)]
            if args.video_size:
                stills = [(n, *_fit(img, msk, args.video_size)) for n, img, msk in stills]
            reports, data["temporal"] = _temporal_reports(args, names, metric, scen, stills,
                                                          "People, temporal")
            sections += reports
        if args.grid:
            bundled = pe.bundled_backgrounds()
            log.info("wrote %s", pe.people_grid(people[:args.grid_count], bundled, methods, args.grid))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        log.error("phnet-eval: %s", exc)
        return 2
    summary = _people_summary(data, list(methods), pe.BUNDLED_BACKGROUNDS)
    _write_outputs(args, "\n".join([summary, *sections]), data)
    return 0


def _people_summary(data: dict, labels: list[str], bundled: Sequence[str]) -> str:
    """One table of the four measurements, per method."""
    rec = data["recolour"]["methods"]
    ide = data["identity"]["methods"]
    shifts = data["new_backgrounds"]["methods"]
    temporal = next(iter(data.get("temporal", {}).values()), {}).get("methods", {})
    base = rec.get("composite", {}).get("overall", {}).get("fmse")
    lines = [
        f"# People: held-out people of {data['recolour']['dataset'].get('root')} "
        f"(split {data['recolour']['dataset'].get('split')}, size "
        f"{data['recolour']['dataset'].get('size') or 'native'})",
        "",
        "| Method | recolour fMSE ↓ | recolour fPSNR ↑ | identity fMSE ↓ | identity / composite's recolour | "
        "worst mean abs(da), abs(db) on a bundled background ↓ | flicker (first scenario, unsmoothed) ↓ |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label in labels:
        r = rec[label]["overall"]
        i = ide[label]["overall"]
        ratio = "–" if not base else f"{i['fmse'] / base:.3f}"
        worst = "0.0, 0.0 (unchanged)" if label == "composite" else "–"
        if label in shifts:
            per = [shifts[label][bg]["body"] for bg in bundled if shifts[label].get(bg, {}).get("body", {}).get("n")]
            if per:
                worst = f"{max(b['abs_da'] for b in per):.1f}, {max(b['abs_db'] for b in per):.1f}"
        flick = temporal.get(label, temporal.get(f"{label} m=1", {})).get("flicker")
        lines.append(f"| {label} | {_fmt(r['fmse'])} | {_fmt(r['fpsnr'])} | {_fmt(i['fmse'])} | {ratio} | "
                     f"{worst} | {_fmt(flick)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(eval_main())
