"""train.eval.metrics against values computed by hand on tiny arrays."""
import math

import numpy as np
import pytest
import torch

from train.eval.metrics import (
    BUCKETS,
    MetricAccumulator,
    MetricConfig,
    batch_metrics,
    bucket_of,
    compute_metrics,
    fmse,
    foreground_ratio,
    fpsnr,
    mse,
    psnr,
    psnr_from_mse,
)


def _pair():
    """2x2 images: errors (10, 20, 30) at (0, 0) and (6, 6, 6) at (1, 1); target max 200."""
    target = np.full((2, 2, 3), 100.0)
    target[0, 1] = 200.0
    pred = target.copy()
    pred[0, 0] += [10.0, 20.0, 30.0]  # squared error 100 + 400 + 900 = 1400
    pred[1, 1] += 6.0  # squared error 3 * 36 = 108
    return pred, target


SOFT = np.array([[1.0, 0.0], [0.0, 0.6]], dtype=np.float32)


def test_mse_is_the_mean_over_pixels_and_channels():
    pred, target = _pair()
    assert mse(pred, target) == pytest.approx(1508.0 / 12.0)
    assert mse(target.astype(np.uint8), target) == 0.0


def test_fmse_binarised_mask_same_for_both_conventions():
    pred, target = _pair()
    # Binarised at 0.5: the mask is 1 at (0, 0) and (1, 1) -> 1508 / (3 * 2).
    for conv in ("idih", "iharmony4"):
        assert fmse(pred, target, SOFT, conv) == pytest.approx(1508.0 / 6.0)


def test_fmse_conventions_differ_on_a_soft_mask():
    pred, target = _pair()
    idih = fmse(pred, target, SOFT, "idih", threshold=None)
    ih4 = fmse(pred, target, SOFT, "iharmony4", threshold=None)
    assert idih == pytest.approx((1400.0 + 0.6 * 108.0) / (3 * 1.6))  # 305.1667, paper Eq. 16
    assert ih4 == pytest.approx((1400.0 + 0.36 * 108.0) / (3 * 1.6))  # 299.7667, paper Eq. 17
    assert idih == pytest.approx(305.1666667) and ih4 == pytest.approx(299.7666667)
    assert idih != pytest.approx(ih4)


def test_fmse_of_an_empty_mask_is_nan():
    pred, target = _pair()
    assert math.isnan(fmse(pred, target, np.zeros((2, 2), np.float32)))


def test_psnr_with_both_peaks():
    pred, target = _pair()
    m = 1508.0 / 12.0
    assert psnr(pred, target, "target-max") == pytest.approx(10 * math.log10(200.0**2 / m))
    assert psnr(pred, target, "target-max") == pytest.approx(25.0283, abs=1e-4)
    assert psnr(pred, target, "255") == pytest.approx(10 * math.log10(255.0**2 / m))
    assert psnr(pred, target, "255") == pytest.approx(27.1386, abs=1e-4)


def test_fpsnr_uses_fmse_with_the_same_peak():
    pred, target = _pair()
    f = 1508.0 / 6.0
    assert fpsnr(pred, target, SOFT) == pytest.approx(10 * math.log10(200.0**2 / f))
    assert fpsnr(pred, target, SOFT, peak="255") == pytest.approx(10 * math.log10(255.0**2 / f))
    soft = fpsnr(pred, target, SOFT, "iharmony4", "255", threshold=None)
    assert soft == pytest.approx(10 * math.log10(255.0**2 / 299.7666667))


def test_zero_error_is_capped_and_flagged():
    _, target = _pair()
    m = compute_metrics(target, target, SOFT)
    assert m.mse == 0.0 and m.fmse == 0.0
    assert m.psnr == 100.0 and m.fpsnr == 100.0
    assert m.psnr_capped and m.fpsnr_capped
    assert compute_metrics(target, target, SOFT, MetricConfig(psnr_cap=60.0)).psnr == 60.0
    assert psnr_from_mse(0.0, 255.0) == 100.0
    assert math.isnan(psnr_from_mse(math.nan, 255.0))
    acc = MetricAccumulator()
    acc.add(m)
    assert acc.summary()["overall"]["n_capped"] == 2


def test_compute_metrics_agrees_with_the_single_functions():
    pred, target = _pair()
    cfg = MetricConfig(fmse="iharmony4", peak="255", mask_threshold=None)
    m = compute_metrics(pred, target, SOFT, cfg)
    assert m.mse == pytest.approx(mse(pred, target))
    assert m.fmse == pytest.approx(fmse(pred, target, SOFT, "iharmony4", None))
    assert m.psnr == pytest.approx(psnr(pred, target, "255"))
    assert m.fpsnr == pytest.approx(fpsnr(pred, target, SOFT, "iharmony4", "255", None))
    assert m.fg_ratio == pytest.approx(1.6 / 4)


