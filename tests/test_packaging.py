"""What a wheel carries: every package, the bundled models as package data, and a bundled ONNX
graph that is the bundled checkpoint (the same pictures on the demo's frames)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import phnet
from phnet.bundled import PACKAGE, models_dir
from phnet.export import compare_with_torch

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))


def test_the_package_list_names_every_package_of_the_repository():
    tool = PYPROJECT["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(REPO).parts)
             for top in ("phnet", "vcam", "train") for p in (REPO / top).rglob("__init__.py")}
    assert found <= set(tool["packages"]), f"add {sorted(found - set(tool['packages']))}"
    assert tool["package-dir"] == {PACKAGE: "models"} and PACKAGE in tool["packages"]


def test_the_bundled_models_are_package_data():
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"][PACKAGE]
    shipped = {p.name for p in (REPO / "models").iterdir()
               if any(p.match(pattern) for pattern in patterns)}
    assert {"phnet-lite.onnx", "phnet-lite.safetensors", "selfie_segmentation.tflite",
            "selfie_segmentation.NOTICE.md", "README.md"} <= shipped
    assert (models_dir() / "phnet-lite.onnx").is_file()
    assert not any(p.suffix in (".pt", ".pth", ".pkl", ".ckpt") for p in (REPO / "models").iterdir())


def test_the_camera_needs_no_pytorch_by_its_dependencies():
    base = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    for name in ("torch", "safetensors", "onnxscript", "lion-pytorch", "onnxruntime-gpu"):
        assert name not in base, name
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert any(d.startswith("torch") for d in extras["train"])
    assert any(d.startswith("onnxruntime-gpu") for d in extras["gpu"])


def test_the_bundled_onnx_graph_is_the_bundled_checkpoint():
    onnx = models_dir() / "phnet-lite.onnx"
    assert 5e6 < onnx.stat().st_size < 20e6  # float32 weights of a 2.5 M-parameter network
    model = phnet.load(models_dir() / "phnet-lite.safetensors")
    harmonizer = phnet.Harmonizer.load(onnx, device="cpu")
    assert harmonizer.config == model.config
    # The streaming graph with its PN state, five frames: as phnet-export checks it.
    assert compare_with_torch(model, onnx.read_bytes()) < 1e-4


def test_onnx_runtime_gives_the_pytorch_pictures_on_the_demo_frames():
    from train.eval.parity import compare, demo_composites

    pairs = list(demo_composites(frames=4))
    assert len(pairs) == 4 and pairs[0][0].shape == (480, 640, 3)
    result = compare(pairs, models_dir() / "phnet-lite.safetensors",
                     models_dir() / "phnet-lite.onnx")
    assert result["torch"]["backend"] == "torch"
    assert result["onnxruntime"]["backend"] == "onnxruntime"
    assert result["max_diff"] <= 1, result["diffs"]  # 1/255
    assert all(np.isfinite(v).all() for v in result["ms"].values())
