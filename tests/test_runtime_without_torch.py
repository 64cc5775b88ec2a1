"""The camera's run-time path needs no PyTorch: ONNX Runtime runs the bundled graph.

Each check runs in a fresh interpreter, so that what this test process imported (the suite
itself uses torch) proves nothing.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import phnet
from phnet.bundled import models_dir
from phnet.harmonizer import choose_backend
from phnet.runners import Device, OrtRunner, cuda_device_count

CAMERA_MODULES = [
    "phnet", "phnet.harmonizer", "phnet.colortransfer", "vcam.commands", "vcam.pipeline",
    "vcam.harmonise_stage", "vcam.segmenter", "vcam.mask_refiner", "vcam.backgrounds",
    "vcam.compositor", "vcam.sinks", "vcam.sources", "vcam.demo_source", "vcam.panel",
    "vcam.panel.window", "vcam.panel.controls", "vcam.panel.controller", "vcam.panel.preview",
    "vcam.panel.gallery", "vcam.panel.status", "vcam.panel.settings_io",
    "vcam.panel.thumbnails", "vcam.panel.virtual_output", "vcam.panel.cameras",
]

FRAME = """
import numpy as np
frame = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
mask = np.zeros((240, 320), np.float32)
mask[60:, 100:220] = 1.0
"""


REPO = Path(__file__).resolve().parent.parent


def _run(code: str, tmp_path, timeout: float = 300) -> str:
    """Runs ``code`` (after FRAME) in a fresh interpreter in ``tmp_path``, on this checkout."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": path}
    proc = subprocess.run([sys.executable, "-c", FRAME + textwrap.dedent(code)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_the_camera_imports_and_harmonises_without_importing_torch(tmp_path):
    out = _run(f"""
        import importlib, sys
        for name in {CAMERA_MODULES!r}:
            importlib.import_module(name)
        import phnet
        from vcam.config import HarmoniseConfig
        from vcam.harmonise_stage import HarmoniseStage

        h = phnet.Harmonizer.load(device="cpu")  # the bundled model, as the camera loads it
        for _ in range(2):
            out = h(frame, mask)
        assert out.shape == frame.shape and (out[mask == 1] != frame[mask == 1]).any()
        stage = HarmoniseStage(HarmoniseConfig(mode="phnet", device="cpu"))
        stage(frame, mask)
        stage.close()
        print(h.info()["backend"], stage.info()["backend"], "torch" in sys.modules)
    """, tmp_path)
    assert out.split() == ["onnxruntime", "onnxruntime", "False"]


def test_without_torch_installed_the_demo_runs_and_torch_requests_fail_in_one_line(tmp_path):
    # sys.modules["torch"] = None: every "import torch" fails as if it were not installed.
    ckpt = models_dir() / "phnet-lite.safetensors"
    out = _run(f"""
        import sys
        sys.modules["torch"] = None
        import phnet
        from vcam.commands import main

        assert main(["demo", "--frames", "3", "--size", "320x240", "--mode", "phnet"]) == 0
        for call in (lambda: phnet.Harmonizer.load({str(ckpt)!r}),
                     lambda: phnet.Harmonizer.load(backend="torch"),
                     lambda: phnet.build("lite")):
            try:
                call()
            except ModuleNotFoundError as exc:
                assert "\\n" not in str(exc) and "PyTorch" in str(exc), str(exc)
                print("refused:", exc)
            else:
                raise AssertionError("PyTorch was not asked for")
    """, tmp_path)
    assert "harmonisation: PHNet lite on onnxruntime cpu" in out
    assert (tmp_path / "phnet-demo.png").is_file()
    refused = [line for line in out.splitlines() if line.startswith("refused:")]
    assert len(refused) == 3
    assert "phnet-lite.onnx" in refused[0]  # the graph that runs without PyTorch is named
    assert "phnet.build needs PyTorch" in refused[2]


@pytest.mark.skipif(cuda_device_count() > 0, reason="checks the choice on a machine without GPU")
def test_the_bundled_model_runs_on_onnx_runtime_unless_pytorch_and_a_gpu_are_there(monkeypatch):
    assert choose_backend("auto", "auto") == ("onnxruntime", Device("cpu"))
    assert choose_backend("torch", "auto")[0] == "torch"
    assert choose_backend("onnxruntime", "cpu") == ("onnxruntime", Device("cpu"))
    import torch

    import phnet.harmonizer
    import phnet.runners

    # A GPU that the driver reports: PyTorch runs it where its CUDA build sees it ...
    monkeypatch.setattr(phnet.harmonizer, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(phnet.runners, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert choose_backend("auto", "auto") == ("torch", Device("cuda", 0))
    # ... and ONNX Runtime's CUDA execution provider where PyTorch cannot.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert choose_backend("auto", "auto") == ("onnxruntime", Device("cuda", 0))
    assert choose_backend("auto", "cpu") == ("onnxruntime", Device("cpu"))


@pytest.mark.skipif(cuda_device_count() > 0, reason="checks the report on a machine without GPU")
def test_a_cuda_provider_that_cannot_start_is_reported_not_hidden(caplog):
    runner = OrtRunner(str(models_dir() / "phnet-lite.onnx"), Device("cuda", 0))
    info = runner.info()
    assert info["device"] == "cpu" and "it runs on the CPU" in info["fallback"]
    assert any("CUDA execution provider" in r.getMessage() for r in caplog.records)
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        phnet.Harmonizer.load(device="cuda")
    from vcam.commands.common import _describe_harmonisation

    h = phnet.Harmonizer(runner, None, 256)
    assert "NOT on the GPU: " in _describe_harmonisation(h.info())
