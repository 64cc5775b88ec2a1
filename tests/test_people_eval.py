"""The people evaluation: identity metric, the person's colour shift on new backgrounds, the
whole ``phnet-eval --people`` report on a tiny corpus."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tiny_corpus import make_tiny_corpus
from train.eval import people as pe
from train.eval.evaluate import Composite, eval_main


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"))


class PaintGreen:
    """A harmoniser that does what the first shipped model did over a lawn."""

    def __call__(self, composite, mask):
        out = composite.astype(np.float32)
        out[..., 1] += 60 * mask
        out[..., 0] -= 20 * mask
        return np.clip(out, 0, 255).astype(np.uint8)


def test_lab_shift_is_zero_for_an_unchanged_person_and_signed_for_a_green_one():
    rng = np.random.default_rng(0)
    img = rng.integers(60, 200, size=(32, 32, 3), dtype=np.uint8)
    region = np.zeros((32, 32), bool)
    region[8:24, 8:24] = True
    assert pe.lab_shift(img, img, region) == (0.0, 0.0, 0.0)
    green = PaintGreen()(img, region.astype(np.float32))
    dL, da, db = pe.lab_shift(img, green, region)
    assert da < -10
    assert pe.lab_shift(img, img, np.zeros((32, 32), bool)) is None


def test_people_load_with_their_faces_inside_the_crop(corpus):
    people = pe.load_people(corpus, "test", 64)
    assert [p.name for p in people] == sorted(p.name for p in people) and len(people) == 3
    for p in people:
        assert p.image.shape == (64, 64, 3) and p.alpha.shape == (64, 64)
        x, y, w, h = p.faces[0]
        assert 0 <= x and x + w <= 64 and 0 <= y and y + h <= 64
    assert len(pe.load_people(corpus, "test", None, single_only=True)) == 2


def test_new_backgrounds_flag_a_green_face_and_not_the_composite(corpus):
    people = pe.load_people(corpus, "test", 64)
    backgrounds = pe.bundled_backgrounds()
    assert set(backgrounds) == {"dune", "meadow", "storm"}
    res = pe.new_background_shifts({"composite": Composite(), "green": PaintGreen()}, people,
                                   backgrounds)
    for bg in backgrounds:
        # The composite keeps the person's own pixels (up to the matte's soft edge).
        assert res.methods["composite"][bg]["body"]["abs_da"] < 1.0
        assert res.methods["green"][bg]["body"]["da"] < -10
        assert res.methods["green"][bg]["skin"]["da"] < -10
    assert res.n_faces == 3


def test_cover_fills_the_frame_from_the_centre():
    bg = np.zeros((10, 40, 3), np.uint8)
    bg[:, 15:25] = 255
    out = pe.cover(bg, 20, 20)
    assert out.shape == (20, 20, 3) and out[10, 10, 0] == 255


def test_phnet_eval_people_reports_all_four_measurements(corpus, tmp_path):
    md, js, grid = tmp_path / "people.md", tmp_path / "people.json", tmp_path / "grid.jpg"
    rc = eval_main(["--people", "--data-root", str(corpus), "--split", "test", "--size", "64",
                    "--methods", "composite,colortransfer", "--samples", "2", "--frames", "4",
                    "--scenarios", "exposure", "--scenes", "1", "--video-size", "64",
                    "--markdown", str(md), "--json", str(js), "--grid", str(grid),
                    "--grid-count", "2", "--no-progress"])
    assert rc == 0
    text = md.read_text()
    for heading in ("# People: held-out people", "People, recolour", "People, identity",
                    "New backgrounds", "People, temporal"):
        assert heading in text
    data = json.loads(js.read_text())
    # Identity: the composite is the photo itself, so its error is exactly zero; colour
    # transfer moves a consistent person towards its own background, so it is not.
    assert data["identity"]["methods"]["composite"]["overall"]["fmse"] == 0.0
    assert data["identity"]["methods"]["colortransfer"]["overall"]["fmse"] > 0.0
    assert data["recolour"]["methods"]["composite"]["overall"]["fmse"] > 0.0
    assert set(data["new_backgrounds"]["backgrounds"]) >= {"dune", "meadow", "storm"}
    img = cv2.imread(str(grid))
    assert img is not None and img.shape[0] > 2 * 64


def test_phnet_eval_people_needs_a_corpus(tmp_path):
    with pytest.raises(SystemExit):
        eval_main(["--people", "--no-progress"])
    assert eval_main(["--people", "--data-root", str(tmp_path), "--methods", "composite",
                      "--no-progress"]) == 2


def test_phnet_eval_people_can_leave_out_the_temporal_part(corpus, tmp_path):
    md = tmp_path / "people.md"
    rc = eval_main(["--people", "--data-root", str(corpus), "--size", "native", "--no-temporal",
                    "--methods", "composite", "--samples", "1", "--scenes", "0",
                    "--markdown", str(md), "--no-progress"])
    assert rc == 0
    text = md.read_text()
    assert "People, identity" in text and "People, temporal" not in text


def test_per_image_keeps_each_persons_figures(corpus, tmp_path):
    import json

    js = tmp_path / "people.json"
    rc = eval_main(["--people", "--data-root", str(corpus), "--size", "64", "--no-temporal",
                    "--methods", "composite", "--samples", "1", "--scenes", "0", "--per-image",
                    "--json", str(js), "--no-progress"])
    assert rc == 0
    records = json.loads(js.read_text())["identity"]["per_image"]["composite"]
    assert records and all("name" in r and r["fmse"] == 0 for r in records if r["fmse"] is not None)
