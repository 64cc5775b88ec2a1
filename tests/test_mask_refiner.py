"""Mask refinement: size, range, temporal smoothing, edges that follow the frame, no specks."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from vcam.config import MaskConfig
from vcam.images import PORTRAIT_PATH, cover_crop, read_rgb
from vcam.mask_refiner import MaskRefiner, soft_band

H, W = 120, 160
EDGE = 83  # the frame's step edge: columns < EDGE are the person


def _step_frame(edge: int = EDGE) -> np.ndarray:
    """A dark person on the left of column ``edge``, a light wall on the right, with noise."""
    rng = np.random.default_rng(0)
    frame = np.full((H, W, 3), 200, np.uint8)
    frame[:, :edge] = (90, 40, 30)
    noise = rng.integers(-3, 4, frame.shape)
    return np.clip(frame.astype(int) + noise, 0, 255).astype(np.uint8)


def _coarse_step_mask(edge: float, h: int = 30, w: int = 40) -> np.ndarray:
    """A low-resolution soft mask whose edge sits near ``edge`` (in full-resolution columns),
    as a segmenter working at a quarter of the size gives it."""
    x = (np.arange(w) + 0.5) * (W / w)
    row = np.clip((edge - x) / 8.0 + 0.5, 0.0, 1.0).astype(np.float32)
    return np.repeat(row[None], h, axis=0)


def test_output_is_at_frame_size_and_in_range():
    refine = MaskRefiner(MaskConfig())
    frame = _step_frame()
    rng = np.random.default_rng(1)
    for mask in (_coarse_step_mask(EDGE), rng.random((17, 23), dtype=np.float32)):
        out = refine(mask, frame)
        assert out.shape == (H, W) and out.dtype == np.float32 and out.flags.c_contiguous
        assert out.min() >= 0.0 and out.max() <= 1.0
    # HxWx1 and float64 are accepted; the caller's mask is left alone.
    full = np.full((H, W, 1), 0.9, np.float64)
    MaskRefiner(MaskConfig())(full, frame)
    assert (full == 0.9).all()


@pytest.mark.parametrize("method", ["guided", "bilateral"])
def test_edge_follows_the_frame_edge_without_halo(method):
    frame = _step_frame()
    # The coarse mask's edge is on the frame's, but 8 px soft, as a low-resolution segmenter
    # gives it; the refined edge is sharp and on the frame's edge.
    refine = MaskRefiner(MaskConfig(refine=method, smoothing=0.0))
    out = refine(_coarse_step_mask(EDGE), frame)
    for row in out[::7]:
        crossing = int(np.argmax(row < 0.5))
        assert abs(crossing - EDGE) <= 2, (method, crossing)
    # No halo: the wall a few pixels from the edge is clean background, the person solid.
    assert out[:, EDGE + 4 :].max() < 0.05
    assert out[:, : EDGE - 3].min() > 0.95


def test_guided_edge_snaps_to_the_frame_edge():
    frame = _step_frame()
    # A coarse edge 3 px off the frame's: the mask drops on the frame's edge, and what the
    # model put beyond it is a fringe below 0.75 that fades within 6 px (the band comes before
    # the filter, so the filter softens rather than moves it; docs/MATTING.md).
    refine = MaskRefiner(MaskConfig(refine="guided", smoothing=0.0))
    for offset in (-3, 3):
        out = refine(_coarse_step_mask(EDGE + offset), frame)
        for row in out[::7]:
            crossing = int(np.argmax(row < 0.5))
            assert abs(crossing - EDGE) <= 3, (offset, crossing)
            assert row[EDGE:].max() < 0.75 and row[EDGE + 6:].max() < 0.3, offset


def test_no_refinement_keeps_the_coarse_edge():
    frame = _step_frame()
    out = MaskRefiner(MaskConfig(refine="none", smoothing=0.0))(_coarse_step_mask(EDGE + 6), frame)
    crossing = int(np.argmax(out[H // 2] < 0.5))
    assert abs(crossing - (EDGE + 6)) <= 2


def test_temporal_smoothing_follows_a_step_gradually():
    frame = np.full((H, W, 3), 128, np.uint8)
    on = np.ones((H, W), np.float32)
    off = np.zeros((H, W), np.float32)
    refine = MaskRefiner(MaskConfig(smoothing=0.6, min_blob_fraction=0.0))
    assert refine(off, frame).max() == 0.0
    levels = [float(refine(on, frame).mean()) for _ in range(8)]
    assert levels[0] < 0.5  # the first frame after the step is held back
    assert all(b >= a for a, b in zip(levels, levels[1:]))
    assert levels[-1] > 0.99  # and it gets there
    # Without smoothing the step is immediate.
    instant = MaskRefiner(MaskConfig(smoothing=0.0))
    instant(off, frame)
    assert instant(on, frame).mean() == pytest.approx(1.0)


def test_smoothing_restarts_on_reset_and_size_change():
    frame = np.full((H, W, 3), 128, np.uint8)
    refine = MaskRefiner(MaskConfig(smoothing=0.9, min_blob_fraction=0.0))
    refine(np.zeros((H, W), np.float32), frame)
    refine.reset()
    assert refine(np.ones((H, W), np.float32), frame).mean() == pytest.approx(1.0)
    refine(np.zeros((H, W), np.float32), frame)
    bigger = np.full((2 * H, 2 * W, 3), 128, np.uint8)
    assert refine(np.ones((H, W), np.float32), bigger).mean() == pytest.approx(1.0)


def test_small_blobs_are_removed_large_ones_kept():
    frame = np.full((H, W, 3), 128, np.uint8)
    mask = np.zeros((H, W), np.float32)
    mask[40:110, 20:80] = 1.0  # the person: 22 % of the frame
    mask[10:14, 120:124] = 1.0  # a speck: 0.08 %
    mask[70:90, 120:140] = 1.0  # a second region: 2 %
    # No refinement: on a flat frame the guided filter would smooth the speck away by itself.
    refine = MaskRefiner(MaskConfig(refine="none", smoothing=0.0, min_blob_fraction=0.005))
    out = refine(mask, frame)
    assert out[5:20, 115:130].max() == 0.0  # speck and its soft fringe gone
    assert out[75:85, 125:135].min() > 0.99
    assert out[50:100, 30:70].min() > 0.99
    kept = MaskRefiner(MaskConfig(refine="none", smoothing=0.0, min_blob_fraction=0.0))(
        mask, frame
    )
    assert kept[11:13, 121:123].min() > 0.5


@pytest.mark.parametrize("size", [(480, 640), (481, 643), (720, 1280)])
def test_small_blobs_are_removed_at_camera_sizes(size):
    # Large frames label components on a block-pooled copy: check no speck slips through.
    h, w = size
    mask = np.zeros((h, w), np.float32)
    mask[100:400, 200:500] = 1.0
    mask[11, 13] = 0.9  # one pixel
    mask[h - 1, w - 1] = 1.0  # in the last, partial block
    mask[50:53, 600:603] = 0.8
    frame = np.full((h, w, 3), 128, np.uint8)
    out = MaskRefiner(MaskConfig(refine="none", smoothing=0.0, threshold_low=0.1))(mask, frame)
    assert out[11, 13] == 0.0 and out[h - 1, w - 1] == 0.0
    assert out[45:60, 595:610].max() == 0.0
    # The mask is refined on the frame halved (2x2 blocks): the square's corner pixels blend
    # with the outside, its inside stays whole.
    assert out[101:399, 201:499].min() == 1.0
    assert out[100:400, 200:500].mean() > 0.999


def test_empty_mask_means_no_person():
    frame = _step_frame()
    refine = MaskRefiner(MaskConfig())
    refine(np.zeros((H, W), np.float32), frame)
    assert refine.last_has_person is False
    person = np.zeros((H, W), np.float32)
    person[20:, 30:90] = 1.0
    refine.reset()
    refine(person, frame)
    assert refine.last_has_person is True


def test_soft_band():
    x = np.linspace(0.0, 1.0, 11, dtype=np.float32)
    y = soft_band(x, 0.3, 0.7)
    assert (y[x <= 0.3] == 0.0).all() and (y[x > 0.75] == 1.0).all()
    assert y[5] == pytest.approx(0.5)
    assert (np.diff(y) >= 0).all()


def test_real_portrait_mask_stays_on_the_person():
    pytest.importorskip("mediapipe")
    from vcam.segmenter import Segmenter

    frame = cover_crop(read_rgb(PORTRAIT_PATH), (640, 480))
    with Segmenter() as seg:
        raw = seg(frame, 0)
    refine = MaskRefiner(MaskConfig())
    out = refine(raw, frame)
    assert refine.last_has_person
    # The segmenter answers at its own small size; the refined mask is the frame's.
    assert raw.shape[1] == 256 and out.shape == (480, 640)
    raw = cv2.resize(raw, (640, 480), interpolation=cv2.INTER_LINEAR)
    # The refinement cleans up, it does not move the person: most pixels agree.
    assert np.mean((out > 0.5) == (raw > 0.5)) > 0.97


def test_bad_inputs_are_refused():
    refine = MaskRefiner(MaskConfig())
    frame = _step_frame()
    with pytest.raises(TypeError, match="uint8"):
        refine(np.zeros((H, W), np.float32), frame.astype(np.float32))
    with pytest.raises(TypeError, match="float32"):
        refine(np.zeros((H, W), np.uint8), frame)
    with pytest.raises(ValueError, match="mask shape"):
        refine(np.zeros((H, W, 3), np.float32), frame)


def test_mask_config_validation_names_the_field():
    with pytest.raises(ValueError, match=r"smoothing must be a number in \[0, 0.95\], got 0.99"):
        MaskConfig(smoothing=0.99)
    with pytest.raises(ValueError, match="refine must be one of 'guided', 'bilateral', 'none'"):
        MaskConfig(refine="box")
    with pytest.raises(ValueError, match="threshold_low must be below threshold_high"):
        MaskConfig(threshold_low=0.8, threshold_high=0.7)
    with pytest.raises(ValueError, match="refine_radius"):
        MaskConfig(refine_radius=0)
    with pytest.raises(ValueError, match="min_blob_fraction"):
        replace(MaskConfig(), min_blob_fraction=-0.1)
    with pytest.raises(ValueError, match="empty_fraction"):
        MaskConfig(empty_fraction="a lot")


@pytest.mark.parametrize("size, scale", [((480, 640), 2), ((720, 1280), 4), ((1080, 1920), 4),
                                         ((481, 643), 1), ((120, 160), 1)])
def test_matte_forms_agree(size, scale):
    h, w = size
    rng = np.random.default_rng(5)
    frame = rng.integers(60, 200, (h, w, 3), dtype=np.uint8)
    coarse = np.zeros((max(1, h // 4), max(1, w // 4)), np.float32)
    coarse[coarse.shape[0] // 4 :, coarse.shape[1] // 3 : 2 * coarse.shape[1] // 3] = 1.0
    refine = MaskRefiner(MaskConfig(smoothing=0.0))
    matte = refine.refine(coarse, frame)
    assert matte.shape == (h, w) and matte.alpha.dtype == np.uint8 and matte.scale == scale
    assert matte.low.shape == (h // scale, w // scale) and matte.low.dtype == np.float32
    x0, y0, x1, y1 = matte.box
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    outside = matte.alpha.copy()
    outside[y0:y1, x0:x1] = 0
    assert not outside.any()  # nothing of the person outside the box
    as_float = matte.to_float()
    assert as_float.dtype == np.float32 and as_float.shape == (h, w)
    np.testing.assert_array_equal(np.rint(as_float * 255), matte.alpha)
    assert as_float.max() == 1.0 and as_float.min() == 0.0
    assert matte.fraction == pytest.approx(as_float.mean(), abs=0.01)
    assert refine.last_fraction == matte.fraction and refine.last_has_person


def test_guided_edge_at_camera_size_follows_the_frame():
    # 1280x720: the coefficients are fitted on the frame halved twice, the edge comes from the
    # full-resolution luma: sharp and on the frame's edge, as at full resolution.
    h, w = 720, 1280
    x = (np.arange(256) + 0.5) * (w / 256)
    for edge in (660, 661):  # on and off the halved grid
        frame = np.full((h, w, 3), 200, np.uint8)
        frame[:, :edge] = (90, 40, 30)
        for offset in (-2, 0, 2):
            # The segmenter's 256x144 mask: a 10-pixel ramp, its middle ``offset`` px away.
            row = np.clip((edge + offset - x) / 10.0 + 0.5, 0.0, 1.0).astype(np.float32)
            coarse = np.repeat(row[None], 144, axis=0)
            out = MaskRefiner(MaskConfig(smoothing=0.0)).refine(coarse, frame).to_float()
            for r in out[::50]:
                assert abs(int(np.argmax(r < 0.5)) - edge) <= 1, (edge, offset)
            # The band comes before the filter: a model edge 2 px off leaves a soft fringe on
            # the frame's edge (the filter's window), never a step in the wrong place.
            assert out[:, edge + 3 :].max() < 0.45 and out[:, : edge - 3].min() > 0.55
            if offset == 0:
                assert out[:, edge + 3 :].max() < 0.1 and out[:, : edge - 3].min() > 0.85


def test_nobody_gives_an_empty_box():
    frame = _step_frame()
    matte = MaskRefiner(MaskConfig()).refine(np.zeros((30, 40), np.float32), frame)
    assert matte.empty and not matte.alpha.any() and matte.fraction == 0.0
