"""Patch-based feature extraction (PFE, paper §4.2) and the SE block it feeds (§4.3).

The PFE pools what a colour transfer would do to the person into an auxiliary vector ``q2``
that is *added to the SE channel weights* of the encoder's last layer. Two forms:

- :class:`ImagePFE` (``pfe_input="image"``, the paper's Fig. 3 and the authors' code): on the
  composite image, each foreground patch's statistics are moved to the same patch's background
  statistics (local-to-local) and the foreground's to the background's (global), mixed by the
  trainable ``w0`` and ``w1``. The transfer is pooled per patch: for every patch of the grid,
  the change of mean and the log change of standard deviation it would make. Both follow in
  closed form from the statistics (no image-sized transfer is built), and a zero-initialised
  linear map takes them to ``q2``, so the SE block starts as it would without the PFE.
- :class:`PatchFeatureExtractor` (``pfe_input="features"``, our earlier reading, kept for the
  ablation): PN in its PFE form on the bottleneck features, averaged over space.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .pn import PatchNorm, StatsState, smooth_stats
from .stats import STD_EPS, masked_patch_stats


def _log_ratio(a: Tensor, b: Tensor) -> Tensor:
    """``log(a / b)`` clamped to [-3, 3]: a flat patch (std ~ 0) must not dominate ``q2``."""
    return torch.log(a.clamp_min(STD_EPS) / b.clamp_min(STD_EPS)).clamp(-3.0, 3.0)


class ImagePFE(nn.Module):
    """The paper's PFE on the composite image (see the module docstring).

    ``forward(image, mask, prev, momentum)``: ``image`` ``(N, 3, H, W)`` float in [0, 1],
    ``mask`` ``(N, 1, H, W)`` in [0, 1]. Returns ``q2`` ``(N, channels)`` float32 and the state,
    a ``StatsState`` of ``2 + 2 g^2`` slots: foreground, background, the background's patches,
    then the foreground's patches (smoothed with the foreground's momentum).

    Fallbacks: a patch without background takes the global background statistics; a patch
    without foreground contributes zeros; no background at all gives ``q2 = bias``.
    """

    def __init__(self, channels: int, grid: int = 5):
        super().__init__()
        self.grid = grid
        self.w0 = nn.Parameter(torch.full((3,), 0.5))
        self.w1 = nn.Parameter(torch.full((3,), 0.5))
        p = grid * grid
        self.proj = nn.Linear(6 * (p + 1), channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    @property
    def slots(self) -> int:
        return 2 + 2 * self.grid**2

    @property
    def state_shape(self) -> tuple[int, int]:
        """``(channels, slots)`` of the state: the image's 3 channels."""
        return 3, self.slots

    def measure(self, image: Tensor, mask: Tensor) -> StatsState:
        fg = masked_patch_stats(image, mask, self.grid)
        bg = masked_patch_stats(image, 1.0 - mask, self.grid)
        mean = torch.cat([fg.glob.mean[:, :, None], bg.glob.mean[:, :, None], bg.mean, fg.mean], 2)
        std = torch.cat([fg.glob.std[:, :, None], bg.glob.std[:, :, None], bg.std, fg.std], 2)
        valid = torch.cat([fg.glob.valid[:, None], bg.glob.valid[:, None], bg.valid, fg.valid], 1)
        return StatsState(mean, std, valid.float())

    def forward(
        self, image: Tensor, mask: Tensor, prev: StatsState | None = None,
        momentum: Tensor | float = 1.0,
    ) -> tuple[Tensor, StatsState]:
        feats, state = self.changes(image, mask, prev, momentum)
        return self.proj(feats.flatten(1).to(self.proj.weight.dtype)).float(), state

    def changes(
        self, image: Tensor, mask: Tensor, prev: StatsState | None = None,
        momentum: Tensor | float = 1.0,
    ) -> tuple[Tensor, StatsState]:
        """What the transfer does, pooled: ``(N, 3, 2P + 2)`` float32 holding, per channel, the
        change of mean of each foreground patch (P), the log change of its std (P), then the
        same two for the whole foreground under the global transfer; zeros where a patch has
        no foreground or the frame no background. Also the state."""
        p = self.grid**2
        now = self.measure(image.float(), mask.float())
        state = smooth_stats(now, prev, momentum, fg_tail=p)
        use = now.valid > 0.5
        mean, std = state.mean, state.std
        mu_f, sd_f = mean[:, :, 0:1], std[:, :, 0:1]  # (N, 3, 1)
        mu_b, sd_b = mean[:, :, 1:2], std[:, :, 1:2]
        bg_p_ok = use[:, None, 2:2 + p]  # (N, 1, P)
        mu_bp = torch.where(bg_p_ok, mean[:, :, 2:2 + p], mu_b)
        sd_bp = torch.where(bg_p_ok, std[:, :, 2:2 + p], sd_b)
        mu_fp, sd_fp = mean[:, :, 2 + p:], std[:, :, 2 + p:]
        fg_p_ok = use[:, None, 2 + p:].float()
        ok = (use[:, 0] & use[:, 1]).float()[:, None, None]

        # The mean and std each transfer gives a foreground patch, in closed form.
        ratio = sd_b / sd_f.clamp_min(STD_EPS)
        glob_mu = (mu_fp - mu_f) * ratio + mu_b
        glob_sd = sd_fp * ratio
        w0, w1 = self.w0.view(1, 3, 1), self.w1.view(1, 3, 1)
        out_mu = w0 * mu_bp + w1 * glob_mu
        out_sd = w0 * sd_bp + w1 * glob_sd
        d_mu = (out_mu - mu_fp) * fg_p_ok
        d_sd = _log_ratio(out_sd.abs(), sd_fp) * fg_p_ok
        g_mu = (w0 + w1) * (mu_b - mu_f)  # the global transfer's change of the whole foreground
        g_sd = _log_ratio((w0 + w1).abs() * sd_b, sd_f)
        return torch.cat([d_mu, d_sd, g_mu, g_sd], dim=2) * ok, state


class PatchFeatureExtractor(nn.Module):
    """PN in its PFE form (only ``w0``, ``w1`` train; 25 patches by default), then global average.

    ``forward(x, mask, prev, momentum)``: ``x`` ``(N, C, h, w)`` encoder features, ``mask``
    ``(N, 1, h, w)`` in [0, 1]. Returns ``q2`` ``(N, C)`` float32 and the statistics state.
    """

    def __init__(self, channels: int, grid: int = 5):
        super().__init__()
        self.norm = PatchNorm(channels, grid, learn_all=False)

    @property
    def state_shape(self) -> tuple[int, int]:
        """``(channels, slots)`` of the state: a PN block's."""
        return self.norm.channels, 2 + self.norm.grid**2

    def forward(
        self, x: Tensor, mask: Tensor, prev: StatsState | None = None, momentum: Tensor | float = 1.0
    ) -> tuple[Tensor, StatsState]:
        y, state = self.norm(x, mask, prev, momentum)
        return y.float().mean(dim=(2, 3)), state


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al.) whose channel weights may receive the PFE vector ``q2``.

    ``forward(x, q2)``: ``x`` ``(N, C, h, w)``; ``q2`` ``(N, C)`` or None. Weights are
    ``sigmoid(fc2(relu(fc1(mean(x))))) + q2``.
    """

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor, q2: Tensor | None = None) -> Tensor:
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        if q2 is not None:
            s = s + q2.to(s.dtype)
        return x * s[:, :, None, None]
