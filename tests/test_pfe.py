"""The PFE on the composite image (paper §4.2, Fig. 3): local-to-local and global colour transfer,
pooled per patch into q2. Checked against the transfer built pixel by pixel in float64."""
import numpy as np
import torch

from conftest import portrait_mask
from phnet.pfe import ImagePFE
from phnet.stats import masked_global_stats, masked_patch_stats


def transfer_reference(img: np.ndarray, m: np.ndarray, grid: int, w0, w1) -> np.ndarray:
    """The transferred foreground, pixel by pixel: each pixel's own patch statistics moved to the
    same patch's background statistics (the global background's where the patch has none), and
    the global foreground moved to the global background; ``w0 * local + w1 * global``."""
    t = torch.from_numpy(img)[None].float()
    mm = torch.from_numpy(m)[None, None].float()
    fg = masked_patch_stats(t, mm, grid)
    bg = masked_patch_stats(t, 1 - mm, grid)
    _, h, w = img.shape
    out = np.zeros_like(img)
    for y in range(h):
        for x in range(w):
            k = (y * grid // h) * grid + (x * grid // w)
            for c in range(3):
                v = img[c, y, x]
                if bg.valid[0, k]:
                    mb, sb = bg.mean[0, c, k].item(), bg.std[0, c, k].item()
                else:
                    mb, sb = bg.glob.mean[0, c].item(), bg.glob.std[0, c].item()
                local = (v - fg.mean[0, c, k].item()) / fg.std[0, c, k].item() * sb + mb
                glob = ((v - fg.glob.mean[0, c].item()) / fg.glob.std[0, c].item()
                        * bg.glob.std[0, c].item() + bg.glob.mean[0, c].item())
                out[c, y, x] = w0[c] * local + w1[c] * glob
    return out


def test_pooled_changes_match_the_transfer_built_pixel_by_pixel():
    gen = torch.Generator().manual_seed(3)
    pfe = ImagePFE(8, grid=3)
    with torch.no_grad():
        pfe.w0.copy_(torch.tensor([0.7, 0.4, 0.5]))
        pfe.w1.copy_(torch.tensor([0.2, 0.5, 0.6]))
    image = torch.rand(1, 3, 24, 30, generator=gen)
    mask = portrait_mask(24, 30)
    mask[..., 0:8, :] = 1.0  # the top row of patches holds no background: global fallback
    with torch.no_grad():
        feats, _ = pfe.changes(image, mask)
    ref = transfer_reference(image[0].double().numpy(), mask[0, 0].double().numpy(), 3,
                             pfe.w0.detach().numpy(), pfe.w1.detach().numpy())
    ref_stats = masked_patch_stats(torch.from_numpy(ref)[None].float(), mask, 3)
    own = masked_patch_stats(image, mask, 3)
    p = 9
    ok = own.valid[0]
    np.testing.assert_allclose(feats[0, :, :p][:, ok], (ref_stats.mean - own.mean)[0][:, ok], atol=1e-4)
    np.testing.assert_allclose(feats[0, :, p:2 * p][:, ok],
                               torch.log(ref_stats.std / own.std)[0][:, ok], atol=1e-3)
    assert torch.all(feats[0, :, :p][:, ~ok] == 0)
    g_own, g_bg = masked_global_stats(image, mask), masked_global_stats(image, 1 - mask)
    w = (pfe.w0 + pfe.w1).detach()
    feats = feats.numpy()
    np.testing.assert_allclose(feats[0, :, 2 * p], w * (g_bg.mean - g_own.mean)[0], atol=1e-5)


def test_q2_starts_at_zero_and_w0_w1_learn():
    pfe = ImagePFE(16, grid=5)
    image, mask = torch.rand(2, 3, 40, 40), portrait_mask(40, 40).expand(2, 1, 40, 40)
    q2, state = pfe(image, mask)
    assert q2.shape == (2, 16) and torch.all(q2 == 0)
    assert state.mean.shape == (2, 3, pfe.slots)
    with torch.no_grad():
        pfe.proj.weight.normal_()
    pfe(image, mask)[0].square().sum().backward()
    assert pfe.w0.grad.abs().sum() > 0 and pfe.w1.grad.abs().sum() > 0


def test_no_background_or_no_person_gives_finite_zero_changes():
    pfe = ImagePFE(4, grid=2)
    image = torch.rand(2, 3, 16, 16)
    mask = torch.stack([torch.ones(1, 16, 16), torch.zeros(1, 16, 16)])
    feats, _ = pfe.changes(image, mask)
    assert torch.isfinite(feats).all() and torch.all(feats == 0)
