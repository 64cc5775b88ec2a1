"""The harmonisation stage: honest fallback, off, strength, and a camera that survives errors."""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest

import phnet
import phnet.bundled
from phnet.colortransfer import ColorTransfer
from vcam.config import HarmoniseConfig
from vcam.harmonise_stage import HarmoniseError, HarmoniseStage

H, W = 48, 64


@pytest.fixture
def frame() -> tuple[np.ndarray, np.ndarray]:
    """A cold, dark person on a warm, bright background: colour transfer changes the person."""
    composite = np.empty((H, W, 3), np.uint8)
    composite[:] = (230, 160, 60)
    rng = np.random.default_rng(0)
    person = rng.integers(20, 80, (H, W, 3), dtype=np.uint8)
    person[..., 2] += 60
    mask = np.zeros((H, W), np.float32)
    mask[10:, 20:44] = 1.0
    composite[mask > 0] = person[mask > 0]
    return composite, mask


class _NoModel:
    """``phnet.Harmonizer.load`` as it behaves with nothing in models/ (the case today)."""

    @staticmethod
    def load(path=None, **kwargs):
        if path is None:
            raise FileNotFoundError("no bundled PHNet checkpoint: looked for phnet-lite")
        raise FileNotFoundError(f"checkpoint {path} does not exist")


def test_without_a_bundled_model_falls_back_to_colour_transfer(frame, caplog, monkeypatch):
    # Whatever models/ holds on this machine, the stage must behave so when it holds nothing.
    monkeypatch.setattr(phnet, "Harmonizer", _NoModel)
    composite, mask = frame
    with caplog.at_level(logging.WARNING, logger="vcam.harmonise_stage"):
        stage = HarmoniseStage(HarmoniseConfig(mode="phnet", strength=1.0))
        stage(composite, mask)
        stage(composite, mask)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "colour transfer" in warnings[0].getMessage()
    info = stage.info()
    assert info["method"] == "colortransfer" and info["mode"] == "phnet"
    assert "no bundled PHNet model" in info["fallback"]
    out = stage(composite, mask)
    expected = ColorTransfer(momentum=1.0)(composite, mask)
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1  # same frame each time


def test_the_default_is_the_light_transfer(frame):
    composite, mask = frame
    stage = HarmoniseStage(HarmoniseConfig())
    assert stage.info()["method"] == "light" and stage.info()["strength"] == 1.0
    room = (composite * 0.5).astype(np.uint8)  # the person's room was darker than the scene
    out = stage(composite, mask, captured=room)
    person = mask > 0.5
    assert out[person].mean() > composite[person].mean() + 5  # brought into the brighter scene
    np.testing.assert_array_equal(out[~person], composite[~person])
    assert stage(composite, mask) is composite  # no captured frame: nothing to compare with


def test_the_real_repository_state_is_reported_honestly(frame):
    composite, mask = frame
    stage = HarmoniseStage(HarmoniseConfig(mode="phnet"))
    info = stage.info()
    if phnet.bundled.models_dir().joinpath("phnet-lite.onnx").is_file():
        assert info["method"] == "phnet"
    else:
        assert info["method"] == "colortransfer" and "fallback" in info
    assert stage(composite, mask).shape == composite.shape


def test_a_named_model_that_is_missing_is_an_error(tmp_path, monkeypatch):
    missing = tmp_path / "mine.safetensors"
    with pytest.raises(HarmoniseError, match=re.escape(str(missing))):
        HarmoniseStage(HarmoniseConfig(mode="phnet", model=str(missing)))
    monkeypatch.setattr(phnet, "Harmonizer", _NoModel)
    with pytest.raises(HarmoniseError, match=re.escape(str(missing))):
        HarmoniseStage(HarmoniseConfig(mode="phnet", model=str(missing)))


def test_off_and_strength_zero_return_the_composite(frame):
    composite, mask = frame
    off = HarmoniseStage(HarmoniseConfig(mode="off"))
    assert off(composite, mask) is composite
    assert off.info()["method"] == "off"
    zero = HarmoniseStage(HarmoniseConfig(mode="colortransfer", strength=0.0))
    assert zero(composite, mask) is composite


def test_strength_blends_composite_and_harmonised(frame):
    composite, mask = frame
    full = HarmoniseStage(HarmoniseConfig(mode="colortransfer", momentum=1.0, strength=1.0))(composite, mask)
    half = HarmoniseStage(HarmoniseConfig(mode="colortransfer", momentum=1.0, strength=0.5))
    out = half(composite, mask)
    expected = 0.5 * composite.astype(float) + 0.5 * full.astype(float)
    assert np.abs(out - expected).max() <= 1.0
    assert np.abs(full.astype(int) - composite.astype(int)).max() > 20  # it did something
    bg = mask == 0
    np.testing.assert_array_equal(out[bg], composite[bg])


