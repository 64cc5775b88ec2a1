"""ONNX Runtime against PyTorch on the camera demo's frames: the same pictures, and each one's time.

    python -m train.eval.parity                      # the demo's 90 frames at 640x480
    python -m train.eval.parity --frames 20 --size 1280x720

The demo's source goes through the camera's own stages (MediaPipe segmentation, mask refinement,
the default background, compositing) once, with harmonisation off; then the same composites and
masks, in order, go through two ``phnet.Harmonizer`` s on the CPU, one on the bundled checkpoint
with PyTorch and one on its streaming ONNX graph with ONNX Runtime, each carrying its own
temporal state, both on every frame (no network thread), the two called in turn (which one goes
first alternates) so that a busy machine slows both alike. It prints the largest difference of
any output pixel over every frame, in grey levels (the target: at most 1, i.e. 1/255), and the
median milliseconds of each call.

The one place where training code borrows the camera (with ``masks=mediapipe``): the frames must
be the demo's, made by the camera's stages.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np


def demo_composites(frames: int = 90, width: int = 640,
                    height: int = 480) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(composite RGB uint8 HxWx3, mask float32 HxW) of each demo frame that has a person, made
    by the camera's pipeline with the demo's settings and harmonisation off."""
    from vcam.config import CameraConfig, HarmoniseConfig
    from vcam.demo_source import DemoSource, DemoSourceConfig
    from vcam.pipeline import Pipeline, PipelineConfig

    source = DemoSource(DemoSourceConfig(width=width, height=height, frames=frames,
                                         realtime=False, seed=0))
    config = PipelineConfig(camera=CameraConfig(width=width, height=height),
                            harmonise=HarmoniseConfig(mode="off"))
    kept: list[tuple[np.ndarray, np.ndarray]] = []

    def keep(_index: int, result) -> None:
        if result.has_person and result.mask is not None:
            kept.append((result.composite.copy(), result.mask.to_float().copy()))

    with Pipeline(source, [], config) as pipeline:
        pipeline.run_offline(on_frame=keep)
    yield from kept


def compare(pairs, checkpoint: str | Path, onnx: str | Path, threads: int | None = None) -> dict:
    """Runs both backends over ``pairs`` (a video, in order); returns the worst and per-frame
    largest differences (grey levels) and each backend's per-frame milliseconds. ``threads``:
    the network's CPU threads in both (default: each library's own, every core)."""
    import torch

    from phnet import Harmonizer

    if threads:
        torch.set_num_threads(threads)
    torch_h = Harmonizer.load(checkpoint, device="cpu", backend="torch")
    ort_h = Harmonizer.load(onnx, device="cpu", backend="onnxruntime", threads=threads)
    diffs: list[int] = []
    ms: dict[str, list[float]] = {"torch": [], "onnxruntime": []}
    for i, (composite, mask) in enumerate(pairs):
        outs = {}
        order = [("torch", torch_h), ("onnxruntime", ort_h)]
        for name, h in order if i % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            outs[name] = h(composite, mask)
            ms[name].append((time.perf_counter() - start) * 1000.0)
        diffs.append(int(np.abs(outs["torch"].astype(np.int16)
                                - outs["onnxruntime"].astype(np.int16)).max()))
    return {"frames": len(diffs), "max_diff": max(diffs, default=0), "diffs": diffs, "ms": ms,
            "torch": torch_h.info(), "onnxruntime": ort_h.info(),
            "threads": (torch.get_num_threads(),
                        ort_h.runner.session.get_session_options().intra_op_num_threads)}


def main(argv: list[str] | None = None) -> int:
    from phnet.bundled import models_dir

    p = argparse.ArgumentParser(prog="python -m train.eval.parity",
                                description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=90, help="demo frames (default: the demo's 90)")
    p.add_argument("--size", default="640x480", help="WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--checkpoint", help="PyTorch checkpoint (default: the bundled lite)")
    p.add_argument("--onnx", help="its ONNX graph (default: the bundled lite's)")
    p.add_argument("--threads", type=int, help="the network's CPU threads in both backends "
                   "(default: each library's own, every core)")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    checkpoint = args.checkpoint or models_dir() / "phnet-lite.safetensors"
    onnx = args.onnx or models_dir() / "phnet-lite.onnx"
    r = compare(list(demo_composites(args.frames, width, height)), checkpoint, onnx, args.threads)
    t, o = (statistics.median(r["ms"][k][1:] or r["ms"][k]) for k in ("torch", "onnxruntime"))
    print(f"{r['frames']} demo frames at {width}x{height}; {checkpoint} (PyTorch "
          f"{r['torch']['device']}) vs {onnx} (ONNX Runtime {r['onnxruntime']['device']}); "
          f"threads: PyTorch {r['threads'][0]}, ONNX Runtime {r['threads'][1]}")
    print(f"largest difference of any output pixel: {r['max_diff']} grey levels "
          f"({r['max_diff']}/255); frames that differ at all: "
          f"{sum(d > 0 for d in r['diffs'])} of {r['frames']}")
    print(f"median ms a Harmonizer call (after the first): PyTorch {t:.1f}, ONNX Runtime {o:.1f} "
          f"(PyTorch / ONNX Runtime = {t / o:.2f})")
    return 0 if r["max_diff"] <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
