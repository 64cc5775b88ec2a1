"""``phnet-bench-model``: parameters, multiply-adds and time per frame of each PHNet config.

Times are medians over repeated single-frame (batch 1) runs after warm-up, on random weights
(speed does not depend on the values), for PyTorch eager float32 on the CPU (the baseline),
ONNX Runtime's CPU provider and, where PyTorch sees one, PyTorch on CUDA in eager float32 and in
float16 channels-last; every optimised path is also given as a ratio to its eager float32
baseline measured in the same run. The multiply-add count covers
convolutions and linear layers (the PN statistics add well under 1 %).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch
from torch import nn

from .config import CONFIGS
from .network import PHNet, build


def count_macs(model: PHNet, height: int, width: int) -> int:
    """Multiply-accumulates of one forward pass at (height, width), batch 1."""
    total = 0

    def hook(mod: nn.Module, inp, out) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.in_channels // mod.groups
            total += out.numel() * k
        elif isinstance(mod, nn.ConvTranspose2d):
            k = mod.kernel_size[0] * mod.kernel_size[1] * mod.out_channels // mod.groups
            total += inp[0].numel() * k
        elif isinstance(mod, nn.Linear):
            total += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, height, width), torch.ones(1, 1, height, width) * 0.5)
    finally:
        for h in handles:
            h.remove()
    return total


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def _inputs(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(1, 1, size, size)
    mask[..., size // 4 :, size // 4 : 3 * size // 4] = 1.0
    return torch.rand(1, 3, size, size, generator=g), mask


def bench_config(name: str, sizes: list[int], repeats: int, threads: int) -> list[dict]:
    import onnxruntime as ort

    from .export import export_onnx

    model = build(name).eval()
    params = sum(p.numel() for p in model.parameters())
    session = None
    rows = []
    for size in sizes:
        image, mask = _inputs(size)
        row = {"config": name, "params": params, "size": size,
               "gmacs": count_macs(model, size, size) / 1e9}
        with torch.no_grad():
            row["torch_cpu_ms"] = _median_ms(lambda: model(image, mask), repeats)
        if session is None:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            session = ort.InferenceSession(export_onnx(model), opts, providers=["CPUExecutionProvider"])
            empty = [t.numpy() for b in model.state_spec() for t in model.empty_state()[b]]
            names = [i.name for i in session.get_inputs()][3:]
        feed = {"image": image.numpy(), "mask": mask.numpy(), "momentum": np.ones(2, np.float32)}
        feed.update(zip(names, empty))
        row["ort_cpu_ms"] = _median_ms(lambda: session.run(None, feed), repeats)
        if torch.cuda.is_available():
            variants = (("torch_cuda_fp32_ms", False, False), ("torch_cuda_fp16_ms", True, False),
                        ("torch_cuda_fp16_graphs_ms", True, True))
            for key, half, graphs in variants:
                gpu = build(name).eval().cuda()
                gi, gm = image.cuda(), mask.cuda()
                if half:
                    gpu = gpu.half().to(memory_format=torch.channels_last)
                    gi = gi.half().contiguous(memory_format=torch.channels_last)
                    gm = gm.half()
                if graphs:  # torch.compile replaying CUDA graphs, as TorchRunner(compile=True)
                    gpu = torch.compile(gpu, mode="reduce-overhead", dynamic=False)

                def run_gpu() -> None:
                    with torch.inference_mode():
                        gpu(gi, gm)
                    torch.cuda.synchronize()

                try:
                    row[key] = _median_ms(run_gpu, max(repeats, 20), warmup=5)
                except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal
                    row[key] = float("nan")
                    row.setdefault("notes", []).append(f"{key}: {type(exc).__name__}: {exc}")
        rows.append(row)
    return rows


def bench_harmonizer(path: str | None, sizes: list[tuple[int, int]], repeats: int) -> str:
    """Milliseconds of each step of ``Harmonizer``'s CPU frame path, one frame size a row: the
    OpenCV downscale, the network, fitting the colour models, upsampling them to the frame
    (once per network run) and applying them inside the mask's box (every frame)."""
    import cv2

    from .guided_upsample import FrameColourModel, fit_affine_array
    from .harmonizer import Harmonizer, downscale_for_network, work_size

    h = Harmonizer.load(path, device="cpu")
    lines = ["| frame | network input | downscale | network | fit | upsample | apply | whole call |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    rng = np.random.default_rng(0)
    for width, height in sizes:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 3)
        mask = np.zeros((height, width), np.float32)
        mask[height // 5 :, width // 4 : 3 * width // 4] = 1.0
        hh, ww = work_size(height, width, h.resolution)
        low_in, low_mask, _ = downscale_for_network(frame, mask, (hh, ww))
        out, _ = h.runner(low_in, low_mask, None, (1.0, 1.0))
        coeffs = fit_affine_array(low_in, out)
        model = FrameColourModel(coeffs, height, width)

        def whole() -> None:
            h.reset()
            h(frame, mask)

        ms = [
            _median_ms(lambda: downscale_for_network(frame, mask, (hh, ww)), repeats),
            _median_ms(lambda: h.runner(low_in, low_mask, None, (1.0, 1.0)), repeats),
            _median_ms(lambda: fit_affine_array(low_in, out), repeats),
            _median_ms(lambda: FrameColourModel(coeffs, height, width), repeats),
            _median_ms(lambda: model.apply(frame, mask), repeats),
            _median_ms(whole, repeats),
        ]
        lines.append(f"| {width}x{height} | {ww}x{hh} | " + " | ".join(f"{m:.1f}" for m in ms) + " |")
    h.close()
    return "\n".join(lines)


def bench_graphs(paths: list[str], sizes: list[int], repeats: int, threads: int,
                 rounds: int = 5) -> str:
    """Milliseconds per run of each streaming ONNX graph on ONNX Runtime's CPU provider (one
    square frame with a portrait-like mask, with state, as the camera calls it), measured in
    ``rounds`` interleaved rounds so that a busy machine slows every graph alike; the median
    of the round medians, and each graph's ratio to the first."""
    from .runners import OrtRunner

    runners = [OrtRunner(p, "cpu", threads=threads) for p in paths]
    lines = ["| graph | size | ms (median) | ratio to the first |", "|---|---:|---:|---:|"]
    rng = np.random.default_rng(0)
    for size in sizes:
        image = rng.random((1, 3, size, size), dtype=np.float32)
        mask = np.zeros((1, 1, size, size), np.float32)
        mask[..., size // 5:, size // 4: 3 * size // 4] = 1.0
        states = [r(image, mask, None, (1.0, 0.2))[1] for r in runners]
        per = [[] for _ in runners]
        for _ in range(rounds):
            for i, r in enumerate(runners):
                per[i].append(_median_ms(lambda r=r, i=i: r(image, mask, states[i], (1.0, 0.2)),
                                         repeats, warmup=1))
        ms = [statistics.median(v) for v in per]
        for path, m in zip(paths, ms):
            lines.append(f"| {os.path.basename(path)} | {size}x{size} | {m:.1f} | {m / ms[0]:.2f} |")
    return "\n".join(lines)


def to_markdown(rows: list[dict]) -> str:
    gpu = any("torch_cuda_fp16_ms" in r for r in rows)
    head = ("| config | params (M) | size | GMACs | PyTorch CPU fp32 ms | ORT CPU ms | "
            "ORT / PyTorch speed-up |")
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    if gpu:
        head += (" CUDA fp32 eager ms | CUDA fp16 ms | CUDA fp16 + graphs ms | best FPS |"
                 " best / fp32 speed-up |")
        sep += "---:|---:|---:|---:|---:|"
    lines = [head, sep]
    for r in rows:
        line = (f"| {r['config']} | {r['params'] / 1e6:.2f} | {r['size']}x{r['size']} | "
                f"{r['gmacs']:.2f} | {r['torch_cpu_ms']:.1f} | {r['ort_cpu_ms']:.1f} | "
                f"{r['torch_cpu_ms'] / r['ort_cpu_ms']:.2f}x |")
        if gpu:
            nan = float("nan")
            fp32, fp16 = r.get("torch_cuda_fp32_ms", nan), r.get("torch_cuda_fp16_ms", nan)
            graphs = r.get("torch_cuda_fp16_graphs_ms", nan)
            best = min((v for v in (fp16, graphs) if v == v), default=nan)
            line += f" {fp32:.2f} | {fp16:.2f} | {graphs:.2f} | {1000 / best:.0f} | {fp32 / best:.2f}x |"
        lines.append(line)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="phnet-bench-model", description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--sizes", nargs="+", type=int, default=[256, 512, 1024])
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="CPU threads for PyTorch and ONNX Runtime (default: all cores)")
    p.add_argument("--harmonizer", nargs="?", const="", metavar="CKPT",
                   help="instead: time each step of the Harmonizer's CPU frame path at 640x480, "
                   "1280x720 and 1920x1080 (default checkpoint: the bundled one)")
    p.add_argument("--graphs", nargs="+", metavar="ONNX",
                   help="instead: time these streaming ONNX graphs against each other on ONNX "
                   "Runtime (interleaved rounds; ratios to the first)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.graphs:
        print(f"ONNX Runtime graphs: {args.threads} threads; median of 5 interleaved rounds of "
              f"{args.repeats} runs each")
        print(bench_graphs(args.graphs, args.sizes, args.repeats, args.threads))
        return 0
    if args.harmonizer is not None:
        sizes = [(640, 480), (1280, 720), (1920, 1080)]
        print(f"Harmonizer CPU frame path: torch {torch.__version__}, {args.threads} threads; "
              f"median ms of {args.repeats}")
        print(bench_harmonizer(args.harmonizer or None, sizes, args.repeats))
        return 0
    rows = []
    for name in args.configs:
        rows += bench_config(name, args.sizes, args.repeats, args.threads)
    cpu = f"{os.cpu_count()} logical CPUs, {args.threads} threads"
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    print(f"PHNet model benchmark: torch {torch.__version__}, {cpu}, {gpu}; batch 1, median of "
          f"{args.repeats}")
    print(to_markdown(rows))
    for r in rows:
        for note in r.get("notes", []):
            print(f"{r['config']} {r['size']}: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
