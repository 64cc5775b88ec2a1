"""Slow float64 reference for ``phnet.pn.PatchNorm`` (paper Eq. 2-12) and its temporal smoothing.

Written from the paper and the documented choices of ``phnet/pn.py`` / ``phnet/stats.py`` only:

- statistics: weighted per-channel mean/std, ``std = sqrt(var + 1e-7)``, floor patch rule, a
  region with weight sum <= MIN_WEIGHT is invalid (mean 0, std 1);
- Eq. 6-7 with ``alpha``/``beta`` entering as a softmax over the patches valid in this frame
  (Eq. 7's ``1/P`` becomes ``1/|valid|`` and ``beta_i = |valid| * softmax_i``);
- fallbacks: no background -> the foreground's own statistics replace the background's; then no
  foreground -> the background's replace the foreground's; no valid background patch -> the
  global background statistics replace the local ones;
- state: slot 0 foreground (global), slot 1 background (global), slots 2.. background patches;
  ``s = (1 - a) prev + a now`` where valid in both, ``now`` where valid only now, ``prev`` where
  invalid now; validity of the state is this frame's (an entry invalid now starts fresh when it
  returns); this frame's normalisation uses the smoothed values of the entries valid *now* only.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from phnet.pn import PatchNorm, StatsState, smooth_stats
from phnet.stats import MIN_WEIGHT, STD_EPS

RTOL = 1e-4
ATOL = 1e-4


pytestmark = pytest.mark.usefixtures("one_thread")
PARAM_NAMES = ["w0", "w1", "w2", "gamma0", "gamma1", "gamma2", "alpha", "beta"]


# ----------------------------------------------------------------------------- reference
def ref_cells(size: int, grid: int) -> list[list[int]]:
    cells: list[list[int]] = [[] for _ in range(grid)]
    for h in range(size):
        cells[(h * grid) // size].append(h)
    return cells


def ref_region(xs: np.ndarray, ws: np.ndarray) -> tuple[float, float, bool]:
    sw = float(ws.sum())
    if not sw > MIN_WEIGHT:
        return 0.0, 1.0, False
    mu = float((ws * xs).sum()) / sw
    var = float((ws * (xs - mu) ** 2).sum()) / sw
    return mu, math.sqrt(var + STD_EPS), True


def ref_measure(x: np.ndarray, m: np.ndarray, grid: int):
    """Returns (mean, std, valid) with shapes (N, C, 2+P), (N, C, 2+P), (N, 2+P) bool."""
    n, c, h, w = x.shape
    p = grid * grid
    rows, cols = ref_cells(h, grid), ref_cells(w, grid)
    mean = np.zeros((n, c, 2 + p))
    std = np.ones((n, c, 2 + p))
    valid = np.zeros((n, 2 + p), dtype=bool)
    for b in range(n):
        fgw = m[b, 0]
        bgw = 1.0 - m[b, 0]
        for ch in range(c):
            mean[b, ch, 0], std[b, ch, 0], valid[b, 0] = ref_region(x[b, ch], fgw)
            mean[b, ch, 1], std[b, ch, 1], valid[b, 1] = ref_region(x[b, ch], bgw)
        for i in range(grid):
            for j in range(grid):
                k = 2 + i * grid + j
                r = slice(rows[i][0], rows[i][-1] + 1) if rows[i] else slice(0, 0)  # cells are contiguous
                s = slice(cols[j][0], cols[j][-1] + 1) if cols[j] else slice(0, 0)
                for ch in range(c):
                    mean[b, ch, k], std[b, ch, k], valid[b, k] = ref_region(x[b, ch, r, s], bgw[r, s])
    return mean, std, valid


def ref_smooth(now, prev, a: float):
    if prev is None:
        return now
    nm, ns, nv = now
    pm, ps, pv = prev
    mean, std = nm.copy(), ns.copy()
    n, c, s = nm.shape
    for b in range(n):
        for k in range(s):
            for ch in range(c):
                if nv[b, k] and pv[b, k]:
                    mean[b, ch, k] = (1 - a) * pm[b, ch, k] + a * nm[b, ch, k]
                    std[b, ch, k] = (1 - a) * ps[b, ch, k] + a * ns[b, ch, k]
                elif nv[b, k]:
                    mean[b, ch, k], std[b, ch, k] = nm[b, ch, k], ns[b, ch, k]
                else:
                    mean[b, ch, k], std[b, ch, k] = pm[b, ch, k], ps[b, ch, k]
    return mean, std, nv.copy()


def ref_softmax_valid(logits: np.ndarray, idx: list[int]) -> dict[int, float]:
    top = max(logits[k] for k in idx)
    e = {k: math.exp(logits[k] - top) for k in idx}
    tot = sum(e.values())
    return {k: e[k] / tot for k in idx}


def ref_pn(x, m, prm: dict, grid: int, prev=None, a: float = 1.0):
    """Eq. 5-12 with the documented choices; x (N,C,H,W), m (N,1,H,W) float64 numpy."""
    now = ref_measure(x, m, grid)
    mean, std, _ = ref_smooth(now, prev, a)
    use = now[2]
    n, c = x.shape[:2]
    p = grid * grid
    out = np.zeros_like(x)
    for b in range(n):
        vidx = [k for k in range(p) if use[b, 2 + k]]
        if vidx:
            alpha = ref_softmax_valid(prm["alpha"], vidx)  # Eq. 6 scores
            beta_sm = ref_softmax_valid(prm["beta"], vidx)
            beta = {k: len(vidx) * beta_sm[k] for k in vidx}  # Eq. 7 with P -> |valid|
        for ch in range(c):
            mu_f, sd_f = mean[b, ch, 0], std[b, ch, 0]
            mu_b, sd_b = mean[b, ch, 1], std[b, ch, 1]
            if not use[b, 1]:
                mu_b, sd_b = mu_f, sd_f
            if not use[b, 0]:
                mu_f, sd_f = mu_b, sd_b
            if vidx:
                mu_loc = sum(alpha[k] * mean[b, ch, 2 + k] for k in vidx)  # Eq. 6
                sd_loc = math.sqrt(sum(beta[k] * std[b, ch, 2 + k] ** 2 for k in vidx) / len(vidx))  # Eq. 7
            else:
                mu_loc, sd_loc = mu_b, sd_b
            X = x[b, ch]
            M = m[b, 0]
            f_glob = (X - mu_f) * sd_b / sd_f + mu_b  # Eq. 5
            f_loc = (X - mu_f) * sd_loc / sd_f + mu_loc  # Eq. 8
            b_loc = (X - mu_b) * sd_loc / sd_b + mu_loc  # Eq. 9
            f_t = prm["w0"][ch] * f_loc + prm["w1"][ch] * f_glob + prm["w2"][ch]  # Eq. 10
            b_t = prm["gamma0"][ch] * b_loc + prm["gamma1"][ch] * X + prm["gamma2"][ch]  # Eq. 11
            out[b, ch] = f_t * M + b_t * (1 - M)  # Eq. 12
    return out


# ----------------------------------------------------------------------------- helpers
def randomise(pn: PatchNorm, gen: torch.Generator) -> None:
    with torch.no_grad():
        c, p = pn.channels, pn.grid**2
        pn.w0.copy_(torch.rand(c, generator=gen) * 1.5 - 0.25)
        pn.w1.copy_(torch.rand(c, generator=gen) * 1.5 - 0.25)
        pn.w2.copy_(torch.randn(c, generator=gen) * 0.3)
        pn.gamma0.copy_(torch.rand(c, generator=gen) * 1.5 - 0.25)
        pn.gamma1.copy_(torch.rand(c, generator=gen) + 0.5)
        pn.gamma2.copy_(torch.randn(c, generator=gen) * 0.3)
        pn.alpha.copy_(torch.randn(p, generator=gen) * 2.0)
        pn.beta.copy_(torch.randn(p, generator=gen) * 2.0)


def params_np(pn: PatchNorm) -> dict:
    return {k: getattr(pn, k).detach().double().numpy() for k in PARAM_NAMES}


def state_np(s: StatsState):
    return s.mean.double().numpy(), s.std.double().numpy(), s.valid.numpy() > 0.5


def one_patch_background(n: int, h: int, w: int, grid: int, i: int, j: int) -> torch.Tensor:
    """Foreground everywhere except the cell (i, j) of the grid."""
    m = torch.ones(n, 1, h, w)
    r = ref_cells(h, grid)[i]
    s = ref_cells(w, grid)[j]
    m[:, :, r[0] : r[-1] + 1, s[0] : s[-1] + 1] = 0.0
    return m


def make_mask(kind: str, n: int, h: int, w: int, grid: int, gen: torch.Generator) -> torch.Tensor:
    if kind == "soft":
        return torch.rand(n, 1, h, w, generator=gen)
    if kind == "binary":
        return (torch.rand(n, 1, h, w, generator=gen) > 0.4).float()
    if kind == "zeros":
        return torch.zeros(n, 1, h, w)
    if kind == "ones":
        return torch.ones(n, 1, h, w)
    if kind == "one_pixel":
        m = torch.zeros(n, 1, h, w)
        m[:, :, h // 3, w // 2] = 1.0
        return m
    if kind == "one_bg_pixel":
        m = torch.ones(n, 1, h, w)
        m[:, :, h - 1, 0] = 0.0
        return m
    if kind == "one_bg_patch":  # the middle row's last non-empty cell (cells can be empty, H < g)
        j = max(k for k, cell in enumerate(ref_cells(w, grid)) if cell)
        return one_patch_background(n, h, w, grid, grid // 2, j)
    if kind == "mixed":  # one sample per situation in a single batch
        ms = [torch.rand(1, h, w, generator=gen), torch.ones(1, h, w), torch.zeros(1, h, w),
              one_patch_background(1, h, w, grid, 0, 0)[0]]
        return torch.stack(ms[:n] + [torch.rand(1, h, w, generator=gen)] * max(0, n - len(ms)))
    raise ValueError(kind)


def check_close(fast: torch.Tensor, ref: np.ndarray) -> None:
    assert torch.isfinite(fast).all()
    np.testing.assert_allclose(fast.detach().double().numpy(), ref, rtol=RTOL, atol=ATOL)


MASK_KINDS = ["soft", "binary", "zeros", "ones", "one_pixel", "one_bg_pixel", "one_bg_patch", "mixed"]


# ----------------------------------------------------------------------------- stateless forward
@pytest.mark.parametrize("learn_all", [True, False])
@pytest.mark.parametrize("grid,hw", [(3, (12, 12)), (4, (13, 7)), (5, (16, 24)), (1, (6, 5)), (5, (4, 4))])
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_forward_matches_reference(learn_all, grid, hw, kind):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((learn_all, grid, hw, kind)).encode()))
    h, w = hw
    pn = PatchNorm(3, grid, learn_all=learn_all)
    randomise(pn, gen)
    x = torch.randn(4, 3, h, w, generator=gen) * 1.5 + 0.3
    m = make_mask(kind, 4, h, w, grid, gen)
    out, state = pn(x, m)
    assert out.shape == x.shape and out.dtype == x.dtype
    ref = ref_pn(x.double().numpy(), m.double().numpy(), params_np(pn), grid)
    check_close(out, ref)
    # the state is this frame's statistics
    rm, rs, rv = ref_measure(x.double().numpy(), m.double().numpy(), grid)
    np.testing.assert_array_equal(state.valid.numpy() > 0.5, rv)
    assert set(np.unique(state.valid.numpy())) <= {0.0, 1.0}
    check_close(state.mean, rm)
    check_close(state.std, rs)


def test_default_parameters_follow_paper_with_uniform_scores():
    """Default init, every patch valid: Eq. 6 with alpha = 1/P and Eq. 7 with beta = 1, literally."""
    gen = torch.Generator().manual_seed(11)
    pn = PatchNorm(2, 3)
    x = torch.randn(1, 2, 9, 9, generator=gen)
    m = torch.rand(1, 1, 9, 9, generator=gen) * 0.5  # background weight >= 0.5 everywhere
    out, st = pn(x, m)
    assert (st.valid == 1).all()
    mean, std = st.mean.double(), st.std.double()
    p = 9
    mu_loc = mean[0, :, 2:].sum(-1) / p
    sd_loc = torch.sqrt((std[0, :, 2:] ** 2).sum(-1) / p)
    X = x[0].double()
    mu_f, sd_f, mu_b, sd_b = mean[0, :, 0], std[0, :, 0], mean[0, :, 1], std[0, :, 1]
    v = lambda t: t.view(-1, 1, 1)  # noqa: E731
    f_glob = (X - v(mu_f)) * v(sd_b / sd_f) + v(mu_b)
    f_loc = (X - v(mu_f)) * v(sd_loc / sd_f) + v(mu_loc)
    f_new = 0.5 * f_loc + 0.5 * f_glob
    ref = f_new * m[0].double() + X * (1 - m[0].double())
    torch.testing.assert_close(out[0].double(), ref, rtol=1e-4, atol=1e-4)


def test_learn_all_false_trains_only_w0_w1():
    pn = PatchNorm(4, 5, learn_all=False)
    assert sorted(n for n, _ in pn.named_parameters()) == ["w0", "w1"]
    assert pn.w2.abs().sum() == 0 and (pn.gamma1 == 1).all() and pn.gamma0.abs().sum() == 0
    assert pn.gamma2.abs().sum() == 0 and pn.alpha.abs().sum() == 0 and pn.beta.abs().sum() == 0


def test_no_background_leaves_foreground_as_is_with_default_weights():
    gen = torch.Generator().manual_seed(12)
    pn = PatchNorm(3, 4)
    x = torch.randn(2, 3, 8, 8, generator=gen)
    out, _ = pn(x, torch.ones(2, 1, 8, 8))
    torch.testing.assert_close(out, x, rtol=1e-5, atol=1e-5)
    out, _ = pn(x, torch.zeros(2, 1, 8, 8))  # no foreground: background passes (gamma = 0, 1, 0)
    torch.testing.assert_close(out, x, rtol=1e-5, atol=1e-5)


def test_one_background_patch_uses_that_patch_only():
    gen = torch.Generator().manual_seed(13)
    grid = 3
    pn = PatchNorm(2, grid)
    randomise(pn, gen)
    x = torch.randn(1, 2, 12, 12, generator=gen)
    m = one_patch_background(1, 12, 12, grid, 1, 2)
    _, st = pn(x, m)
    v = st.valid[0, 2:]
    assert v.sum() == 1 and v[1 * grid + 2] == 1
    # the local statistics are that patch's statistics: equal to the global background ones
    torch.testing.assert_close(st.mean[0, :, 2 + 5], st.mean[0, :, 1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(st.std[0, :, 2 + 5], st.std[0, :, 1], rtol=1e-5, atol=1e-5)


def test_fp16_input_gives_fp16_output_close_to_reference():
    gen = torch.Generator().manual_seed(14)
    pn = PatchNorm(3, 4)
    randomise(pn, gen)
    x = (torch.randn(2, 3, 8, 8, generator=gen)).half()
    m = torch.rand(2, 1, 8, 8, generator=gen).half()
    out, _ = pn(x, m)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    ref = ref_pn(x.double().numpy(), m.double().numpy(), params_np(pn), 4)
    np.testing.assert_allclose(out.detach().double().numpy(), ref, rtol=1e-2, atol=1e-2)


def test_softmax_is_over_valid_patches_even_with_large_score_gaps():
    """Documented: alpha/beta enter "as a softmax over the patches that are valid in this frame".

    Known failure at the time of writing: ``_masked_softmax`` subtracts the max over *all* patches,
    so when an invalid patch's score exceeds every valid one by more than ~104 (float32 exp
    underflow) all weights become 0: mu_loc = sd_loc = 0 instead of the valid patches' softmax,
    and the gradient of sd_loc = sqrt(0) is NaN.
    """
    gen = torch.Generator().manual_seed(15)
    pn = PatchNorm(1, 2)
    with torch.no_grad():
        pn.alpha.copy_(torch.tensor([200.0, 0.0, 1.0, 0.0]))
        pn.beta.copy_(torch.tensor([200.0, 0.0, 0.0, -1.0]))
    x = torch.randn(1, 1, 4, 4, generator=gen)
    m = torch.zeros(1, 1, 4, 4)
    m[..., :2, :2] = 1.0  # the person covers patch 0 exactly: patch 0 is invalid
    out, _ = pn(x, m)
    ref = ref_pn(x.double().numpy(), m.double().numpy(), params_np(pn), 2)
    check_close(out, ref)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("kind", ["soft", "binary", "one_bg_patch", "zeros", "one_pixel"])
def test_gradients_reach_every_parameter(kind):
    gen = torch.Generator().manual_seed(zlib.crc32(kind.encode()))
    pn = PatchNorm(3, 3)
    randomise(pn, gen)
    x = torch.randn(2, 3, 12, 12, generator=gen, requires_grad=True)
    m = make_mask(kind, 2, 12, 12, 3, gen)
    out, _ = pn(x, m)
    out.sum().backward()
    for name in PARAM_NAMES:
        g = getattr(pn, name).grad
        assert g is not None, name
        assert torch.isfinite(g).all(), name
    assert torch.isfinite(x.grad).all()
    # and the patch scores do matter whenever at least two background patches are valid
    if kind in ("soft", "binary", "one_pixel"):
        assert pn.alpha.grad.abs().sum() > 0 and pn.beta.grad.abs().sum() > 0


def test_gradients_finite_with_a_fully_covered_sample_in_the_batch():
    """A batch holding one frame without background (all-one mask) next to an ordinary one.

    Known failure at the time of writing: with no valid patch, ``sd_loc = sqrt(sum(b * std^2))`` is
    ``sqrt(0)``; ``torch.where`` discards that branch in the forward pass, but its backward gives
    ``0 * inf = NaN`` and the NaN reaches ``beta.grad`` (through the masked softmax), which poisons
    the whole batch's update of ``beta``.
    """
    gen = torch.Generator().manual_seed(16)
    pn = PatchNorm(3, 3)
    x = torch.randn(2, 3, 8, 8, generator=gen, requires_grad=True)
    m = torch.ones(2, 1, 8, 8)
    m[1] = torch.rand(1, 8, 8, generator=gen)
    out, _ = pn(x, m)
    out.sum().backward()
    bad = [n for n in PARAM_NAMES if not torch.isfinite(getattr(pn, n).grad).all()]
    assert not bad, f"non-finite gradients: {bad}"
    assert torch.isfinite(x.grad).all()


# ----------------------------------------------------------------------------- temporal smoothing
def random_state(n: int, c: int, s: int, gen: torch.Generator) -> StatsState:
    valid = (torch.rand(n, s, generator=gen) > 0.3).float()
    mean = torch.randn(n, c, s, generator=gen)
    std = torch.rand(n, c, s, generator=gen) + 0.1
    return StatsState(mean, std, valid)


@pytest.mark.parametrize("a", [0.0, 0.1, 0.5, 0.85, 1.0])
def test_smooth_stats_rule(a):
    gen = torch.Generator().manual_seed(int(a * 100) + 17)
    now = random_state(3, 4, 11, gen)
    prev = random_state(3, 4, 11, gen)
    for mom in (a, torch.tensor(a)):
        got = smooth_stats(now, prev, mom)
        rm, rs, rv = ref_smooth(state_np(now), state_np(prev), a)
        np.testing.assert_array_equal(got.valid.numpy() > 0.5, rv)
        np.testing.assert_allclose(got.mean.double().numpy(), rm, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got.std.double().numpy(), rs, rtol=1e-6, atol=1e-6)
        # entries valid only now / invalid now are copied exactly
        vn = (now.valid > 0.5).unsqueeze(1).expand_as(now.mean)
        vp = (prev.valid > 0.5).unsqueeze(1).expand_as(now.mean)
        assert torch.equal(got.mean[vn & ~vp], now.mean[vn & ~vp])
        assert torch.equal(got.mean[~vn], prev.mean[~vn])
        assert torch.equal(got.std[~vn], prev.std[~vn])
    assert smooth_stats(now, None, 0.3) is now


def test_an_entry_uncovered_again_starts_fresh():
    """A background patch hidden for a frame (the person's hand over it) re-enters with its own
    statistics, not blended with values from before it was hidden, however old."""
    gen = torch.Generator().manual_seed(5)
    old = random_state(1, 2, 4, gen)
    old = StatsState(old.mean, old.std, torch.ones(1, 4))
    hidden = StatsState(torch.zeros(1, 2, 4), torch.ones(1, 2, 4), torch.tensor([[1.0, 1.0, 0.0, 1.0]]))
    back = random_state(1, 2, 4, gen)
    back = StatsState(back.mean, back.std, torch.ones(1, 4))
    s1 = smooth_stats(hidden, old, 0.2)
    assert s1.valid[0, 2] == 0 and torch.equal(s1.mean[0, :, 2], old.mean[0, :, 2])
    s2 = smooth_stats(back, s1, 0.2)
    assert torch.equal(s2.mean[0, :, 2], back.mean[0, :, 2])  # fresh
    assert torch.allclose(s2.mean[0, :, 0], 0.8 * s1.mean[0, :, 0] + 0.2 * back.mean[0, :, 0])


@pytest.mark.parametrize("learn_all", [True, False])
@pytest.mark.parametrize("kind", ["soft", "binary", "one_bg_patch", "mixed"])
def test_momentum_one_equals_stateless(learn_all, kind):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((learn_all, kind)).encode()))
    pn = PatchNorm(3, 4, learn_all=learn_all)
    randomise(pn, gen)
    x = torch.randn(4, 3, 12, 16, generator=gen)
    m = make_mask(kind, 4, 12, 16, 4, gen)
    prev = random_state(4, 3, 2 + 16, gen)
    base, now = pn(x, m)
    for mom in (1.0, torch.tensor(1.0)):
        out, st = pn(x, m, prev, mom)
        assert torch.equal(out, base)
        vn = (now.valid > 0.5).unsqueeze(1).expand_as(now.mean)
        assert torch.equal(st.mean[vn], now.mean[vn]) and torch.equal(st.std[vn], now.std[vn])
        assert torch.equal(st.mean[~vn], prev.mean[~vn]) and torch.equal(st.std[~vn], prev.std[~vn])
        assert torch.equal(st.valid, now.valid)


@pytest.mark.parametrize("a", [0.2, 0.7])
@pytest.mark.parametrize("kind", ["soft", "binary", "one_bg_patch", "mixed", "ones"])
def test_forward_with_prev_matches_reference(a, kind):
    gen = torch.Generator().manual_seed(zlib.crc32(repr((a, kind)).encode()))
    grid = 3
    pn = PatchNorm(2, grid)
    randomise(pn, gen)
    # prev from a real previous frame with a different mask (different validity pattern)
    x0 = torch.randn(4, 2, 9, 12, generator=gen)
    m0 = make_mask("binary", 4, 9, 12, grid, gen)
    _, prev = pn(x0, m0)
    x = torch.randn(4, 2, 9, 12, generator=gen) + 0.5
    m = make_mask(kind, 4, 9, 12, grid, gen)
    out, st = pn(x, m, prev, a)
    ref_prev = state_np(prev)
    ref = ref_pn(x.double().numpy(), m.double().numpy(), params_np(pn), grid, ref_prev, a)
    check_close(out, ref)
    rm, rs, rv = ref_smooth(ref_measure(x.double().numpy(), m.double().numpy(), grid), ref_prev, a)
    np.testing.assert_array_equal(st.valid.numpy() > 0.5, rv)
    check_close(st.mean, rm)
    check_close(st.std, rs)


def test_constant_input_converges():
    gen = torch.Generator().manual_seed(18)
    pn = PatchNorm(3, 3)
    randomise(pn, gen)
    x = torch.randn(2, 3, 12, 12, generator=gen)
    m = make_mask("soft", 2, 12, 12, 3, gen)
    _, target = pn(x, m)
    _, state = pn(torch.randn(2, 3, 12, 12, generator=gen) * 3, torch.rand(2, 1, 12, 12, generator=gen))
    ref_out, _ = pn(x, m)
    deltas = []
    with torch.no_grad():
        for _ in range(80):
            out, new = pn(x, m, state, 0.3)
            deltas.append(max((new.mean - state.mean).abs().max().item(), (new.std - state.std).abs().max().item()))
            state = new
    assert deltas[-1] <= 1e-6  # the state stops changing
    assert all(d2 <= d1 * 0.71 + 1e-6 for d1, d2 in zip(deltas, deltas[1:]))  # geometric decay
    torch.testing.assert_close(state.mean, target.mean, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(state.std, target.std, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, ref_out, rtol=1e-4, atol=1e-4)


def test_gradients_flow_through_smoothed_forward():
    gen = torch.Generator().manual_seed(19)
    pn = PatchNorm(3, 3)
    randomise(pn, gen)
    _, prev = pn(torch.randn(2, 3, 12, 12, generator=gen), make_mask("binary", 2, 12, 12, 3, gen))
    prev = StatsState(*(t.detach() for t in prev))
    x = torch.randn(2, 3, 12, 12, generator=gen, requires_grad=True)
    out, _ = pn(x, make_mask("soft", 2, 12, 12, 3, gen), prev, 0.4)
    out.sum().backward()
    for name in PARAM_NAMES:
        g = getattr(pn, name).grad
        assert g is not None and torch.isfinite(g).all(), name
    assert torch.isfinite(x.grad).all()
