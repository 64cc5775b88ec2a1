"""``phnet-cam bench``: per-stage ms and FPS at 640x480 and 1280x720, as a Markdown table
(the rows and their measurements: ``vcam.bench``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vcam.commands.common import (UserError, _number, _positive_int, _size, background_from_arg,
                                  check_model)
from vcam.config import CameraConfig


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


#: ``--chart`` draws with matplotlib in one of these formats.
CHART_SUFFIXES = (".png", ".svg", ".pdf")
#: ``--paced-seconds`` at most (an hour a row).
MAX_PACED_SECONDS = 3600.0


def cmd_bench(args: argparse.Namespace) -> int:
    from phnet.runners import torch_installed
    from vcam import bench

    notes: list[str] = []
    # No --model: each row runs the bundled model in its backend's form (the ONNX graph on ONNX
    # Runtime, the checkpoint on PyTorch).
    model = args.model or ""
    if model:
        check_model(model)
    background = background_from_arg(args.background) if args.background else None
    sizes = args.sizes or list(bench.SIZES)
    for width, height in sizes:
        try:
            CameraConfig(width=width, height=height)
        except ValueError as exc:
            raise UserError(f"--sizes {width}x{height}: {exc}") from exc
    variants = args.variants or list(bench.VARIANTS)
    if not 0 <= args.paced_seconds <= MAX_PACED_SECONDS:  # also refuses nan
        raise UserError(f"--paced-seconds must be a number of seconds in [0, "
                        f"{MAX_PACED_SECONDS:g}], got {args.paced_seconds:g}")
    if args.chart:
        _check_chart(args.chart)
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


def _check_chart(path: Path) -> None:
    """``--chart``: a picture file matplotlib can write, checked before the rows run."""
    expected = f"a {', '.join(CHART_SUFFIXES[:-1])} or {CHART_SUFFIXES[-1]} file"
    if path.is_dir():
        raise UserError(f"--chart {path}: a folder; expected {expected}")
    if path.suffix.lower() not in CHART_SUFFIXES:
        found = f"a {path.suffix} file" if path.suffix else "a name without an extension"
        raise UserError(f"--chart {path}: {found}; expected {expected}")
    try:
        import matplotlib  # noqa: F401 - whether it is there
    except ImportError:
        raise UserError("--chart needs matplotlib, which is not installed: pip install "
                        "matplotlib") from None
