"""Patch-based normalisation (PN, paper Eq. 5-12) with temporally smoothed statistics.

Choices where the paper is silent, and why:

- ``w0..w2`` and ``gamma0..gamma2`` (Eq. 10-11) are per channel, initialised to
  ``w = (0.5, 0.5, 0)`` and ``gamma = (0, 1, 0)``: the block starts by moving the foreground
  halfway-and-halfway to the local and global background statistics and by passing the
  background through unchanged, which is the colour-transfer prior the paper builds on.
- ``alpha`` and ``beta`` (Eq. 6-7) are one learned score per patch, shared by all channels, and
  enter as a softmax over the patches that are valid in this frame. With equal scores this is
  exactly Eq. 6 with ``alpha = 1/P`` and Eq. 7 with ``beta = 1`` (the ``1/P`` of Eq. 7 is the
  softmax's normalisation); a patch without background pixels then drops out of both sums and
  the remaining weights still sum to one, so the scale of ``mu_loc`` and ``sigma_loc`` does not
  depend on how much of the frame the person covers.
- Fallbacks that keep every output finite: with no background pixel at all, the foreground's
  own statistics replace the background's, so the normalisations are the identity and the block
  reduces to its learned affine map ``(w0 + w1) x + w2``; with no valid background patch, the
  global background statistics stand in for the local ones.

Statistics as state (docs/ARCHITECTURE.md, "PHNet as built"): the block returns the statistics it used
packed as ``StatsState`` so that the next frame can blend them,
``s = (1 - a) * s_prev + a * s_now``, with one ``a`` for all statistics or a ``(foreground,
background)`` pair. The pair exists because the two play different parts: the background's
statistics describe the scene's light, which should be steady (smooth them), while the
foreground's describe how the person looks in *this* frame, which the normalisation must
cancel (smoothing them lets frame-to-frame exposure jitter through: measured with colour
transfer on a jittery synthetic video, flicker 22 unsmoothed vs 89 smoothed at ``a = 0.2``).
Entries invalid in this frame never take part in this frame's normalisation and are marked
invalid in the state, so ``a = 1`` reproduces the stateless forward exactly and a patch that is
uncovered again starts fresh from its own statistics instead of blending in values of any age.
The foreground enters Eq. 5-10 only through its global statistics, so only those are kept for
it.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .stats import STD_EPS, masked_global_stats, masked_patch_stats


class StatsState(NamedTuple):
    """Statistics of one PN block for a batch, the unit of temporal state.

    Slot 0 is the foreground (global), slot 1 the background (global), slots 2.. the background
    patches in row-major order. ``mean``/``std``: ``(N, C, 2 + P)`` float32; ``valid``:
    ``(N, 2 + P)`` float32 in {0, 1} (float so that any runtime can carry it).
    """

    mean: Tensor
    std: Tensor
    valid: Tensor


def slot_momentum(
    momentum: Tensor | float | tuple[float, float], slots: int, device, fg_tail: int = 0
) -> Tensor:
    """Per-slot EMA weights ``(slots,)`` from one weight for all, or a ``(foreground, background)``
    pair (shape ``(2,)``): slot 0 and the last ``fg_tail`` slots (foreground patches, the PFE's
    layout) take the first, the background slots the second."""
    if not isinstance(momentum, Tensor):
        momentum = torch.tensor(momentum, dtype=torch.float32, device=device)
    a = momentum.to(torch.float32).reshape(-1)
    if a.numel() == 1:
        return a.expand(slots)
    parts = [a[0:1], a[1:2].expand(slots - 1 - fg_tail)]
    if fg_tail:
        parts.append(a[0:1].expand(fg_tail))
    return torch.cat(parts)


def smooth_stats(
    now: StatsState,
    prev: StatsState | None,
    momentum: Tensor | float | tuple[float, float],
    fg_tail: int = 0,
) -> StatsState:
    """EMA of statistics: an entry valid now and before blends, one valid only now starts fresh,
    one invalid now keeps its old value but is marked invalid (so it starts fresh when it
    returns).

    ``momentum``: the weight ``a`` of this frame's statistics, one value for all, or a
    ``(foreground, background)`` pair; ``fg_tail``: see :func:`slot_momentum`."""
    if prev is None:
        return now
    a = slot_momentum(momentum, now.valid.shape[1], now.mean.device, fg_tail)  # (S,)
    v_now = (now.valid > 0.5).unsqueeze(1)
    v_prev = (prev.valid > 0.5).unsqueeze(1)
    both = v_now & v_prev

    def blend(cur: Tensor, old: Tensor) -> Tensor:
        mixed = (1.0 - a) * old + a * cur
        return torch.where(both, mixed, torch.where(v_now, cur, old))

    return StatsState(blend(now.mean, prev.mean), blend(now.std, prev.std), now.valid)


def _masked_softmax(logits: Tensor, valid: Tensor) -> Tensor:
    """Softmax of ``(P,)`` logits over the valid entries of ``(N, P)``; all-invalid rows give 0.

    The maximum is taken over valid entries only, so a large score on an empty patch cannot
    underflow the valid ones."""
    masked = logits.unsqueeze(0).masked_fill(valid < 0.5, -1e4)
    e = torch.exp(masked - masked.max(dim=1, keepdim=True).values) * valid
    return e / e.sum(dim=1, keepdim=True).clamp_min(1e-12)


class PatchNorm(nn.Module):
    """PN block: normalises the foreground of a feature map towards its background.

    ``forward(x, mask, prev, momentum)``: ``x`` ``(N, C, H, W)`` float, ``mask`` ``(N, 1, H, W)``
    float in [0, 1] (1 = foreground), ``prev`` the block's ``StatsState`` from the last frame or
    None. Returns the normalised map (Eq. 12, dtype of ``x``) and the state to carry.

    ``learn_all=False`` gives the PFE form (paper §4.2): only ``w0`` and ``w1`` train; ``w2 = 0``,
    ``gamma = (0, 1, 0)`` and uniform patch scores are fixed buffers.
    """

    def __init__(self, channels: int, grid: int, learn_all: bool = True):
        super().__init__()
        self.channels = channels
        self.grid = grid
        self.learn_all = learn_all
        p = grid * grid
        ones = torch.ones(channels)
        self.w0 = nn.Parameter(0.5 * ones)
        self.w1 = nn.Parameter(0.5 * ones)
        if learn_all:
            self.w2 = nn.Parameter(torch.zeros(channels))
            self.gamma0 = nn.Parameter(torch.zeros(channels))
            self.gamma1 = nn.Parameter(ones.clone())
            self.gamma2 = nn.Parameter(torch.zeros(channels))
            self.alpha = nn.Parameter(torch.zeros(p))
            self.beta = nn.Parameter(torch.zeros(p))
        else:
            self.register_buffer("w2", torch.zeros(channels), persistent=False)
            self.register_buffer("gamma0", torch.zeros(channels), persistent=False)
            self.register_buffer("gamma1", ones.clone(), persistent=False)
            self.register_buffer("gamma2", torch.zeros(channels), persistent=False)
            self.register_buffer("alpha", torch.zeros(p), persistent=False)
            self.register_buffer("beta", torch.zeros(p), persistent=False)

    def extra_repr(self) -> str:
        return f"{self.channels}, grid={self.grid}, learn_all={self.learn_all}"

    def measure(self, x: Tensor, mask: Tensor) -> StatsState:
        """This frame's statistics of ``x`` (Eq. 2-4), packed as a ``StatsState``."""
        fg = masked_global_stats(x, mask)
        bg = masked_patch_stats(x, 1.0 - mask, self.grid)
        mean = torch.cat([fg.mean.unsqueeze(2), bg.glob.mean.unsqueeze(2), bg.mean], dim=2)
        std = torch.cat([fg.std.unsqueeze(2), bg.glob.std.unsqueeze(2), bg.std], dim=2)
        valid = torch.cat([fg.valid.unsqueeze(1), bg.glob.valid.unsqueeze(1), bg.valid], dim=1)
        return StatsState(mean, std, valid.float())

    def forward(
        self,
        x: Tensor,
        mask: Tensor,
        prev: StatsState | None = None,
        momentum: Tensor | float | tuple[float, float] = 1.0,
    ) -> tuple[Tensor, StatsState]:
        now = self.measure(x, mask)
        state = smooth_stats(now, prev, momentum)
        use = now.valid > 0.5  # this frame's valid entries; see the module docstring
        mean, std = state.mean, state.std

        fg_ok, bg_ok = use[:, 0:1], use[:, 1:2]  # (N, 1)
        mu_f, sd_f = mean[:, :, 0], std[:, :, 0]
        mu_b, sd_b = mean[:, :, 1], std[:, :, 1]
        # No background: leave the foreground as it is. No foreground: nothing to move.
        mu_b = torch.where(bg_ok, mu_b, mu_f)
        sd_b = torch.where(bg_ok, sd_b, sd_f)
        mu_f = torch.where(fg_ok, mu_f, mu_b)
        sd_f = torch.where(fg_ok, sd_f, sd_b)

        patch_ok = use[:, 2:].float()  # (N, P)
        a = _masked_softmax(self.alpha, patch_ok).unsqueeze(1)  # (N, 1, P)
        b = _masked_softmax(self.beta, patch_ok).unsqueeze(1)
        any_patch = patch_ok.sum(dim=1, keepdim=True) > 0
        mu_loc = (a * mean[:, :, 2:]).sum(dim=2)  # Eq. 6
        # Clamped so that a sample without background patches has a finite gradient too.
        sd_loc = torch.sqrt((b * std[:, :, 2:] ** 2).sum(dim=2).clamp_min(STD_EPS))  # Eq. 7
        mu_loc = torch.where(any_patch, mu_loc, mu_b)
        sd_loc = torch.where(any_patch, sd_loc, sd_b)

        def col(t: Tensor) -> Tensor:  # (N, C) or (C,) -> broadcastable over (N, C, H, W)
            return t.reshape(t.shape[0], -1, 1, 1) if t.dim() == 2 else t.view(1, -1, 1, 1)

        xf = x.float()
        z_f = (xf - col(mu_f)) / col(sd_f)
        f_glob = z_f * col(sd_b) + col(mu_b)  # Eq. 5
        f_loc = z_f * col(sd_loc) + col(mu_loc)  # Eq. 8
        b_loc = (xf - col(mu_b)) / col(sd_b) * col(sd_loc) + col(mu_loc)  # Eq. 9
        f_new = col(self.w0) * f_loc + col(self.w1) * f_glob + col(self.w2)  # Eq. 10
        b_new = col(self.gamma0) * b_loc + col(self.gamma1) * xf + col(self.gamma2)  # Eq. 11
        m = mask.float()
        out = f_new * m + b_new * (1.0 - m)  # Eq. 12
        return out.to(x.dtype), state
