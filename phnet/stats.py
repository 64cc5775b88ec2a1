"""Masked per-channel statistics, global and on a g x g grid of patches (paper Eq. 2-4).

Everything here takes feature maps ``x`` as ``(N, C, H, W)`` float and weights ``w`` as
``(N, 1, H, W)`` float in [0, 1] (the mask for the foreground, ``1 - mask`` for the background),
and computes in float32 whatever the input dtype, so fp16 inference keeps exact statistics.

Patch ``i * g + j`` holds the rows ``h`` with ``floor(h * g / H) == i`` and the columns ``w`` with
``floor(w * g / W) == j``: a partition of the map for any H, W, so the global statistics follow
exactly from the patch ones. Patch sums are two small matrix products with 0/1 assignment
matrices (no Python loop over patches, dynamic H and W in ONNX).

A patch (or a whole map) whose weights sum to at most ``MIN_WEIGHT`` is *invalid*: its mean and
std are placeholders (0 and 1), it is flagged in ``valid``, and callers drop it from every sum.
Nothing here returns NaN or Inf.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

MIN_WEIGHT = 1e-3
"""Total mask weight at or below which a patch counts as empty (in pixels)."""

STD_EPS = 1e-7
"""Added to the variance before the square root, as the authors' code does."""


class GlobalStats(NamedTuple):
    mean: Tensor  # (N, C) float32
    std: Tensor  # (N, C) float32
    valid: Tensor  # (N,) bool


class PatchStats(NamedTuple):
    glob: GlobalStats
    mean: Tensor  # (N, C, P) float32, P = g * g, row-major
    std: Tensor  # (N, C, P) float32
    valid: Tensor  # (N, P) bool


def patch_assignment(size: int, grid: int, device: torch.device) -> Tensor:
    """``(grid, size)`` float32 0/1 matrix: entry ``[i, h]`` is 1 when index ``h`` lies in cell ``i``."""
    idx = torch.arange(size, device=device)
    cell = torch.div(idx * grid, size, rounding_mode="floor")
    cells = torch.arange(grid, device=device)
    return (cell.unsqueeze(0) == cells.unsqueeze(1)).to(torch.float32)


def _finish(sum_w: Tensor, mean: Tensor, m2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Turns weight sums, means and centred second moments into (mean, std, valid)."""
    valid = sum_w > MIN_WEIGHT
    var = m2 / sum_w.clamp_min(MIN_WEIGHT)
    std = torch.sqrt(var.clamp_min(0.0) + STD_EPS)
    mean = torch.where(valid, mean, torch.zeros_like(mean))
    std = torch.where(valid, std, torch.ones_like(std))
    return mean, std, valid


def masked_global_stats(x: Tensor, w: Tensor) -> GlobalStats:
    """Weighted mean/std of each channel of ``x`` under ``w`` over the whole map (Eq. 2-3)."""
    x = x.float()
    w = w.float()
    sum_w = w.sum(dim=(2, 3))  # (N, 1)
    mean = (x * w).sum(dim=(2, 3)) / sum_w.clamp_min(MIN_WEIGHT)
    centred = x - mean[:, :, None, None]
    m2 = (w * centred * centred).sum(dim=(2, 3))
    mean, std, valid = _finish(sum_w, mean, m2)
    return GlobalStats(mean, std, valid[:, 0])


def masked_patch_stats(x: Tensor, w: Tensor, grid: int) -> PatchStats:
    """Weighted mean/std of each channel of ``x`` under ``w`` per patch of a ``grid`` x ``grid``
    partition (Eq. 2, 4), and over the whole map (Eq. 2-3), in two passes for accuracy.

    The global second moment is assembled from the patch moments (Chan's parallel formula), so
    the global statistics cost no third pass and match a direct computation.
    """
    x = x.float()
    w = w.float()
    n, c, h, wd = x.shape
    rows = patch_assignment(h, grid, x.device)  # (g, H)
    cols = patch_assignment(wd, grid, x.device).t()  # (W, g)

    def pool(t: Tensor) -> Tensor:  # (N, K, H, W) -> (N, K, P)
        return (rows @ t @ cols).flatten(2)

    sum_w = pool(w)  # (N, 1, P)
    sum_wx = pool(w * x)  # (N, C, P)
    # The exact weighted mean even below MIN_WEIGHT, so the global moments below stay exact.
    mean = sum_wx / torch.where(sum_w > 0, sum_w, torch.ones_like(sum_w))
    mean_map = rows.t() @ mean.view(n, c, grid, grid) @ cols.t()  # (N, C, H, W)
    centred = x - mean_map
    m2 = pool(w * centred * centred)

    tot_w = sum_w.sum(dim=2)  # (N, 1)
    g_mean = sum_wx.sum(dim=2) / tot_w.clamp_min(MIN_WEIGHT)
    g_m2 = (m2 + sum_w * (mean - g_mean.unsqueeze(2)) ** 2).sum(dim=2)
    g_mean, g_std, g_valid = _finish(tot_w, g_mean, g_m2)

    mean, std, valid = _finish(sum_w, mean, m2)
    return PatchStats(GlobalStats(g_mean, g_std, g_valid[:, 0]), mean, std, valid[:, 0])
