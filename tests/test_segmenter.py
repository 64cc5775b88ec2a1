"""The MediaPipe segmenter on real pictures, with the bundled model."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np
import pytest

from vcam.demo_source import DemoSource, DemoSourceConfig
from vcam.images import PORTRAIT_PATH, read_rgb
from vcam.segmenter import (
    DEFAULT_MODEL_PATH,
    LANDSCAPE_MODEL_PATH,
    PAD_VALUE,
    Segmenter,
    input_size,
    letterbox,
    model_for_aspect,
)

MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
LANDSCAPE_SHA256 = "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd"


@pytest.fixture(scope="module")
def segmenter():
    with Segmenter() as seg:
        yield seg


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return read_rgb(PORTRAIT_PATH)


@pytest.mark.parametrize("path, digest", [(DEFAULT_MODEL_PATH, MODEL_SHA256),
                                           (LANDSCAPE_MODEL_PATH, LANDSCAPE_SHA256)])
def test_bundled_models_are_the_documented_files(path, digest):
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    notice = DEFAULT_MODEL_PATH.with_name("selfie_segmentation.NOTICE.md").read_text("utf-8")
    assert digest in notice


def test_labels_are_selfie(segmenter):
    assert segmenter.labels == ["selfie"]
    # No frame yet and no size given: the landscape model, most webcams' shape.
    assert segmenter.model_path == LANDSCAPE_MODEL_PATH


def test_model_follows_the_frame_aspect():
    assert model_for_aspect(640, 480) == "general"  # 4:3: the landscape model fades held objects
    assert model_for_aspect(1280, 720) == "landscape"
    assert model_for_aspect(512, 512) == "general"
    assert model_for_aspect(480, 640) == "general"
    assert input_size(1280, 720) == (256, 144)
    assert input_size(640, 480) == (256, 192)
    assert input_size(480, 640) == (192, 256)
    assert input_size(160, 120) == (160, 120)  # never enlarged


def test_auto_switches_model_with_the_aspect_and_both_find_the_person(portrait):
    square = cv2.resize(portrait, (256, 256), interpolation=cv2.INTER_AREA)
    wide = DemoSource(DemoSourceConfig(width=1280, height=720, realtime=False, frames=1)).read()[0]
    with Segmenter(frame_size=(256, 256)) as seg:
        assert seg.model_path == DEFAULT_MODEL_PATH
        m_square = seg(square, 0)
        m_wide = seg(wide, 1)
        assert seg.model_path == LANDSCAPE_MODEL_PATH
        assert seg(square, 2).shape == (256, 256) and seg.model_path == DEFAULT_MODEL_PATH
    assert m_wide.shape == (144, 256)
    assert m_square[45:75, 95:130].mean() > 0.9  # her face (the portrait at half size)
    # Her face left of the wide frame's middle, her suit below; the right side is background.
    assert m_wide[5:30, 80:120].mean() > 0.9 and m_wide[120:, 20:140].mean() > 0.9
    assert m_wide[:40, 200:].mean() < 0.1
    with Segmenter(model="general", frame_size=(1280, 720)) as seg:
        assert seg.model_path == DEFAULT_MODEL_PATH
        seg.set_model("landscape")
        seg(wide, 0)
        assert seg.model_path == LANDSCAPE_MODEL_PATH
    with pytest.raises(ValueError, match="model must be one of"):
        Segmenter(model="portrait")


def test_mask_covers_the_person_not_the_background(portrait):
    with Segmenter(model="general") as segmenter:
        mask = segmenter(portrait, 0)
    assert mask.shape == (256, 256)  # the portrait is 512x512: fed to MediaPipe at half size
    mask = cv2.resize(mask, portrait.shape[1::-1], interpolation=cv2.INTER_LINEAR)
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
    assert mask.shape == (192, 256)  # the frame's aspect at the model's width
    assert mask.dtype == np.float32
    mask = cv2.resize(mask, (640, 480), interpolation=cv2.INTER_LINEAR)
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


def test_letterbox_keeps_the_aspect_and_says_where_the_frame_is():
    image = np.full((192, 256, 3), 77, np.uint8)
    canvas, (x, y) = letterbox(image, 1.0)
    assert canvas.shape == (256, 256, 3) and (x, y) == (0, 32)
    np.testing.assert_array_equal(canvas[y:y + 192, x:x + 256], image)
    assert canvas[:y].max() == PAD_VALUE and canvas[y + 192:].max() == PAD_VALUE
    tall, (x, y) = letterbox(np.zeros((256, 192, 3), np.uint8), 16 / 9)
    assert tall.shape == (256, 455, 3) and (x, y) == (131, 0)
    same, offset = letterbox(image[:144], 16 / 9)
    assert same.shape == (144, 256, 3) and offset == (0, 0)


def test_no_haze_of_the_pale_wall_beside_the_demo_neck():
    # Issue 20: the general model fed a 4:3 frame squeezed into its square took a patch of the
    # pale wall right of the astronaut's neck ring for her (a white haze in 43 of the demo's 90
    # frames, frame 70 the clearest). Letterboxed, it leaves the wall alone.
    source = DemoSource(DemoSourceConfig(frames=90, realtime=False, seed=0))
    wall = np.zeros((512, 512), np.float32)
    wall[110:200, 312:352] = 1.0  # wall only, between the neck ring and the model shuttle
    with Segmenter(frame_size=(640, 480)) as seg:
        for index in (0, 45, 70):
            frame = source.render(index)
            mask = cv2.resize(seg(frame, index * 33), (640, 480), interpolation=cv2.INTER_LINEAR)
            region = cv2.warpAffine(wall, source.view_transform(index), (640, 480)) > 0.5
            assert mask[region].mean() < 0.1, index
