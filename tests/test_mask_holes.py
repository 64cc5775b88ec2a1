"""Holes the person model leaves inside the person are filled; the room seen between an arm and
the body, and the room at the frame's sides, are not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vcam.config import MaskConfig
from vcam.mask_holes import enclosed_holes
from vcam.mask_refiner import MaskRefiner

H, W = 120, 160


def _person() -> np.ndarray:
    """A torso from the bottom edge up to row 30, columns 40-120 (float32 HxW, 1 = person)."""
    mask = np.zeros((H, W), np.float32)
    mask[30:, 40:120] = 1.0
    return mask


def test_a_region_the_model_half_saw_inside_the_person_is_filled():
    mask, confidence = _person(), _person()
    mask[50:70, 60:80] = 0.0
    confidence[50:70, 60:80] = 0.4  # a dark visor: middling confidence
    fill = enclosed_holes(mask, confidence, 0.1)
    assert fill is not None and fill[50:70, 60:80].all()
    assert fill.sum() == 400


def test_a_region_touching_only_the_bottom_edge_is_a_hole():
    mask, confidence = _person(), _person()
    mask[90:, 60:80] = 0.0  # a held object's visor, cut by the bottom of the frame
    confidence[90:, 60:80] = 0.4
    fill = enclosed_holes(mask, confidence, 0.1)
    assert fill is not None and fill[90:, 60:80].all()


def test_the_room_between_arm_and_body_and_at_the_sides_is_kept():
    mask, confidence = _person(), _person()
    mask[50:70, 60:80] = 0.0
    confidence[50:70, 60:80] = 0.05  # seen as room by the model
    assert enclosed_holes(mask, confidence, 0.1) is None
    # A gap that opens to the side of the frame is the room, whatever the confidence.
    mask, confidence = _person(), np.full((H, W), 0.4, np.float32)
    mask[60:70, :80] = 0.0
    assert enclosed_holes(mask, confidence, 0.1) is None


def test_large_regions_and_a_zero_limit_fill_nothing():
    mask, confidence = _person(), _person()
    mask[40:110, 45:115] = 0.0  # 4900 px: a quarter of the frame
    confidence[40:110, 45:115] = 0.4
    assert enclosed_holes(mask, confidence, 0.1) is None
    assert enclosed_holes(mask, confidence, 0.5) is not None
    assert enclosed_holes(mask, confidence, 0.0) is None


@pytest.mark.parametrize("method", ["guided", "none", "bilateral"])
def test_refiner_fills_a_visor_unless_told_not_to(method):
    frame = np.full((H, W, 3), 200, np.uint8)
    frame[30:, 40:120] = (200, 90, 40)
    frame[90:, 60:90] = 15  # a dark visor at the bottom edge
    confidence = _person()
    confidence[90:, 60:90] = 0.4
    cfg = MaskConfig(refine=method, smoothing=0.0)
    alpha = MaskRefiner(cfg)(confidence, frame)
    assert alpha[100:, 66:84].min() > 0.9
    assert alpha[:, :30].max() == 0.0 and alpha[:20].max() == 0.0
    off = MaskRefiner(MaskConfig(refine=method, smoothing=0.0, max_hole_fraction=0.0))
    assert off(confidence, frame)[100:, 66:84].max() < 0.5  # the scene shows through


def test_mask_config_refuses_a_bad_hole_limit():
    with pytest.raises(ValueError, match="max_hole_fraction"):
        MaskConfig(max_hole_fraction=0.7)


def test_the_demo_helmet_is_solid_with_the_real_model():
    """The built-in demo: the helmet she holds (its outline in the portrait, warped as the demo
    warps it) is solid in frame 45, where the model gives its visor 0.3-0.45."""
    pytest.importorskip("mediapipe")
    from vcam.demo_source import DemoSource, DemoSourceConfig
    from vcam.segmenter import Segmenter

    source = DemoSource(DemoSourceConfig(frames=46, realtime=False, seed=0))
    helmet = np.zeros((512, 512), np.float32)
    cv2.ellipse(helmet, (391, 461), (105, 108), 0, 0, 360, 1.0, -1)  # shrunk by 6 px
    for with_fill in (True, False):
        refine = MaskRefiner(MaskConfig(max_hole_fraction=0.1 if with_fill else 0.0))
        with Segmenter() as seg:
            for i in range(46):
                frame = source.render(i)
                alpha = refine(seg(frame, i * 33.0), frame)
        held = cv2.warpAffine(helmet, source.view_transform(45), (640, 480)) > 0.5
        see_through = float((alpha[held] < 0.5).mean())
        if with_fill:
            assert see_through < 0.05
        else:
            assert see_through > 0.2
