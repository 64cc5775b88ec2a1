import os

import pytest
import torch
import torch.nn.functional as F

from phnet.guided_upsample import FrameColourModel, apply_affine, fit_affine, guided_upsample

DEVICE = torch.device(os.environ.get("PHNET_TEST_DEVICE", "cpu"))

M = torch.tensor([[0.8, 0.1, 0.0], [0.05, 0.9, 0.05], [0.0, 0.1, 0.7]])
T = torch.tensor([0.05, 0.0, 0.1])


def colour_map(x: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ji,nihw->njhw", M.to(x), x) + T.to(x).view(1, 3, 1, 1)


def smooth_image(n: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, h, w) float32 in [0.1, 0.9]: bicubic upsampling of 12x16 random cells."""
    g = torch.Generator().manual_seed(seed)
    cells = torch.rand(n, 3, 12, 16, generator=g)
    img = F.interpolate(cells, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)
    return (img * 0.8 + 0.1).to(DEVICE)


def pair(n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    full = smooth_image(n, 192, 256)
    return F.interpolate(full, size=(48, 64), mode="area"), full


def test_identity_returns_full_input():
    low, full = pair()
    out = guided_upsample(low, low, full)
    assert out.shape == full.shape and out.dtype == torch.float32 and out.device == full.device
    assert (out - full).abs().max() < 1e-3


def test_textured_identity_keeps_detail():
    low, full = pair()
    noise = torch.randn(full.shape, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    full = (full + 0.03 * noise).clamp(0, 1)
    low = F.interpolate(full, size=(48, 64), mode="area")
    assert (guided_upsample(low, low, full) - full).abs().max() < 1e-3


def test_global_affine_map_recovered():
    low, full = pair()
    out = guided_upsample(low, colour_map(low), full)
    err = (out - colour_map(full)).abs()
    assert err.max() < 1e-2 and err.mean() < 2e-3


def test_coefficients_of_global_map():
    low, _ = pair(1)
    coeffs = fit_affine(low, colour_map(low), radius=2, eps=1e-6)
    assert coeffs.shape == (1, 12, 48, 64) and coeffs.dtype == torch.float32
    A = coeffs[:, :9].mean(dim=(2, 3)).view(3, 3).cpu()
    b = coeffs[:, 9:].mean(dim=(2, 3)).view(3).cpu()
    torch.testing.assert_close(A, M, atol=2e-2, rtol=0)
    torch.testing.assert_close(b, T, atol=2e-2, rtol=0)


@pytest.mark.parametrize("eps", [1e-3, 1e-6])
def test_constant_image_is_finite(eps):
    low = torch.full((1, 3, 48, 64), 0.5, device=DEVICE)
    full = torch.full((1, 3, 192, 256), 0.5, device=DEVICE)
    coeffs = fit_affine(low, low * 0.6 + 0.1, eps=eps)
    assert torch.isfinite(coeffs).all()
    out = guided_upsample(low, low * 0.6 + 0.1, full, eps=eps)
    torch.testing.assert_close(out, torch.full_like(full, 0.4), atol=1e-4, rtol=0)


@pytest.mark.parametrize("full_size", [(192, 256), (100, 130), (48, 64)])
def test_output_shape_and_radius(full_size):
    low, _ = pair(2)
    full = smooth_image(2, *full_size, seed=3)
    for radius in (0, 1, 4):
        out = guided_upsample(low, colour_map(low), full, radius=radius)
        assert out.shape == full.shape
        assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_apply_affine_is_not_clamped():
    low, full = pair(1)
    coeffs = fit_affine(low, low)
    coeffs[:, 9:] += 2.0
    assert apply_affine(coeffs, full).min() > 1.5


def test_float16_input():
    low, full = pair(1)
    out = guided_upsample(low.half(), colour_map(low).half(), full.half())
    assert out.dtype == torch.float32 and out.shape == full.shape
    assert (out - colour_map(full)).abs().max() < 2e-2


def test_bad_inputs():
    low, full = pair(1)
    with pytest.raises(TypeError, match=r"low_in.*float.*uint8"):
        fit_affine((low * 255).to(torch.uint8), low)
    expected = r"low_out shape \(1, 3, 48, 32\) does not match low_in \(1, 3, 48, 64\)"
    with pytest.raises(ValueError, match=expected):
        fit_affine(low, low[..., :32])
    with pytest.raises(ValueError, match=r"full_in must be \(N, 3, H, W\).*\(1, 4, 192, 256\)"):
        guided_upsample(low, low, torch.cat([full, full[:, :1]], dim=1))
    with pytest.raises(ValueError, match=r"coeffs.*\(1, 9, 48, 64\)"):
        apply_affine(fit_affine(low, low)[:, :9], full)
    with pytest.raises(ValueError, match="radius"):
        fit_affine(low, low, radius=-1)
    with pytest.raises(TypeError, match="radius must be an int, got float"):
        fit_affine(low, low, radius=2.0)
    with pytest.raises(ValueError, match="eps"):
        fit_affine(low, low, eps=0.0)


def test_cpu_box_filter_equals_average_pooling_with_shrunk_borders():
    import torch.nn.functional as F

    from phnet.guided_upsample import _box

    x = torch.rand(2, 21, 37, 50)
    for r in (1, 2, 4):
        ref = F.avg_pool2d(x, 2 * r + 1, stride=1, padding=r, count_include_pad=False)
        assert torch.allclose(_box(x, r), ref, atol=1e-5)



def test_frame_colour_model_applies_the_same_model_to_uint8_frames():
    """The CPU frame path (planes upsampled once, NumPy inside the mask's box) gives the tensor
    path's blend of apply_affine to one grey level, leaves the background bit-exact, and is
    refused on a frame of another size."""
    import numpy as np

    gen = torch.Generator().manual_seed(0)
    coeffs = torch.eye(3).flatten().view(1, 9, 1, 1) * 1.1 + 0.05 * torch.randn(1, 9, 18, 24, generator=gen)
    coeffs = torch.cat([coeffs, 0.03 * torch.randn(1, 3, 18, 24, generator=gen)], dim=1)
    frame = (torch.rand(70, 90, 3, generator=gen) * 255).to(torch.uint8).numpy()
    mask = np.zeros((70, 90), np.float32)
    mask[20:60, 30:70] = 1.0
    mask[18:20, 30:70] = 0.4
    out = FrameColourModel(coeffs, 70, 90).apply(frame, mask)

    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    m = torch.from_numpy(mask)[None, None]
    ref = x + m * (apply_affine(coeffs, x).clamp(0, 1) - x)
    ref = ref[0].permute(1, 2, 0).mul(255).round().byte().numpy()
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert np.array_equal(out[mask == 0], frame[mask == 0])
    assert not np.array_equal(out[mask == 1], frame[mask == 1])
    assert np.array_equal(FrameColourModel(coeffs, 70, 90).apply(frame, mask * 0), frame)
    with pytest.raises(ValueError, match="sized for"):
        FrameColourModel(coeffs, 70, 90).apply(frame[:60], mask[:60])
