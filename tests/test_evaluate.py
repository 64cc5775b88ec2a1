"""train.eval.evaluate and train.eval.temporal: baselines side by side, conventions named, flicker scores."""
import importlib.util
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import phnet
from phnet.colortransfer import ColorTransfer
from train.eval.evaluate import Composite, eval_main, evaluate_dataset, evenly_spaced, format_markdown
from train.eval.metrics import MetricConfig
from train.eval.temporal import (
    VideoConfig,
    evaluate_temporal,
    flicker_score,
    format_temporal_markdown,
    fr_rtc,
    make_video,
    run_video,
)

HAVE_DATASETS = importlib.util.find_spec("train.data.build") is not None


def _photo(h: int, w: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A smooth random RGB uint8 "photo" and a float32 head-and-shoulders mask (1 = person)."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(30, 220, size=(6, 6, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)  # texture
    yy, xx = np.mgrid[:h, :w]
    head = ((yy - 0.4 * h) / (0.22 * h)) ** 2 + ((xx - 0.5 * w) / (0.17 * w)) ** 2 < 1
    body = (yy > 0.6 * h) & (np.abs(xx - 0.5 * w) < 0.3 * w)
    return np.clip(img, 0, 255).astype(np.uint8), (head | body).astype(np.float32)


def _items(n: int, size: int = 64) -> list[dict]:
    """In-memory data set items with the train.data.base layout: the person recoloured."""
    items = []
    for i in range(n):
        real, mask = _photo(size, size, seed=i)
        gain = np.array([1.3, 0.9, 0.7]) if i % 2 else np.array([0.7, 1.0, 1.25])
        comp = real * (1 - mask[..., None]) + np.clip(real * gain, 0, 255) * mask[..., None]
        to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1) / 255.0)).float()
        items.append(dict(composite=to_t(comp), mask=torch.from_numpy(mask)[None], real=to_t(real.astype(np.float64)),
                          name=f"img{i}", subset="A" if i < n // 2 else "B"))
    return items


@pytest.fixture(scope="module")
def nano_ckpt(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "nano.safetensors"
    phnet.save(phnet.build("nano"), path)
    return path


def _methods(ckpt: Path) -> dict:
    return {
        "composite": Composite(),
        "colortransfer": ColorTransfer(),
        "phnet": phnet.Harmonizer.load(ckpt, device="cpu", momentum=1.0),
    }


# ---------------------------------------------------------------- still images


def test_evaluate_frame_path_all_methods_and_conventions(nano_ckpt):
    res = evaluate_dataset(_items(4), _methods(nano_ckpt), describe={"kind": "memory", "split": "test", "size": 64})
    assert list(res.methods) == ["composite", "colortransfer", "phnet"]
    comp = res.methods["composite"]["overall"]
    assert comp["n"] == 4 and comp["fmse"] > 0 and comp["mse"] > 0
    ct = res.methods["colortransfer"]["overall"]
    assert ct["n"] == 4 and math.isfinite(ct["fmse"]) and ct["fmse"] != comp["fmse"]
    assert math.isfinite(res.methods["phnet"]["overall"]["psnr"])
    assert set(res.methods["phnet"]["subsets"]) == {"A", "B"}
    assert res.methods["composite"]["buckets"]["15-100%"]["n"] == 4
    assert res.info["phnet"]["method"] == "phnet" and res.info["colortransfer"]["method"] == "colortransfer"
    md = format_markdown(res)
    for text in ("composite", "colortransfer", "phnet", "idih", "peak target-max", "Per subset",
                 "Per foreground ratio", "0-5%", "5-15%", "15-100%", "frame path", "capped"):
        assert text in md, text
    json.dumps(res.to_dict())


def test_composite_baseline_matches_the_metrics_of_the_inputs():
    items = _items(2)
    res = evaluate_dataset(items, {"composite": Composite()})
    from train.eval.metrics import compute_metrics

    ref = [compute_metrics(np.rint(it["composite"].permute(1, 2, 0).numpy() * 255),
                           np.rint(it["real"].permute(1, 2, 0).numpy() * 255), it["mask"][0].numpy())
           for it in items]
    assert res.methods["composite"]["overall"]["fmse"] == pytest.approx(np.mean([r.fmse for r in ref]))


def test_tensor_path_and_peak_255(nano_ckpt):
    cfg = MetricConfig(peak="255", fmse="iharmony4")
    res = evaluate_dataset(_items(2), _methods(nano_ckpt), cfg, path="tensor", batch_size=2)
    assert res.path == "tensor" and res.methods["phnet"]["overall"]["n"] == 2
    md = format_markdown(res)
    assert "peak 255" in md and "iharmony4" in md and "tensor path" in md


def test_limit_spreads_over_the_data_set_and_empty_data_set_is_an_error():
    assert evenly_spaced(10, 3) == [0, 4, 9]
    assert evenly_spaced(3, 10) == [0, 1, 2]
    res = evaluate_dataset(_items(6), {"composite": Composite()}, limit=2)
    assert res.methods["composite"]["overall"]["n"] == 2
    assert set(res.methods["composite"]["subsets"]) == {"A", "B"}
    with pytest.raises(ValueError, match="empty"):
        evaluate_dataset([], {"composite": Composite()})


def test_cli_errors_for_missing_checkpoint_and_phnet_without_one(tmp_path):
    with pytest.raises(SystemExit) as e:
        eval_main(["--data-kind", "ffhqh", "--data-root", str(tmp_path), "--methods", "phnet",
                   "--checkpoint", str(tmp_path / "missing.safetensors")])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        eval_main(["--data-kind", "ffhqh", "--data-root", str(tmp_path), "--methods", "composite,phnet"])
    with pytest.raises(SystemExit):
        eval_main(["--data-kind", "ffhqh", "--data-root", str(tmp_path), "--methods", "nonsense"])


def _write_iharmony4_tree(root: Path, per_subset: int = 3, size: int = 48) -> None:
    """A miniature iHarmony4 tree (two subsets, their test lists) written with OpenCV."""
    to_bgr = lambda t: cv2.cvtColor(np.rint(t.permute(1, 2, 0).numpy() * 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    items = _items(2 * per_subset, size)
    for s, subset in enumerate(("HFlickr", "Hday2night")):
        base = root / subset
        for sub in ("composite_images", "masks", "real_images"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        lines = []
        for i in range(per_subset):
            it = items[s * per_subset + i]
            real, comp = f"r{s}{i:03d}", f"r{s}{i:03d}_1_1.jpg"
            cv2.imwrite(str(base / "composite_images" / comp), to_bgr(it["composite"]), [cv2.IMWRITE_JPEG_QUALITY, 98])
            cv2.imwrite(str(base / "masks" / f"{real}_1.png"), (it["mask"][0].numpy() * 255).astype(np.uint8))
            cv2.imwrite(str(base / "real_images" / f"{real}.jpg"), to_bgr(it["real"]), [cv2.IMWRITE_JPEG_QUALITY, 98])
            lines.append(f"{subset}/composite_images/{comp}")
        (base / f"{subset}_test.txt").write_text("\n".join(lines) + "\n")
        (base / f"{subset}_train.txt").write_text("")


@pytest.mark.skipif(not HAVE_DATASETS, reason="train/data/build.py (build_dataset) is not there yet")
def test_cli_on_a_generated_data_set(tmp_path, nano_ckpt):
    root = tmp_path / "ih4"
    _write_iharmony4_tree(root)
    out_json, out_md = tmp_path / "res.json", tmp_path / "res.md"
    code = eval_main(["--data-kind", "iharmony4", "--data-root", str(root), "--split", "test", "--size", "32",
                      "--checkpoint", str(nano_ckpt), "--device", "cpu", "--json", str(out_json),
                      "--markdown", str(out_md), "--no-progress", "--grid", str(tmp_path / "g.png"),
                      "--grid-count", "3"])
    assert code == 0
    grid = cv2.imread(str(tmp_path / "g.png"))
    # three rows under a label band; composite, colour transfer, phnet and real, 192 px tiles
    assert grid is not None and grid.shape[:2] == (3 * 192 + 22, 4 * 192)
    data = json.loads(out_json.read_text())
    assert list(data["methods"]) == ["composite", "colortransfer", "phnet"]
    assert data["metric"]["peak"] == "target-max" and data["metric"]["fmse"] == "idih"
    comp = data["methods"]["composite"]
    assert comp["overall"]["n"] == 6 and comp["overall"]["fmse"] > 0
    assert set(comp["subsets"]) == {"HFlickr", "Hday2night"}
    assert math.isfinite(data["methods"]["colortransfer"]["overall"]["fmse"])
    md = out_md.read_text()
    for text in ("composite", "colortransfer", "phnet", "idih", "target-max", "HFlickr", "15-100%"):
        assert text in md, text
    # native size goes through the frame path at each image's own size
    assert eval_main(["--data-kind", "iharmony4", "--data-root", str(root), "--size", "native",
                      "--methods", "composite,colortransfer", "--limit", "2", "--no-progress",
                      "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["dataset"]["size"] is None


@pytest.mark.skipif(not HAVE_DATASETS, reason="train/data/build.py (build_dataset) is not there yet")
def test_cli_empty_or_missing_data_set_is_a_clear_error(tmp_path, caplog):
    root = tmp_path / "ih4"
    _write_iharmony4_tree(root, per_subset=1)
    for subset in ("HFlickr", "Hday2night"):
        (root / subset / f"{subset}_test.txt").write_text("")
    assert eval_main(["--data-kind", "iharmony4", "--data-root", str(root), "--methods", "composite",
                      "--no-progress"]) == 2
    assert "empty" in caplog.text
    assert eval_main(["--data-kind", "iharmony4", "--data-root", str(tmp_path / "nowhere"),
                      "--methods", "composite", "--no-progress"]) == 2


# ---------------------------------------------------------------- temporal


class Perfect:
    """Returns the ground truth of the clip it is given: the ideal harmoniser."""

    def __init__(self, video):
        self.video, self.t = video, 0

    def reset(self):
        self.t = 0

    def __call__(self, composite, mask):
        self.t += 1
        return self.video.reals[self.t - 1]


def _clip(**kw):
    real, mask = _photo(64, 64, seed=3)
    return make_video(real, mask, VideoConfig(**{"frames": 16, **kw}))


def test_video_has_known_motion_and_recolours_only_the_person():
    v = _clip(jitter=0.05)
    assert len(v) == 16 and v.gains.shape == (16, 3)
    assert not np.array_equal(v.reals[0], v.reals[8])  # it moves
    bg = v.true_masks[5] == 0
    assert np.array_equal(v.composites[5][bg], v.reals[5][bg])  # background untouched
    fg = v.true_masks[5] == 1
    assert np.abs(v.composites[5][fg].astype(int) - v.reals[5][fg]).mean() > 5
    assert np.array_equal(_clip(jitter=0.05).composites[7], v.composites[7])  # seeded


def test_perfect_harmoniser_has_zero_flicker():
    v = _clip(jitter=0.05, mask_jitter_px=2)
    res = evaluate_temporal({"perfect": Perfect(v), "composite": Composite()}, [v])
    assert res.methods["perfect"]["flicker"] == 0.0
    assert res.methods["perfect"]["fr_rtc"] == 0.0
    assert res.methods["perfect"]["fmse"] == 0.0
    assert res.methods["composite"]["flicker"] > 0.0 and res.methods["composite"]["fr_rtc"] > 0.0


def test_composite_flicker_grows_with_jitter():
    steady = evaluate_temporal({"c": Composite()}, [_clip(jitter=0.0)]).methods["c"]["flicker"]
    jittery = evaluate_temporal({"c": Composite()}, [_clip(jitter=0.05)]).methods["c"]["flicker"]
    assert jittery > steady > 0.0


def test_smoothing_steadies_colour_transfer_under_mask_jitter():
    # A segmenter's edge jitters: per-frame statistics are noisy, an EMA averages that out.
    v = _clip(jitter=0.0, drift_brightness=0.0, drift_colour=0.0, mask_jitter_px=2)
    res = evaluate_temporal({"m1": ColorTransfer(momentum=1.0), "m05": ColorTransfer(momentum=0.5)}, [v])
    assert res.methods["m05"]["flicker"] < res.methods["m1"]["flicker"]
    assert res.methods["m05"]["fr_rtc"] < res.methods["m1"]["fr_rtc"]


def test_stateless_colour_transfer_cancels_exposure_jitter_that_smoothing_lets_through():
    # Per-frame gains on the person are undone by per-frame statistics; an EMA lags behind them.
    v = _clip(jitter=0.05, mask_jitter_px=0)
    res = evaluate_temporal({"m1": ColorTransfer(momentum=1.0), "m02": ColorTransfer(momentum=0.2)}, [v])
    assert res.methods["m1"]["flicker"] < res.methods["m02"]["flicker"]


def test_harmoniser_state_carries_through_the_clip(nano_ckpt):
    v = _clip(jitter=0.05)
    h = phnet.Harmonizer.load(nano_ckpt, device="cpu", momentum=0.2)
    outs = run_video(h, v)
    assert h._state is not None and len(outs) == len(v)
    h2 = phnet.Harmonizer.load(nano_ckpt, device="cpu", momentum=1.0)
    assert not np.array_equal(run_video(h2, v)[-1], outs[-1])  # smoothing changed later frames


def test_flicker_and_fr_rtc_by_hand():
    m = [np.ones((1, 2), np.float32)] * 3
    gt = [np.full((1, 2, 3), v, np.uint8) for v in (10, 20, 30)]
    out = [np.full((1, 2, 3), v, np.uint8) for v in (10, 24, 30)]
    # changes: gt +10, +10; out +14, +6 -> differences 4, -4 -> squared 16 each
    assert flicker_score(out, gt, m) == pytest.approx(16.0)
    # b = V means: gt 10, 20, 30; out 10, 24, 30; dg = (10 - 14, 10 - 6) = (-4, 4); |dg| = mean
    assert fr_rtc(out, gt, m) == pytest.approx(16.0)
    out2 = [np.full((1, 2, 3), v, np.uint8) for v in (10, 20, 40)]  # dg = (0, -10)
    assert fr_rtc(out2, gt, m) == pytest.approx((0 + 100 + 0 + 25) / 2)


def test_temporal_cli_from_an_image(tmp_path, nano_ckpt):
    real, mask = _photo(48, 64, seed=1)
    cv2.imwrite(str(tmp_path / "p.png"), cv2.cvtColor(real, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(tmp_path / "m.png"), (mask * 255).astype(np.uint8))
    out_json, out_md = tmp_path / "t.json", tmp_path / "t.md"
    code = eval_main(["--temporal", "--image", str(tmp_path / "p.png"), "--mask", str(tmp_path / "m.png"),
                      "--frames", "6", "--video-size", "48", "--checkpoint", str(nano_ckpt), "--device", "cpu",
                      "--json", str(out_json), "--markdown", str(out_md), "--no-progress"])
    assert code == 0
    data = json.loads(out_json.read_text())
    assert set(data["scenarios"]) == {"exposure", "segmentation"}
    methods = data["scenarios"]["exposure"]["methods"]
    assert set(methods) == {"composite", "colortransfer m=1", "colortransfer m=0.2", "phnet m=1", "phnet m=0.2"}
    md = out_md.read_text()
    assert "Flicker" in md and "fR-RTC" in md and "phnet m=0.2" in md
    assert format_temporal_markdown(evaluate_temporal({"c": Composite()}, [_clip()])).count("| c |") == 1


def test_several_checkpoints_get_distinct_labels(tmp_path, nano_ckpt):
    import argparse
    import shutil

    from train.eval.evaluate import _load_phnets

    (tmp_path / "b").mkdir()
    other = shutil.copy(nano_ckpt, tmp_path / "b" / nano_ckpt.name)
    args = argparse.Namespace(checkpoint=[str(nano_ckpt), str(other)], device="cpu", backend="auto", resolution=None)
    assert list(_load_phnets(args, [1.0, 0.2])) == [
        "phnet:nano.safetensors#1 m=1", "phnet:nano.safetensors#1 m=0.2",
        "phnet:nano.safetensors#2 m=1", "phnet:nano.safetensors#2 m=0.2",
    ]