@pytest.mark.parametrize(
    "pixels, bucket",
    [(0, "0-5%"), (4, "0-5%"), (5, "5-15%"), (14, "5-15%"), (15, "15-100%"), (100, "15-100%")],
)
def test_bucket_boundaries_at_5_and_15_percent(pixels, bucket):
    mask = np.zeros((10, 10), np.float32)
    mask.flat[:pixels] = 1.0
    assert foreground_ratio(mask) == pytest.approx(pixels / 100)
    assert bucket_of(foreground_ratio(mask)) == bucket
    target = np.zeros((10, 10, 3))
    assert compute_metrics(target, target, mask).bucket == bucket


def test_bucket_of_edges_and_errors():
    assert bucket_of(0.05) == "5-15%" and bucket_of(0.15) == "15-100%" and bucket_of(1.0) == "15-100%"
    assert [b[0] for b in BUCKETS] == ["0-5%", "5-15%", "15-100%"]
    with pytest.raises(ValueError):
        bucket_of(-0.1)


def test_accumulator_averages_per_image_not_per_pixel():
    acc = MetricAccumulator()
    small_t = np.full((1, 1, 3), 50.0)
    small_p = small_t + 10.0  # one pixel, MSE 100
    big_t = np.full((10, 10, 3), 50.0)
    big_p = big_t.copy()
    big_p[0, 0] += 20.0  # 100 pixels, MSE 400 / 100 = 4
    acc.update(small_p, small_t, np.ones((1, 1), np.float32), subset="A")
    acc.update(big_p, big_t, np.ones((10, 10), np.float32), subset="B")
    s = acc.summary()
    assert s["overall"]["n"] == 2
    assert s["overall"]["mse"] == pytest.approx((100.0 + 4.0) / 2)  # per pixel it would be ~4.95
    assert s["overall"]["fmse"] == pytest.approx((100.0 + 4.0) / 2)
    assert s["subsets"]["A"]["mse"] == pytest.approx(100.0)
    assert s["subsets"]["B"]["mse"] == pytest.approx(4.0)
    assert s["buckets"]["15-100%"]["n"] == 2 and s["buckets"]["0-5%"]["n"] == 0
    assert s["buckets"]["0-5%"]["mse"] is None
    assert s["overall"]["psnr"] == pytest.approx(
        (10 * math.log10(50.0**2 / 100.0) + 10 * math.log10(50.0**2 / 4.0)) / 2
    )
    assert s["conventions"] == MetricConfig().to_dict()
    assert len(acc) == 2


def test_accumulator_skips_empty_masks_for_foreground_metrics():
    acc = MetricAccumulator(keep_records=True)
    t = np.zeros((2, 2, 3))
    acc.update(t + 2.0, t, np.zeros((2, 2), np.float32), name="empty")
    acc.update(t + 4.0, t, np.ones((2, 2), np.float32), name="full")
    s = acc.summary()["overall"]
    assert s["n"] == 2 and s["n_fg"] == 1
    assert s["mse"] == pytest.approx(10.0) and s["fmse"] == pytest.approx(16.0)
    assert [r["name"] for r in acc.records] == ["empty", "full"]


def test_batch_metrics_scales_tensors_to_255_without_rounding():
    torch.manual_seed(0)
    real = torch.rand(2, 3, 8, 8)
    pred = (real + 0.01).clamp(0, 1)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1.0
    ms = batch_metrics(pred, real, mask)
    assert len(ms) == 2
    ref = compute_metrics(pred[0].permute(1, 2, 0).double().numpy() * 255,
                          real[0].permute(1, 2, 0).double().numpy() * 255, mask[0, 0].numpy())
    assert ms[0].mse == pytest.approx(ref.mse) and ms[0].fmse == pytest.approx(ref.fmse)
    assert ms[0].bucket == "15-100%"  # 16 / 64 = 25 %


def test_config_validates_and_names_its_conventions():
    with pytest.raises(ValueError, match="fmse"):
        MetricConfig(fmse="mean")
    with pytest.raises(ValueError, match="peak"):
        MetricConfig(peak="max-min")
    text = MetricConfig(fmse="iharmony4", peak="255").describe()
    assert "iharmony4" in text and "255" in text and "binarised at 0.5" in text and "100 dB" in text
    assert "target-max" in MetricConfig().describe() and "idih" in MetricConfig().describe()


def test_shape_errors_say_what_came():
    with pytest.raises(ValueError, match="HxWx3"):
        mse(np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="does not match"):
        mse(np.zeros((2, 2, 3)), np.zeros((3, 2, 3)))
    with pytest.raises(ValueError, match="mask"):
        fmse(np.zeros((2, 2, 3)), np.zeros((2, 2, 3)), np.zeros((3, 3)))
