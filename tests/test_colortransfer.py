import cv2
import numpy as np
import pytest

from phnet.colortransfer import ColorTransfer, reinhard_transfer

H, W = 48, 64


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


@pytest.fixture
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A noisy grey person (soft-edged disc) on a noisy blue background."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:H, :W]
    dist = np.hypot(yy - H / 2, xx - W / 2)
    mask = np.clip((14.0 - dist) / 3.0, 0.0, 1.0).astype(np.float32)
    bg = np.array([40, 70, 200], np.float32) + rng.normal(0, 12, (H, W, 3))
    fg = np.array([128, 128, 128], np.float32) + rng.normal(0, 8, (H, W, 3))
    comp = np.where(mask[..., None] > 0, fg, bg)
    return np.clip(np.rint(comp), 0, 255).astype(np.uint8), mask


def fg_mean(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return lab(img)[mask == 1].mean(axis=0)


def test_background_bit_exact_and_foreground_moves_to_background(scene):
    comp, mask = scene
    out = reinhard_transfer(comp, mask)
    assert out.dtype == np.uint8 and out.shape == comp.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out[mask == 0], comp[mask == 0])
    bg_b = lab(comp)[mask == 0][:, 2].mean()
    before, after = fg_mean(comp, mask)[2], fg_mean(out, mask)[2]
    assert bg_b < -30.0
    assert after < before - 20.0  # grey person became bluer (Lab b towards the background's)
    assert abs(after - bg_b) < abs(before - bg_b) / 3


def test_non_contiguous_composite(scene):
    comp, mask = scene
    wide = np.zeros((H, 2 * W, 3), np.uint8)
    wide[:, ::2] = comp
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(reinhard_transfer(view, mask), reinhard_transfer(comp, mask))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_empty_and_full_mask_return_composite(scene, value):
    comp, _ = scene
    mask = np.full((H, W), value, np.float32)
    out = reinhard_transfer(comp, mask)
    np.testing.assert_array_equal(out, comp)
    assert out is not comp and not np.shares_memory(out, comp)
    np.testing.assert_array_equal(ColorTransfer()(comp, mask), comp)


def test_flat_foreground_is_finite_and_bounded(scene):
    comp, mask = scene
    comp = comp.copy()
    comp[mask > 0] = (128, 128, 128)
    out = reinhard_transfer(comp, mask)
    np.testing.assert_array_equal(out[mask == 0], comp[mask == 0])
    # std 0 -> ratio clamped at 5: a flat region stays flat, it is only shifted.
    assert np.ptp(out[mask == 1].astype(int), axis=0).max() <= 1

    # Flat background: ratio clamped at 0.2, the person keeps a fifth of its contrast.
    noisy, _ = scene
    hard = (mask > 0.5).astype(np.float32)
    flat_bg = np.full_like(noisy, 90)
    flat_bg[hard > 0] = noisy[hard > 0]
    out = reinhard_transfer(flat_bg, hard)
    np.testing.assert_array_equal(out[hard == 0], flat_bg[hard == 0])
    sd_before = lab(flat_bg)[hard == 1][:, 0].std()
    sd_after = lab(out)[hard == 1][:, 0].std()
    assert 0.15 * sd_before < sd_after < 0.3 * sd_before


def test_strength(scene):
    comp, mask = scene
    np.testing.assert_array_equal(ColorTransfer(strength=0.0)(comp, mask), comp)
    full = ColorTransfer(strength=1.0)(comp, mask)
    np.testing.assert_array_equal(full, reinhard_transfer(comp, mask))
    half = ColorTransfer(strength=0.5)(comp, mask).astype(int)
    mid = (comp.astype(int) + full.astype(int)) / 2
    assert np.abs(half - mid).max() <= 1.0


def test_momentum(scene):
    comp, mask = scene
    other = np.clip(comp.astype(int) + (60, 0, -60), 0, 255).astype(np.uint8)
    stateless = ColorTransfer(momentum=1.0)
    stateless(other, mask)
    np.testing.assert_array_equal(stateless(comp, mask), reinhard_transfer(comp, mask))

    smooth = ColorTransfer(momentum=0.5)
    np.testing.assert_array_equal(smooth(other, mask), reinhard_transfer(other, mask))
    lagged = smooth(comp, mask)
    assert np.abs(lagged.astype(int) - reinhard_transfer(comp, mask)).max() > 5
    np.testing.assert_array_equal(lagged[mask == 0], comp[mask == 0])

    smooth.reset()
    np.testing.assert_array_equal(smooth(comp, mask), reinhard_transfer(comp, mask))


def test_info_and_parameters():
    info = ColorTransfer().info()
    assert (info["method"], info["backend"], info["device"]) == ("colortransfer", "opencv", "cpu")
    with pytest.raises(ValueError, match="strength"):
        ColorTransfer(strength=1.5)
    with pytest.raises(ValueError, match="momentum"):
        ColorTransfer(momentum=0.0)


def test_bad_inputs(scene):
    comp, mask = scene
    with pytest.raises(TypeError, match=r"composite.*uint8.*float32"):
        reinhard_transfer(comp.astype(np.float32), mask)
    with pytest.raises(TypeError, match=r"mask.*float32.*float64"):
        reinhard_transfer(comp, mask.astype(np.float64))
    with pytest.raises(ValueError, match=r"composite.*\(48, 64, 4\)"):
        reinhard_transfer(np.zeros((H, W, 4), np.uint8), mask)
    expected = r"mask shape \(48, 65\) does not match composite \(48, 64, 3\)"
    with pytest.raises(ValueError, match=expected):
        reinhard_transfer(comp, np.zeros((H, W + 1), np.float32))
    bad = mask.copy()
    bad[0, 0] = 1.5
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ColorTransfer()(comp, bad)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reinhard_transfer(comp, bad)
