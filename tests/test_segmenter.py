"""The MediaPipe segmenter on real pictures, with the bundled model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from vcam.demo_source import DemoSource, DemoSourceConfig
from vcam.images import PORTRAIT_PATH, read_rgb
from vcam.segmenter import DEFAULT_MODEL_PATH, Segmenter

MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter() as seg:
        yield seg


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return read_rgb(PORTRAIT_PATH)


def test_bundled_model_is_the_documented_file():
    assert DEFAULT_MODEL_PATH.is_file()
    assert hashlib.sha256(DEFAULT_MODEL_PATH.read_bytes()).hexdigest() == MODEL_SHA256
    notice = DEFAULT_MODEL_PATH.with_name("selfie_segmentation.NOTICE.md").read_text("utf-8")
    assert MODEL_SHA256 in notice


def test_labels_are_selfie(segmenter):
    assert segmenter.labels == ["selfie"]
    assert segmenter.model_path == DEFAULT_MODEL_PATH


def test_mask_covers_the_person_not_the_background(segmenter, portrait):
    mask = segmenter(portrait, 0)
    assert mask.shape == portrait.shape[:2]
    assert mask.dtype == np.float32
    assert mask.flags.c_contiguous
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    # The astronaut's face and the chest of her suit (512x512 portrait coordinates).
    assert mask[90:150, 190:260].mean() > 0.9
    assert mask[320:400, 120:260].mean() > 0.9
    assert mask[90:150, 190:260].min() > 0.5
    # Top corners: the flag and the shuttle model. The bottom corners are her suit and the
    # helmet she holds, so they are rightly not background.
    assert mask[:40, :40].max() < 0.5
    assert mask[:40, -40:].max() < 0.5
    assert mask[:40, :40].mean() < 0.1
    assert mask[:40, -40:].mean() < 0.1


def test_mask_matches_a_landscape_frame(segmenter):
    frame, _ = DemoSource(DemoSourceConfig(realtime=False, frames=1)).read()
    mask = segmenter(frame, 10_000)
    assert mask.shape == (480, 640)
    assert mask.dtype == np.float32
    # Her face and chest in the demo's first frame; the top corners are background.
    assert mask[60:130, 230:320].mean() > 0.9
    assert mask[380:460, 100:300].mean() > 0.9
    assert mask[:40, :40].mean() < 0.1 and mask[:40, -40:].mean() < 0.1


def test_repeated_and_backward_timestamps_do_not_crash(portrait):
    with Segmenter() as seg:
        first = seg(portrait, 100)
        again = seg(portrait, 100)
        earlier = seg(portrait, 50.4)
        later = seg(portrait, 101)
    for mask in (again, earlier, later):
        assert mask.shape == first.shape
        np.testing.assert_allclose(mask, first, atol=1e-4)


def test_mask_is_a_copy_the_caller_owns(segmenter, portrait):
    mask = segmenter(portrait, 20_000)
    kept = mask.copy()
    segmenter(np.zeros_like(portrait), 20_001)
    np.testing.assert_array_equal(mask, kept)


def test_bad_frames_are_rejected_clearly(segmenter, portrait):
    with pytest.raises(TypeError, match="uint8"):
        segmenter(portrait.astype(np.float32), 30_000)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        segmenter(portrait[..., :2], 30_001)
    with pytest.raises(TypeError, match="numpy array"):
        segmenter(portrait.tolist(), 30_002)


def test_missing_model_names_the_file(tmp_path):
    missing = tmp_path / "nowhere" / "selfie.tflite"
    with pytest.raises(FileNotFoundError, match="selfie.tflite"):
        Segmenter(missing)


def test_corrupt_model_names_the_file(tmp_path):
    corrupt = tmp_path / "corrupt_model.tflite"
    corrupt.write_bytes(b"\x00garbage, not a flatbuffer\xff" * 64)
    with pytest.raises(ValueError, match="corrupt_model.tflite"):
        Segmenter(corrupt)


def test_close_is_idempotent_and_final(portrait):
    seg = Segmenter(str(DEFAULT_MODEL_PATH))
    seg(portrait, 0)
    seg.close()
    seg.close()
    with pytest.raises(RuntimeError, match="closed"):
        seg(portrait, 1)
