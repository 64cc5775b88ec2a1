"""ONNX export of PHNet as a streaming graph, and the ``phnet-export`` command.

The graph carries the temporal state explicitly, so any runtime can run a video:

inputs   ``image`` (N, 3, H, W) float32 in [0, 1]; ``mask`` (N, 1, H, W) float32 in [0, 1];
         ``momentum`` (2,) float32, the EMA weights of this frame's (foreground, background)
         statistics (1 = no smoothing);
         ``state.<block>.{mean,std,valid}`` for every block of ``PHNet.state_spec()``
outputs  ``output`` (N, 3, H, W) float32 in [0, 1] (background kept);
         ``next.<block>.{mean,std,valid}``, to feed back as ``state.*`` with the next frame.

H and W are dynamic (multiples of 8); the state's shapes do not depend on them. A first frame
passes ``PHNet.empty_state()`` (nothing valid), which equals the stateless forward.
"""
from __future__ import annotations

import argparse
import io
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .network import PHNet
from .pn import StatsState

log = logging.getLogger(__name__)
FIELDS = ("mean", "std", "valid")


def state_input_names(model: PHNet) -> list[str]:
    return [f"state.{b}.{f}" for b in model.state_spec() for f in FIELDS]


def state_output_names(model: PHNet) -> list[str]:
    return [f"next.{b}.{f}" for b in model.state_spec() for f in FIELDS]


class StreamingGraph(nn.Module):
    """Flat-tensor view of ``PHNet.forward`` for export: positional state in, positional out."""

    def __init__(self, model: PHNet):
        super().__init__()
        self.model = model
        self.blocks = list(model.state_spec())

    def forward(self, image: Tensor, mask: Tensor, momentum: Tensor, *flat: Tensor):
        n = len(FIELDS)
        state = {b: StatsState(*flat[i * n : (i + 1) * n]) for i, b in enumerate(self.blocks)}
        out = self.model(image, mask, state, momentum)
        result = [out.image]
        for b in self.blocks:
            result.extend(out.state[b])
        return tuple(result)


def export_onnx(model: PHNet, path: str | Path | None = None, opset: int = 17) -> bytes:
    """Exports ``model`` (moved to CPU float32 eval) and returns the ONNX bytes; writes ``path``.

    Uses the TorchScript exporter (about 1 s, exact); where a PyTorch release no longer has it,
    falls back to the ``torch.export`` one (slower to export, same graph semantics).
    """
    import onnx

    model = model.to("cpu", torch.float32).eval()
    graph = StreamingGraph(model).eval()
    empty = model.empty_state()
    flat = [t for b in graph.blocks for t in empty[b]]
    args = (torch.rand(1, 3, 64, 64), torch.ones(1, 1, 64, 64) * 0.5, torch.ones(2), *flat)
    in_names = ["image", "mask", "momentum", *state_input_names(model)]
    out_names = ["output", *state_output_names(model)]
    hw = {0: "N", 2: "H", 3: "W"}
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                graph, args, buf, input_names=in_names, output_names=out_names,
                dynamic_axes={"image": hw, "mask": hw, "output": hw},
                opset_version=opset, dynamo=False,
            )
            data = buf.getvalue()
        except (TypeError, RuntimeError, AttributeError) as exc:  # exporter removed or broken
            log.info("TorchScript ONNX exporter unavailable (%s); using torch.export", exc)
            h8, w8 = torch.export.Dim("h8", min=1, max=1024), torch.export.Dim("w8", min=1, max=1024)
            shapes = ({2: 8 * h8, 3: 8 * w8}, {2: 8 * h8, 3: 8 * w8}, None, *([None] * len(flat)))
            program = torch.onnx.export(
                graph, args, input_names=in_names, output_names=out_names,
                dynamo=True, dynamic_shapes=shapes,
            )
            data = program.model_proto.SerializeToString()
    proto = onnx.load_from_string(data)
    onnx.helper.set_model_props(proto, {"phnet.config": model.config.to_json()})
    onnx.checker.check_model(proto)
    data = proto.SerializeToString()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
    return data


def compare_with_torch(
    model: PHNet, onnx_bytes: bytes, size: tuple[int, int] = (192, 256), frames: int = 5,
    momentum: float = 0.3, seed: int = 0,
) -> float:
    """Largest absolute difference between ONNX Runtime and PyTorch over a short video with state."""
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    model = model.to("cpu", torch.float32).eval()
    g = torch.Generator().manual_seed(seed)
    h, w = size
    base = torch.rand(1, 3, h, w, generator=g)
    mask = torch.zeros(1, 1, h, w)
    mask[..., h // 4 :, w // 4 : 3 * w // 4] = 1.0
    names = state_input_names(model)
    ort_state = [t.numpy() for b in model.state_spec() for t in model.empty_state()[b]]
    torch_state = None
    worst = 0.0
    with torch.no_grad():
        for _ in range(frames):
            frame = (base + 0.05 * torch.randn(1, 3, h, w, generator=g)).clamp(0, 1)
            ref = model(frame, mask, torch_state, torch.tensor([1.0, momentum]))
            torch_state = ref.state
            feed = {"image": frame.numpy(), "mask": mask.numpy(), "momentum": np.array([1.0, momentum], np.float32)}
            feed.update(zip(names, ort_state))
            out = session.run(None, feed)
            ort_state = out[1:]
            worst = max(worst, float(np.abs(out[0] - ref.image.numpy()).max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    from .checkpoint import CheckpointError, load

    p = argparse.ArgumentParser(
        prog="phnet-export",
        description="Export a PHNet checkpoint (safetensors) to a streaming ONNX graph "
        "(image, mask, momentum, PN state in; image, PN state out; dynamic H, W).",
    )
    p.add_argument("checkpoint", help="PHNet checkpoint (.safetensors)")
    p.add_argument("-o", "--output", help="ONNX file to write (default: beside the checkpoint)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime parity check")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        model = load(args.checkpoint)
    except (FileNotFoundError, CheckpointError) as exc:
        print(f"phnet-export: {exc}", file=sys.stderr)
        return 2
    out = Path(args.output or Path(args.checkpoint).with_suffix(".onnx"))
    data = export_onnx(model, out, opset=args.opset)
    print(f"wrote {out} ({len(data) / 1e6:.1f} MB)")
    if not args.no_check:
        diff = compare_with_torch(model, data)
        print(f"ONNX Runtime vs PyTorch over 5 frames with state: max abs diff {diff:.2e}")
        if diff > 1e-4:
            print("phnet-export: parity check failed (> 1e-4)", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
