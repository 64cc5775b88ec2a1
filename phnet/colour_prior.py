"""The colour-transfer prior of a residual PHNet: where its correction starts from.

Our addition to the paper's network (``PHNetConfig.colour_prior``): the residual D6 adds its
change to the logits of this prior instead of the composite's. The prior is Reinhard's transfer
(mean and standard deviation of each CIE Lab channel, foreground towards background), pulled in
by a learned per-channel strength that starts at one half. Why: on the offline corpus a fixed
half-strength transfer already halves the composite's foreground error, and a small network
trained on a CPU budget learns a correction of it far more easily than the correction of the
composite (measured in ``models/README.md``).

The statistics are kept as temporal state like a PN block's (``StatsState`` with a foreground and
a background slot, no patches), so a video smooths them with the same momentum pair.

Images are ``(N, 3, H, W)`` sRGB floats in [0, 1]; Lab has L in [0, 100], D65 white.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .colortransfer import RATIO_RANGE, STD_EPS
from .pn import StatsState, smooth_stats
from .stats import masked_global_stats

_RGB_TO_XYZ = torch.tensor([
    [0.412453, 0.357580, 0.180423],
    [0.212671, 0.715160, 0.072169],
    [0.019334, 0.119193, 0.950227],
])
_XYZ_TO_RGB = torch.linalg.inv(_RGB_TO_XYZ)
_WHITE = torch.tensor([0.950456, 1.0, 1.088754])
_DELTA = 6.0 / 29.0


def _matmul3(m: Tensor, x: Tensor) -> Tensor:
    """Applies the 3x3 matrix ``m`` to the channels of ``x`` (N, 3, H, W)."""
    return torch.einsum("ij,njhw->nihw", m.to(x), x)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1] -> CIE Lab (D65), the space of OpenCV's ``COLOR_RGB2Lab`` on floats."""
    c = rgb.clamp(0.0, 1.0)
    lin = torch.where(c > 0.04045, ((c + 0.055) / 1.055).clamp_min(1e-8) ** 2.4, c / 12.92)
    xyz = _matmul3(_RGB_TO_XYZ, lin) / _WHITE.to(rgb).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp_min(_DELTA**3) ** (1.0 / 3.0),
                    xyz / (3 * _DELTA**2) + 4.0 / 29.0)
    fx, fy, fz = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    return torch.cat([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


def lab_to_rgb(lab: Tensor) -> Tensor:
    """CIE Lab (D65) -> sRGB, clamped to [0, 1] (out-of-gamut colours saturate per channel)."""
    fy = (lab[:, 0:1] + 16.0) / 116.0
    f = torch.cat([fy + lab[:, 1:2] / 500.0, fy, fy - lab[:, 2:3] / 200.0], dim=1)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4.0 / 29.0))
    xyz = xyz * _WHITE.to(lab).view(1, 3, 1, 1)
    lin = _matmul3(_XYZ_TO_RGB, xyz).clamp(0.0, 1.0)
    return torch.where(lin > 0.0031308, 1.055 * lin.clamp_min(1e-8) ** (1.0 / 2.4) - 0.055,
                       12.92 * lin).clamp(0.0, 1.0)


class ColourPrior(nn.Module):
    """``forward(image, mask, prev, momentum) -> (prior, state)``: the foreground moved by
    ``strength`` of the way from its own Lab statistics to the background's.

    ``image`` ``(N, 3, H, W)`` float in [0, 1]; ``mask`` ``(N, 1, H, W)`` in [0, 1]. ``prior``
    has the image's shape and dtype; the background is returned unchanged. With no foreground
    or no background the prior is the image itself.
    """

    def __init__(self, strength: float = 0.5):
        super().__init__()
        self.strength = nn.Parameter(torch.full((3,), float(strength)))

    def measure(self, lab: Tensor, mask: Tensor) -> StatsState:
        fg = masked_global_stats(lab, mask)
        bg = masked_global_stats(lab, 1.0 - mask)
        mean = torch.stack([fg.mean, bg.mean], dim=2)
        std = torch.stack([fg.std, bg.std], dim=2)
        valid = torch.stack([fg.valid, bg.valid], dim=1).float()
        return StatsState(mean, std, valid)

    def forward(
        self, image: Tensor, mask: Tensor, prev: StatsState | None, momentum: Tensor | float,
        gate: Tensor | None = None,
    ) -> tuple[Tensor, StatsState]:
        """``gate``: ``(N, 1)`` in [0, 1] scaling the strength per image, or None (1)."""
        lab = rgb_to_lab(image.float())
        m = mask.float()
        now = self.measure(lab, m)
        state = smooth_stats(now, prev, momentum)
        ok = ((now.valid[:, 0] > 0.5) & (now.valid[:, 1] > 0.5)).view(-1, 1, 1, 1)
        mu_f, mu_b = state.mean[:, :, 0, None, None], state.mean[:, :, 1, None, None]
        sd_f, sd_b = state.std[:, :, 0, None, None], state.std[:, :, 1, None, None]
        ratio = (sd_b / sd_f.clamp_min(STD_EPS)).clamp(*RATIO_RANGE)
        moved = (lab - mu_f) * ratio + mu_b
        s = self.strength.view(1, 3, 1, 1)
        if gate is not None:
            s = s * gate.to(s.dtype).view(-1, 1, 1, 1)
        out = lab_to_rgb(lab + s * (moved - lab))
        out = torch.where(ok, image.float() + m * (out - image.float()), image.float())
        return out.to(image.dtype), state
