"""The training objective (paper Eq. 13-15) against hand-computed values."""
import math

import torch

from train.losses import LossWeights, fn_mse_loss, gradient_loss, phnet_loss, psnr_loss


def test_psnr_loss_is_100_over_psnr():
    target = torch.zeros(2, 3, 4, 4)
    pred = torch.full((2, 3, 4, 4), 0.1)  # MSE 0.01 -> PSNR 20 dB at peak 1
    assert math.isclose(psnr_loss(pred, target).item(), 100 / 20, rel_tol=1e-5)


def test_fn_mse_normalises_by_foreground_area_but_never_below_a_min():
    target = torch.zeros(1, 3, 20, 20)
    pred = target.clone()
    pred[..., :10, :] = 1.0  # 200 pixels x 3 channels wrong by 1
    big = torch.zeros(1, 1, 20, 20)
    big[..., :10, :] = 1  # 200 foreground pixels
    assert math.isclose(fn_mse_loss(pred, target, big).item(), 600 / 200 / 3)
    small = torch.zeros(1, 1, 20, 20)
    small[..., :5, :5] = 1  # 25 pixels < A_min = 100
    assert math.isclose(fn_mse_loss(pred, target, small).item(), 600 / 100 / 3)


def test_gradient_loss_ignores_a_constant_offset_and_sees_edges():
    target = torch.rand(1, 3, 8, 8)
    assert gradient_loss(target + 0.2, target).item() < 1e-10
    edged = target.clone()
    edged[..., 4:] += 0.5
    assert gradient_loss(edged, target).item() > 0


def test_weights_of_eq_15():
    target = torch.rand(2, 3, 8, 8)
    raw = (target + 0.05).clamp(0, 1)
    mask = torch.ones(2, 1, 8, 8)
    terms = phnet_loss(raw, raw, target, mask)
    w = LossWeights()
    assert (w.psnr, w.fn_mse, w.grad, w.a_min) == (0.2, 0.01, 0.01, 100.0)
    expected = 0.2 * terms.psnr + 0.01 * terms.fn_mse + 0.01 * terms.grad
    assert torch.isclose(terms.total, expected)
