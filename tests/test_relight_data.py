"""Relight triples: a light change in linear RGB, another view of the room, the truth known."""
import numpy as np
import pytest
import torch

from phnet.light import LUMA, srgb_to_linear
from tiny_corpus import make_tiny_corpus
from train.data.base import DataConfig
from train.data.build import build_dataset
from train.data.relight import Light, daylight_shift, draw_light, relight_clip, relight_triple


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"),
                            sources={"people/t__bob.jpg": "held", "people/t__dan.jpg": "held"})


def _photo():
    rng = np.random.default_rng(0)
    img = rng.uniform(0.05, 0.8, size=(64, 48, 3)).astype(np.float32)
    alpha = np.zeros((64, 48), np.float32)
    alpha[20:60, 12:36] = 1.0
    return img, alpha


def test_warmer_light_raises_red_lowers_blue_and_keeps_luminance():
    g = daylight_shift(60.0)
    assert g[0] > 0.2 and g[2] < -0.4
    assert abs(np.log2(LUMA @ np.exp2(g))) < 1e-9
    assert np.allclose(daylight_shift(0.0), 0.0, atol=1e-12)


def test_no_light_change_is_the_identity_and_exposure_is_linear():
    img, _ = _photo()
    assert np.abs(Light().apply(img) - img).max() < 1e-5
    up = Light(exposure=1.0).apply(img * 0.5)
    ratio = srgb_to_linear(up) / srgb_to_linear(img * 0.5)
    assert np.allclose(ratio[srgb_to_linear(up) < 0.99], 2.0, rtol=1e-3)


def test_evaluation_lights_are_in_the_stated_ranges():
    rng = np.random.default_rng(1)
    for _ in range(50):
        light = draw_light(rng, evaluation=True)
        assert 0.35 <= abs(light.exposure) <= 1.0 and 20 <= abs(light.mired) <= 60
        assert light.tint == 0 and light.tone == 0


def test_aligned_triple_truth_is_the_whole_frame_under_the_light():
    img, alpha = _photo()
    light = Light(exposure=0.5, mired=30)
    t = relight_triple(img, alpha, light, np.random.default_rng(0), aligned=True, degrade=False)
    np.testing.assert_allclose(t.real, light.apply(img), atol=1e-5)
    person = alpha == 1
    np.testing.assert_allclose(t.composite[person], img[person], atol=1e-6)
    np.testing.assert_allclose(t.composite[~person & (alpha == 0)], t.real[alpha == 0], atol=1e-6)


def test_training_triples_show_another_view_of_the_room():
    img, alpha = _photo()
    t = relight_triple(img, alpha, Light(exposure=0.5), np.random.default_rng(3), aligned=False,
                       degrade=False)
    room = alpha == 0
    # Not a pixel-aligned copy of the relit room (a model must not learn to divide pixels) ...
    assert np.abs(t.composite[room] - Light(exposure=0.5).apply(img)[room]).mean() > 0.05
    # ... but the truth's background is the composite's: only the person changes.
    np.testing.assert_allclose(t.composite[room], t.real[room], atol=1e-6)


def test_relight_clip_truth_ignores_the_webcams_exposure_jitter():
    img, alpha = _photo()
    clip = relight_clip(img, alpha, 6, np.random.default_rng(2))
    person = alpha == 1
    captured_person = [c.captured[person].mean() for c in clip]
    assert np.std(captured_person) > 1e-3  # the camera jitters ...
    for c in clip:  # ... the truth is the person as photographed under that frame's light
        np.testing.assert_allclose(c.real[person], c.light.apply(img)[person], atol=1e-6)


def test_corpus_relight_items_carry_the_captured_frame(corpus):
    ds = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="relight:1", size=64,
                                  samples_per_image=2), "train")
    for i in range(len(ds)):
        item = ds[i]
        assert item["subset"] == "relight"
        assert item["captured"].shape == item["composite"].shape
        assert not torch.equal(item["captured"], item["composite"])


def test_other_kinds_are_their_own_captured_frame(corpus):
    ds = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="people:1,identity:1",
                                  size=64, samples_per_image=2), "train")
    for i in range(len(ds)):
        item = ds[i]
        assert torch.equal(item["captured"], item["composite"])


def test_excluded_sources_are_in_no_split(corpus):
    for split in ("train", "val", "test"):
        ds = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="people:1",
                                      exclude_sources=("held",)), split)
        assert all(e.source != "held" for e in ds.entries)
    ds = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="people:1"), "train")
    assert any(e.source == "held" for e in ds.entries)
    cfg = DataConfig(kind="corpus", root="x", exclude_sources="a, b")
    assert cfg.exclude_sources == ("a", "b")


def test_balanced_sources_draw_each_source_about_equally(tmp_path):
    from collections import Counter

    # Six of the seven people come from source "t", one from "held": balance them.
    corpus = make_tiny_corpus(tmp_path, sources={"people/t__ann.jpg": "held"})
    ds = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="identity:1", size=32,
                                  samples_per_image=60, balance_sources=True), "train")
    names = Counter(ds[i]["name"].split("#")[0] for i in range(len(ds)))
    held = names["people/t__ann.jpg"] / sum(names.values())
    assert 0.35 < held < 0.65


def test_relight_triples_also_come_from_objects(corpus):
    ds = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="relight:1", size=32,
                                  samples_per_image=8), "train")
    assert any(e.kind == "object" for e in ds.entries) and any(e.kind == "person" for e in ds.entries)
