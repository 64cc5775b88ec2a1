"""The matte evaluation (train/eval/matte.py): its measures on known masks, and the camera's and
LFBW's rows on a short clip through the real MediaPipe pipeline."""
from __future__ import annotations

import json

import numpy as np
import pytest

from train.eval import matte
from vcam.images import PORTRAIT_PATH, read_rgb


def _ref(alpha: np.ndarray, fg: np.ndarray | None = None) -> matte.RefFrame:
    return matte.RefFrame(np.zeros(alpha.shape + (3,), np.uint8), alpha, fg)


def test_measures_on_known_masks():
    truth = np.zeros((100, 100), np.float32)
    truth[20:80, 30:70] = 1.0  # 2,400 person pixels
    alpha = truth.copy()
    alpha[0:10, 0:10] = 0.5  # 100 ghost pixels (>= 0.25 where the reference is 0)
    alpha[40:50, 40:50] = 0.2  # 100 hole pixels (< 0.5 where the reference is 1)
    scores, track = matte.MatteScores(), matte._Track()
    matte.score_frame(scores, track, alpha, _ref(truth), None)
    s = scores.summary()
    assert s["sad"] == pytest.approx(1000 * (100 * 0.5 + 100 * 0.8) / 10_000)
    assert s["ghost_pct"] == pytest.approx(1.0)
    assert s["hole_pct"] == pytest.approx(100 * 100 / 2400, abs=1e-3)
    assert s["flicker"] is None and s["spill"] is None  # one frame; no foreground given
    # The same error again: nothing flickers. The edge moving by 2 px while the reference
    # stays: flicker on the band.
    matte.score_frame(scores, track, alpha, _ref(truth), None)
    assert scores.summary()["flicker"] == 0.0
    moved = alpha.copy()
    moved[20:80, 70:72] = 1.0
    matte.score_frame(scores, track, moved, _ref(truth), None)
    assert scores.summary()["flicker"] > 0.0


def test_ghosts_and_holes_are_split_by_their_distance_from_the_edge():
    # A refinement can move errors at the person's edge; errors far from it are whole regions
    # the model got wrong. The split tells the two apart.
    truth = np.zeros((100, 100), np.float32)
    truth[20:80, 20:80] = 1.0  # 3,600 person pixels
    alpha = truth.copy()
    alpha[20:80, 80:82] = 1.0  # 120 ghost pixels 1-2 px outside the edge
    alpha[0:5, 0:5] = 1.0  # 25 ghost pixels over 20 px from it
    alpha[20:80, 20] = 0.0  # 60 hole pixels at the edge
    alpha[45:55, 45:55] = 0.0  # 100 hole pixels in the middle
    scores = matte.MatteScores()
    matte.score_frame(scores, matte._Track(), alpha, _ref(truth), None)
    s = scores.summary()
    assert s["ghost_pct"] == pytest.approx(1.45)
    assert s["ghost_edge_pct"] == pytest.approx(1.2)
    assert s["ghost_far_pct"] == pytest.approx(0.25)
    assert s["hole_pct"] == pytest.approx(100 * 160 / 3600, abs=1e-3)
    assert s["hole_edge_pct"] == pytest.approx(100 * 60 / 3600, abs=1e-3)
    assert s["hole_far_pct"] == pytest.approx(100 * 100 / 3600, abs=1e-3)


def test_spill_is_the_old_room_carried_onto_the_scene():
    truth = np.zeros((40, 40), np.float32)
    truth[:, :20] = 1.0
    truth[:, 20] = 0.5
    fg = np.full((40, 40, 3), 50, np.float32)
    ref = _ref(truth, fg)
    a = truth[..., None]
    scene = np.float32(matte.SCENE_COLOUR)
    ideal = np.rint(a * fg + (1 - a) * scene).astype(np.uint8)
    scores = matte.MatteScores()
    matte.score_frame(scores, matte._Track(), truth, ref, ideal)
    assert scores.summary()["spill"] < 0.5
    # The camera pixel at the edge mixes a white wall in: blended as it is, it shows.
    frame_colour = a * fg + (1 - a) * np.float32(255)
    plain = np.rint(a * frame_colour + (1 - a) * scene).astype(np.uint8)
    scores = matte.MatteScores()
    matte.score_frame(scores, matte._Track(), truth, ref, plain)
    assert scores.summary()["spill"] > 5.0


def test_fill_small_holes_keeps_the_border_and_large_regions():
    alpha = np.ones((50, 50), np.float32)
    alpha[10:13, 10:13] = 0.0  # small, enclosed: filled
    alpha[:, 45:] = 0.0  # touches the border: kept
    out = matte.fill_small_holes(alpha, 0.01)
    assert out[10:13, 10:13].min() == 1.0 and out[:, 45:].max() == 0.0


def test_camera_and_lfbw_rows_on_an_animated_still(tmp_path):
    # The bundled portrait with a rough person box as the "reference": the rows run through the
    # real pipeline and MediaPipe, and the report holds a figure for every measure.
    rgb = read_rgb(PORTRAIT_PATH)
    alpha = np.zeros(rgb.shape[:2], np.float32)
    alpha[60:, 60:360] = 1.0
    clip = matte._animated("corpus", "portrait", PORTRAIT_PATH, alpha, rgb, 4, (320, 240), 1)
    methods = {"camera": matte.CameraMethod(), "lfbw": matte.LfbwMethod()}
    keep = {("corpus/portrait", 2): {}}
    report = matte.evaluate([clip], methods, (320, 240), keep, per_clip=True)
    for name in methods:
        row = report.sets["corpus"][name]
        assert row["frames"] == 4
        assert all(row[k] is not None for k in ("sad", "ghost_pct", "hole_pct", "flicker",
                                                 "spill"))
        assert 0 < row["sad"] < 500
    table = matte.format_markdown(report)
    assert "| corpus | camera | 4 |" in table
    assert table.count("| corpus | lfbw |") == 2  # the measures, and where the errors lie
    assert report.sets["corpus, one person"]["lfbw"] == report.sets["corpus"]["lfbw"]
    path = matte.grid(keep, ["camera", "lfbw", "rvm"], tmp_path / "grid.jpg", tile_height=60)
    assert path.stat().st_size > 0
    json.dumps(report.sets)