class _Broken:
    def __init__(self) -> None:
        self.calls = 0
        self.resets = 0

    def __call__(self, composite, mask):
        self.calls += 1
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    def reset(self) -> None:
        self.resets += 1


def test_an_error_in_the_harmoniser_returns_the_composite(frame, caplog):
    composite, mask = frame
    broken = _Broken()
    stage = HarmoniseStage(HarmoniseConfig(), harmoniser=broken)
    with caplog.at_level(logging.ERROR, logger="vcam.harmonise_stage"):
        for _ in range(3):
            assert stage(composite, mask) is composite
    assert broken.calls == 3
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "illegal memory access" in errors[0].exc_text
    assert stage.info()["failed_frames"] == 3
    stage.reset()
    assert broken.resets == 1


def test_set_config_swaps_and_keeps_the_previous_on_error(frame, tmp_path):
    composite, mask = frame
    stage = HarmoniseStage(HarmoniseConfig(mode="off"))
    stage.set_config(HarmoniseConfig(mode="colortransfer"))
    assert stage.info()["method"] == "colortransfer"
    harmoniser = stage._active.harmoniser
    # Strength and momentum apply without a rebuild (the temporal state is kept).
    stage.set_config(HarmoniseConfig(mode="colortransfer", strength=0.3, momentum=0.5))
    assert stage._active.harmoniser is harmoniser and harmoniser.momentum == 0.5
    assert stage.info()["strength"] == 0.3

    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(HarmoniseError, match=re.escape(str(bad))):
        stage.set_config(HarmoniseConfig(mode="phnet", model=str(bad)))
    assert stage.config.mode == "colortransfer" and stage._active.harmoniser is harmoniser
    assert stage(composite, mask).shape == composite.shape


def test_reset_clears_the_temporal_state(frame):
    composite, mask = frame
    stage = HarmoniseStage(HarmoniseConfig(mode="colortransfer", momentum=0.1))
    stage(composite, mask)
    other = composite.copy()
    other[mask == 0] = (20, 60, 200)
    smoothed = stage(other, mask)
    stage.reset()
    fresh = stage(other, mask)
    assert np.abs(fresh.astype(int) - smoothed.astype(int)).max() > 10
    np.testing.assert_array_equal(
        fresh, HarmoniseStage(HarmoniseConfig(mode="colortransfer"))(other, mask)
    )


def test_harmonise_config_validation_names_the_field():
    with pytest.raises(ValueError, match="mode must be one of 'phnet', 'light', 'colortransfer', 'off'"):
        HarmoniseConfig(mode="magic")
    with pytest.raises(ValueError, match=r"strength must be a number in \[0, 1\], got 1.5"):
        HarmoniseConfig(strength=1.5)
    with pytest.raises(ValueError, match=r"momentum must be a number in \(0, 1\], got 0"):
        HarmoniseConfig(momentum=0.0)
    with pytest.raises(ValueError, match="resolution must be 0 .* or a multiple of 8"):
        HarmoniseConfig(resolution=100)
    with pytest.raises(ValueError, match="device must be 'auto', 'cpu' or 'cuda"):
        HarmoniseConfig(device="tpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        HarmoniseConfig(backend="tensorrt")


def test_auto_network_thread_is_on_for_the_cpu_unless_every_k_frames_is_asked(tmp_path):
    path = phnet.save(phnet.build("nano").eval(), tmp_path / "nano.safetensors")
    cases = [({}, True), ({"network_every": 3}, False), ({"network_thread": "off"}, False),
             ({"network_thread": "on", "network_every": 3}, True)]
    for fields, threaded in cases:
        stage = HarmoniseStage(HarmoniseConfig(mode="phnet", model=str(path), device="cpu", **fields))
        try:
            assert stage.info()["network_thread"] is threaded, fields
        finally:
            stage.close()


def test_the_light_transfer_measured_alone_smooths_as_the_camera_runs_it():
    # The held-out evaluation builds LightTransfer() itself; its figures hold for the camera
    # only if the defaults agree.
    from phnet.light import LightTransfer

    stage = HarmoniseStage(HarmoniseConfig(mode="light"))
    try:
        assert stage.info()["momentum"] == LightTransfer().momentum == HarmoniseConfig().momentum
    finally:
        stage.close()
