"""``phnet-cam bench``: per-stage ms and FPS at 640x480 and 1280x720, as a Markdown table
(the rows and their measurements: ``vcam.bench``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcam.commands.common import UserError, _number, _positive_int, _size, background_from_arg


def _bench_variants() -> list[str]:
    from vcam.bench import VARIANTS

    return list(VARIANTS)


def _load(text: str) -> int:
    from vcam.bench import MAX_LOAD

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_LOAD:
        raise argparse.ArgumentTypeError(
            f"must be a number of busy processes in [0, {MAX_LOAD}], got {text!r}")
    return value


def _sizes(text: str) -> list[tuple[int, int]]:
    return [_size(part) for part in text.split(",") if part.strip()]


def _variants(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    known = _bench_variants()
    for name in names:
        if name not in known:
            raise argparse.ArgumentTypeError(
                f"unknown row {name!r} (known: {', '.join(known)})")
    return names


def add_parser(sub, parents: list[argparse.ArgumentParser]) -> None:
    bench = sub.add_parser("bench", parents=parents,
                           help="per-stage ms, FPS and cores at 30 FPS at 640x480 and 1280x720")
    bench.add_argument("--frames", type=_positive_int, default=60,
                       help="frames measured per row (default 60)")
    bench.add_argument("--model", metavar="PATH", help="PHNet checkpoint to time")
    bench.add_argument("--chart", type=Path, metavar="PNG",
                       help="also draw the per-stage milliseconds as a bar chart (PNG)")
    bench.add_argument("--load", type=_load, default=0, metavar="N",
                       help="also run every row beside N busy processes (a stand-in for the call "
                       "app) and report its slowdown against the idle run (default 0: idle only)")
    bench.add_argument("--sizes", type=_sizes, metavar="WxH[,WxH...]",
                       help="frame sizes (default 640x480,1280x720)")
    bench.add_argument("--variants", type=_variants, metavar="NAME[,NAME...]",
                       help="harmonisation rows (default: all of " + ", ".join(_bench_variants())
                       + ")")
    bench.add_argument("--background", metavar="PATH|blur|color|none",
                       help="background of every row (default: the first bundled picture)")
    bench.add_argument("--paced-seconds", type=_number, default=2.0, metavar="S",
                       help="seconds each row runs paced at 30 FPS for its cores (default 2; 0 "
                       "skips it)")


def cmd_bench(args: argparse.Namespace) -> int:
    from phnet.runners import torch_installed
    from vcam import bench

    notes: list[str] = []
    # No --model: each row runs the bundled model in its backend's form (the ONNX graph on ONNX
    # Runtime, the checkpoint on PyTorch).
    model = args.model or ""
    background = background_from_arg(args.background) if args.background else None
    sizes = args.sizes or list(bench.SIZES)
    variants = args.variants or list(bench.VARIANTS)
    if args.paced_seconds < 0:
        raise UserError(f"--paced-seconds must be >= 0, got {args.paced_seconds:g}")
    if not torch_installed():
        variants = [v for v in variants if bench.VARIANTS[v][1].get("backend") != "torch"]
        notes.append("PyTorch rows: skipped, PyTorch is not installed (the camera runs ONNX "
                     "Runtime without it).")
    rows = bench.run(sizes, variants, args.frames, model, background, args.paced_seconds,
                     args.load, progress=lambda text: print("  " + text, file=sys.stderr,
                                                            flush=True))
    print(bench.table(rows))
    if args.load:
        print()
        print(f"Beside {args.load} busy processes:")
        print()
        print(bench.load_table(rows))
    if args.chart:
        print(f"wrote {bench.chart(rows, args.chart)}")
    print()
    print(bench.notes(args.frames, args.paced_seconds, args.load, rows))
    for note in notes:
        print(note)
    return 0
