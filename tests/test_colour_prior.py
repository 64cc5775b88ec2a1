"""The colour-transfer prior of the residual lite network (phnet.colour_prior)."""
import cv2
import numpy as np
import torch

import phnet
from conftest import portrait_mask
from phnet.colour_prior import ColourPrior, lab_to_rgb, rgb_to_lab


def two_tone(h=96, w=128, seed=0):
    """A textured picture whose foreground is darker and warmer than its background."""
    g = torch.Generator().manual_seed(seed)
    mask = portrait_mask(h, w)
    base = torch.tensor([0.35, 0.55, 0.75]).view(1, 3, 1, 1) * (1 - mask)
    base = base + torch.tensor([0.55, 0.35, 0.25]).view(1, 3, 1, 1) * mask
    texture = 0.08 * torch.randn(1, 3, h, w, generator=g)
    return (base + texture).clamp(0, 1), mask


def test_lab_matches_opencv_and_round_trips():
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    ref = cv2.cvtColor(x[0].permute(1, 2, 0).numpy(), cv2.COLOR_RGB2Lab)
    assert np.abs(rgb_to_lab(x)[0].permute(1, 2, 0).numpy() - ref).max() < 0.5
    assert (lab_to_rgb(rgb_to_lab(x)) - x).abs().max() < 1e-4


def test_an_untrained_prior_starts_at_a_half_strength_colour_transfer():
    """Before training, a lite network with the (ungated) prior outputs it: the foreground's Lab mean moved
    half-way to the background's (Reinhard's transfer at strength 0.5), background untouched."""
    image, mask = two_tone()
    with torch.no_grad():
        out = phnet.build("lite", colour_prior=True).eval()(image, mask)
    fg, bg = mask[0, 0] > 0.5, mask[0, 0] < 0.5
    before, after = rgb_to_lab(image)[0], rgb_to_lab(out.image)[0]
    mean_fg0, mean_bg = before[:, fg].mean(1), before[:, bg].mean(1)
    expected = mean_fg0 + 0.5 * (mean_bg - mean_fg0)
    assert (after[:, fg].mean(1) - expected).abs().max() < 1.5  # Lab units (L in 0-100)
    assert (mean_bg - mean_fg0).abs().max() > 10  # the test picture needs moving
    assert torch.equal(out.image[mask.expand_as(image) == 0], image[mask.expand_as(image) == 0])
    assert "prior" in out.state


def test_without_foreground_or_background_the_prior_is_the_image():
    image, _ = two_tone()
    prior = ColourPrior()
    for mask in (torch.zeros(1, 1, 96, 128), torch.ones(1, 1, 96, 128)):
        out, state = prior(image, mask, None, 1.0)
        assert torch.allclose(out, image) and torch.isfinite(state.mean).all()


def test_prior_statistics_are_smoothed_over_frames():
    image, mask = two_tone()
    prior = ColourPrior()
    _, state = prior(image, mask, None, 1.0)
    brighter = (image * 1.3).clamp(0, 1)
    alone, _ = prior(brighter, mask, None, 1.0)
    same, _ = prior(brighter, mask, state, 1.0)
    smoothed, _ = prior(brighter, mask, state, 0.2)
    assert torch.equal(alone, same)  # momentum 1 ignores the past exactly
    assert not torch.allclose(alone, smoothed, atol=1e-3)
