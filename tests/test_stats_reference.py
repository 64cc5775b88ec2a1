"""Slow float64 reference for ``phnet.stats`` (paper Eq. 2-4 plus the module's documented choices).

The reference below loops explicitly over samples, channels and patches and is written from the
paper's equations and the docstring of ``phnet/stats.py`` only:

- weighted mean ``mu = sum(w x) / sum(w)`` and ``std = sqrt(sum(w (x - mu)^2) / sum(w) + 1e-7)``;
- patch ``(i, j)`` of a ``g x g`` grid holds rows ``h`` with ``floor(h g / H) == i`` and columns
  ``v`` with ``floor(v g / W) == j`` (row-major index ``i g + j``);
- a patch (or map) whose weights sum to at most ``MIN_WEIGHT`` is invalid: mean 0, std 1.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from phnet.stats import MIN_WEIGHT, STD_EPS, masked_global_stats, masked_patch_stats, patch_assignment

RTOL = 1e-4
ATOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- reference
def ref_cells(size: int, grid: int) -> list[list[int]]:
    """Indices of each of the ``grid`` cells along one axis, by the documented floor rule."""
    cells: list[list[int]] = [[] for _ in range(grid)]
    for h in range(size):
        cells[(h * grid) // size].append(h)
    return cells


def ref_region_stats(xs: np.ndarray, ws: np.ndarray) -> tuple[float, float, bool]:
    """Weighted mean/std of the 1-D float64 arrays ``xs`` under ``ws`` (Eq. 2-4)."""
    sw = 0.0
    swx = 0.0
    for xv, wv in zip(xs, ws):
        sw += wv
        swx += wv * xv
    if not sw > MIN_WEIGHT:
        return 0.0, 1.0, False
    mu = swx / sw
    m2 = 0.0
    for xv, wv in zip(xs, ws):
        m2 += wv * (xv - mu) ** 2
    return mu, math.sqrt(m2 / sw + STD_EPS), True


def ref_global(x: torch.Tensor, w: torch.Tensor):
    xn = x.double().numpy()
    wn = w.double().numpy()
    n, c = xn.shape[:2]
    mean = np.zeros((n, c))
    std = np.ones((n, c))
    valid = np.zeros(n, dtype=bool)
    for b in range(n):
        for ch in range(c):
            mu, sd, ok = ref_region_stats(xn[b, ch].ravel(), wn[b, 0].ravel())
            mean[b, ch], std[b, ch] = mu, sd
            valid[b] = ok
    return mean, std, valid


def ref_patches(x: torch.Tensor, w: torch.Tensor, grid: int):
    xn = x.double().numpy()
    wn = w.double().numpy()
    n, c, h, wd = xn.shape
    rows = ref_cells(h, grid)
    cols = ref_cells(wd, grid)
    p = grid * grid
    mean = np.zeros((n, c, p))
    std = np.ones((n, c, p))
    valid = np.zeros((n, p), dtype=bool)
    for b in range(n):
        for i in range(grid):
            for j in range(grid):
                k = i * grid + j
                for ch in range(c):
                    xs = [xn[b, ch, r, s] for r in rows[i] for s in cols[j]]
                    ws = [wn[b, 0, r, s] for r in rows[i] for s in cols[j]]
                    mu, sd, ok = ref_region_stats(np.array(xs), np.array(ws))
                    mean[b, ch, k], std[b, ch, k] = mu, sd
                    valid[b, k] = ok
    return mean, std, valid


# ----------------------------------------------------------------------------- helpers
def close(fast: torch.Tensor, ref: np.ndarray) -> None:
    assert fast.dtype == torch.float32
    assert torch.isfinite(fast).all()
    np.testing.assert_allclose(fast.double().numpy(), ref, rtol=RTOL, atol=ATOL)


def check_global(gs, x, w) -> None:
    mean, std, valid = ref_global(x, w)
    assert gs.valid.dtype == torch.bool
    assert gs.mean.shape == mean.shape and gs.std.shape == std.shape and gs.valid.shape == valid.shape
    np.testing.assert_array_equal(gs.valid.numpy(), valid)
    close(gs.mean, mean)
    close(gs.std, std)
    # placeholders, exactly
    inv = ~gs.valid
    assert (gs.mean[inv] == 0).all() and (gs.std[inv] == 1).all()


def check_patches(ps, x, w, grid, glob: bool = True) -> None:
    if glob:
        check_global(ps.glob, x, w)
    mean, std, valid = ref_patches(x, w, grid)
    assert ps.valid.dtype == torch.bool
    assert ps.mean.shape == mean.shape and ps.std.shape == std.shape and ps.valid.shape == valid.shape
    np.testing.assert_array_equal(ps.valid.numpy(), valid)
    close(ps.mean, mean)
    close(ps.std, std)
    inv = ~ps.valid.unsqueeze(1).expand_as(ps.mean)
    assert (ps.mean[inv] == 0).all() and (ps.std[inv] == 1).all()


def make_masks(n: int, h: int, w: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    one_px = torch.zeros(n, 1, h, w)
    one_px[:, 0, h // 2, w // 3] = 1.0
    return {
        "soft": torch.rand(n, 1, h, w, generator=gen),
        "binary": (torch.rand(n, 1, h, w, generator=gen) > 0.6).float(),
        "zeros": torch.zeros(n, 1, h, w),
        "ones": torch.ones(n, 1, h, w),
        "one_pixel": one_px,
    }


SIZES = [(16, 24), (13, 7), (4, 4), (5, 9)]
GRIDS = [1, 3, 4, 5]
MASK_KINDS = ["soft", "binary", "zeros", "ones", "one_pixel"]


# ----------------------------------------------------------------------------- tests
def test_reference_cells_partition():
    # sanity of the reference partition itself: every index in exactly one cell, cells contiguous
    for size in (1, 4, 7, 13, 16, 24):
        for g in GRIDS:
            cells = ref_cells(size, g)
            assert sorted(sum(cells, [])) == list(range(size))
            for cell in cells:
                assert cell == list(range(cell[0], cell[0] + len(cell))) if cell else True


@pytest.mark.parametrize("size", [1, 4, 7, 13, 16, 24])
@pytest.mark.parametrize("grid", GRIDS)
def test_patch_assignment_matches_floor_rule(size, grid):
    a = patch_assignment(size, grid, torch.device("cpu"))
    assert a.shape == (grid, size)
    ref = np.zeros((grid, size))
    for i, cell in enumerate(ref_cells(size, grid)):
        for h in cell:
            ref[i, h] = 1.0
    np.testing.assert_array_equal(a.numpy(), ref)


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_global_stats_match_reference(hw, kind):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((hw, kind)).encode()))
    h, w = hw
    x = torch.randn(2, 3, h, w, generator=gen) * 2.0 + 0.5
    m = make_masks(2, h, w, gen)[kind]
    for weight in (m, 1.0 - m):
        check_global(masked_global_stats(x, weight), x, weight)


@pytest.mark.parametrize("hw", SIZES)
@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_patch_stats_match_reference(hw, grid, kind):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((hw, grid, kind)).encode()))
    h, w = hw
    x = torch.randn(2, 3, h, w, generator=gen) * 2.0 + 0.5
    m = make_masks(2, h, w, gen)[kind]
    for weight in (m, 1.0 - m):
        check_patches(masked_patch_stats(x, weight, grid), x, weight, grid)


def test_empty_patches_when_grid_exceeds_size():
    # 4 x 4 map on a 5 x 5 grid: rows/cols floor(h*5/4) = 0, 1, 2, 3 -> cell 4 is empty
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(1, 2, 4, 4, generator=gen)
    w = torch.ones(1, 1, 4, 4)
    ps = masked_patch_stats(x, w, 5)
    valid = ps.valid[0].view(5, 5)
    assert not valid[4].any() and not valid[:, 4].any()
    assert valid[:4, :4].all()
    check_patches(ps, x, w, 5)


def test_validity_threshold():
    # a patch whose weight is just below / just above MIN_WEIGHT
    x = torch.randn(1, 1, 2, 2, generator=torch.Generator().manual_seed(2))
    w = torch.zeros(1, 1, 2, 2)
    w[0, 0, 0, 0] = 0.5 * MIN_WEIGHT
    w[0, 0, 1, 1] = 2.0 * MIN_WEIGHT
    ps = masked_patch_stats(x, w, 2)
    assert ps.valid[0].tolist() == [False, False, False, True]
    assert ps.glob.valid.tolist() == [True]
    # the global part of this case is the subject of test_patch_glob_with_tiny_weight_patch
    check_patches(ps, x, w, 2, glob=False)
    check_global(masked_global_stats(x, w), x, w)


def test_single_pixel_std_is_sqrt_eps():
    x = torch.randn(1, 3, 6, 6, generator=torch.Generator().manual_seed(3)) * 10
    w = torch.zeros(1, 1, 6, 6)
    w[0, 0, 2, 5] = 1.0
    gs = masked_global_stats(x, w)
    torch.testing.assert_close(gs.mean[0], x[0, :, 2, 5])
    torch.testing.assert_close(gs.std[0], torch.full((3,), math.sqrt(STD_EPS)), rtol=1e-3, atol=0)


def test_constant_soft_scale_invariance():
    # weighted statistics do not depend on a global scale of the weights (above the threshold)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 3, 13, 7, generator=gen)
    w = torch.rand(2, 1, 13, 7, generator=gen)
    a = masked_patch_stats(x, w, 3)
    b = masked_patch_stats(x, 0.25 * w, 3)
    torch.testing.assert_close(a.mean, b.mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.std, b.std, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_other_input_dtypes_compute_in_float32(dtype):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(1, 2, 8, 8, generator=gen).to(dtype)
    w = torch.rand(1, 1, 8, 8, generator=gen).to(dtype)
    ps = masked_patch_stats(x, w, 4)
    assert ps.mean.dtype == torch.float32 and ps.std.dtype == torch.float32
    check_patches(ps, x, w, 4)


def test_no_nan_inf_in_degenerate_cases():
    gen = torch.Generator().manual_seed(6)
    for h, w in [(1, 1), (4, 4), (13, 7)]:
        x = torch.randn(2, 3, h, w, generator=gen) * 1e3
        for m in make_masks(2, h, w, gen).values():
            for weight in (m, 1.0 - m):
                gs = masked_global_stats(x, weight)
                assert torch.isfinite(gs.mean).all() and torch.isfinite(gs.std).all()
                for g in GRIDS:
                    ps = masked_patch_stats(x, weight, g)
                    for t in (ps.mean, ps.std, ps.glob.mean, ps.glob.std):
                        assert torch.isfinite(t).all()
                    assert (ps.std > 0).all()


def test_patch_glob_equals_direct_global():
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(3, 4, 16, 24, generator=gen) * 3 + 1
    w = torch.rand(3, 1, 16, 24, generator=gen) ** 3
    for g in GRIDS:
        ps = masked_patch_stats(x, w, g)
        gs = masked_global_stats(x, w)
        torch.testing.assert_close(ps.glob.mean, gs.mean, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ps.glob.std, gs.std, rtol=1e-5, atol=1e-5)
        assert torch.equal(ps.glob.valid, gs.valid)


def test_patch_glob_with_tiny_weight_patch():
    """A patch holding a small but nonzero weight (<= MIN_WEIGHT, e.g. a soft matte's fringe) still
    belongs to the global statistics; the global std must match Eq. 3 / ``masked_global_stats``.

    Known failure at the time of writing: the patch mean used in Chan's formula is divided by
    ``sum_w.clamp_min(MIN_WEIGHT)`` instead of ``sum_w``, so it is not the patch's weighted mean and
    the cross term of the parallel-variance formula no longer vanishes (27.14 instead of 29.97).
    The same happens with ordinary values (see test_validity_threshold's map: 0.569 vs 0.639).
    """
    x = torch.zeros(1, 1, 2, 2)
    x[0, 0, 1, 1] = 1000.0
    w = torch.zeros(1, 1, 2, 2)
    w[0, 0, 0, 0] = 1.0
    w[0, 0, 1, 1] = 0.9 * MIN_WEIGHT
    direct = masked_global_stats(x, w)
    check_global(direct, x, w)
    ps = masked_patch_stats(x, w, 2)
    mean, std, _ = ref_global(x, w)
    np.testing.assert_allclose(ps.glob.mean.double().numpy(), mean, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ps.glob.std.double().numpy(), std, rtol=RTOL, atol=ATOL)
