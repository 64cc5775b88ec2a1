"""Guided upsampling of a low-resolution harmonisation to the camera's resolution.

The network runs at about 256 px while the camera frame is 640x480 to 1920x1080. Upsampling the
network's output would blur the person; instead, as in He et al.'s fast guided filter
(arXiv:1505.00996) and PCT-Net's per-pixel colour transforms (CVPR 2023), a local affine colour
model ``out = A @ in + b`` (A 3x3, b 3) is fitted at low resolution between the network's input
and output, its coefficients are upsampled bilinearly, and they are applied to the full-resolution
frame. Colours follow the network, edges and texture stay the camera's.

Per pixel, over its (2r+1)^2 box window (shrunk at the borders), A is the ridge least-squares
solution regularised towards the identity (guided filter Eq. 5-6 with prior I instead of 0):

    A = (cov(out, in) + eps I) (cov(in, in) + eps I)^-1,    b = mean(out) - A mean(in),

then A and b are averaged over the window again (guided filter Eq. 8). Shrinking towards I rather
than 0 means a flat or low-contrast region (cheeks, a plain wall, variance below ``eps``) keeps
its full-resolution detail and takes the network's colour as an offset, instead of being
replaced by the blurred low-resolution output; an identity mapping is recovered exactly for any
``eps``. ``eps`` also keeps every 3x3 system well posed, so a constant image gives finite output.

Two forms of the same fit: ``fit_affine_array`` in NumPy/OpenCV (the camera's path, which
needs no PyTorch) and ``fit_affine`` on torch tensors (the GPU path and the evaluation). All
maps are ``(N, C, H, W)``; tensor inputs may be float16, float32 or float64 in [0, 1] on any
device, and everything is computed and returned in float32. The 3x3 systems are solved in closed
form (adjugate of a symmetric matrix), elementwise over the whole map. ``FrameColourModel``
applies a fitted model to uint8 frames in NumPy. PyTorch is imported only by the tensor
functions.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from torch import Tensor

# Index pairs (i, j), i <= j, of the symmetric 3x3 covariance stored as 6 channels.
_SYM = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


def _check_image(name: str, x: Tensor) -> None:
    from torch import Tensor

    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor in [0, 1], got dtype {x.dtype}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must be (N, 3, H, W), got shape {tuple(x.shape)}")


def _box(x: Tensor, radius: int) -> Tensor:
    """Mean over each pixel's (2r+1)^2 window, the window shrunk to the image at the borders.

    On the CPU this runs OpenCV's box filter (about 4x faster than PyTorch's stride-1 average
    pooling for the 21-channel maps here: 2.5 vs 11 ms at 256x192); elsewhere average pooling.
    """
    import torch
    import torch.nn.functional as F

    if radius == 0:
        return x
    k = 2 * radius + 1
    if x.device.type != "cpu" or x.shape[1] > 512:
        return F.avg_pool2d(x, k, stride=1, padding=radius, count_include_pad=False)
    x = x.float()
    ones = np.ones(x.shape[2:], np.float32)
    count = cv2.boxFilter(ones, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    out = []
    for image in x:  # (C, h, w) -> (h, w, C) for OpenCV
        hwc = np.ascontiguousarray(image.permute(1, 2, 0).numpy())
        total = cv2.boxFilter(hwc, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
        total = total.reshape(hwc.shape) / count[..., None]
        out.append(torch.from_numpy(total).permute(2, 0, 1))
    return torch.stack(out)


def _cofactors(a, b, c, d, e, f):
    """Cofactors (``inv00, inv01, inv02, inv11, inv12, inv22``) and determinant of the symmetric
    3x3 matrices ``[[a, d, e], [d, b, f], [e, f, c]]``, elementwise over arrays or tensors: the
    inverse is the cofactors over the determinant."""
    inv00 = b * c - f * f
    inv01 = e * f - d * c
    inv02 = d * f - b * e
    inv11 = a * c - e * e
    inv12 = d * e - a * f
    inv22 = a * b - d * d
    return inv00, inv01, inv02, inv11, inv12, inv22, a * inv00 + d * inv01 + e * inv02


def fit_affine(low_in: Tensor, low_out: Tensor, radius: int = 2, eps: float = 1e-3) -> Tensor:
    """Fits a local affine colour model ``low_out ~ A @ low_in + b`` around every pixel.

    Args:
        low_in: ``(N, 3, h, w)`` float in [0, 1], the network's input (the frame downsampled).
        low_out: ``(N, 3, h, w)`` float in [0, 1], the network's output.
        radius: window radius in low-resolution pixels; the window is ``2 * radius + 1`` wide.
        eps: ridge weight, in squared [0, 1] intensity units; local colour variation below
            ``sqrt(eps)`` is treated as detail to keep rather than a colour relation to learn.

    Returns:
        ``(N, 12, h, w)`` float32: A row-major (channels 0-8, ``A[j, i]`` maps input channel i to
        output channel j) then b (channels 9-11), already window-averaged.
    """
    import torch

    _check_image("low_in", low_in)
    _check_image("low_out", low_out)
    if low_in.shape != low_out.shape:
        raise ValueError(
            f"low_out shape {tuple(low_out.shape)} does not match low_in {tuple(low_in.shape)}"
        )
    _check_window(radius, eps)

    # Covariances are shift invariant; centring on the image mean first reduces the float32
    # cancellation in E[xy] - E[x]E[y].
    cx = low_in.float().mean(dim=(2, 3), keepdim=True)
    cy = low_out.float().mean(dim=(2, 3), keepdim=True)
    x = low_in.float() - cx
    y = low_out.float() - cy

    xx = torch.stack([x[:, i] * x[:, j] for i, j in _SYM], dim=1)  # (N, 6, h, w)
    yx = (y.unsqueeze(2) * x.unsqueeze(1)).flatten(1, 2)  # (N, 9, h, w), [j, i] = y_j x_i
    means = _box(torch.cat([x, y, xx, yx], dim=1), radius)
    mx, my, exx, eyx = means.split((3, 3, 6, 9), dim=1)

    a, b, c, d, e, f = (  # cov(in, in) + eps I = [[a, d, e], [d, b, f], [e, f, c]]
        exx[:, k] - mx[:, i] * mx[:, j] + (eps if i == j else 0.0) for k, (i, j) in enumerate(_SYM)
    )
    inv00, inv01, inv02, inv11, inv12, inv22, det = _cofactors(a, b, c, d, e, f)
    inv = torch.stack([inv00, inv01, inv02, inv01, inv11, inv12, inv02, inv12, inv22], dim=1)
    n, _, h, w = x.shape
    inv = (inv / det.unsqueeze(1)).view(n, 3, 3, h, w)

    cyx = eyx.view(n, 3, 3, h, w) - my.unsqueeze(2) * mx.unsqueeze(1)
    cyx = cyx + eps * torch.eye(3, device=x.device, dtype=x.dtype).view(1, 3, 3, 1, 1)
    A = (cyx.unsqueeze(3) * inv.unsqueeze(1)).sum(dim=2)  # A[j, i] = sum_k cyx[j, k] inv[k, i]

    # b for the uncentred inputs: y + cy = A (x + cx) + b  =>  b = (my + cy) - A (mx + cx).
    bias = (my + cy) - (A * (mx + cx).unsqueeze(1)).sum(dim=2)
    return _box(torch.cat([A.flatten(1, 2), bias], dim=1), radius)


def _check_window(radius: int, eps: float) -> None:
    if isinstance(radius, bool) or not isinstance(radius, int):
        raise TypeError(f"radius must be an int, got {type(radius).__name__}")
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if not eps > 0.0:
        raise ValueError(f"eps must be > 0, got {eps!r}")


def _box_array(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over each pixel's (2r+1)^2 window of an (h, w, C) float32 map, the window shrunk to
    the image at the borders (OpenCV's unnormalised box filter over the count of pixels)."""
    if radius == 0:
        return x
    k = 2 * radius + 1
    count = cv2.boxFilter(np.ones(x.shape[:2], np.float32), -1, (k, k), normalize=False,
                          borderType=cv2.BORDER_CONSTANT)
    total = cv2.boxFilter(x, -1, (k, k), normalize=False, borderType=cv2.BORDER_CONSTANT)
    return total.reshape(x.shape) / count[..., None]


def fit_affine_array(low_in: np.ndarray, low_out: np.ndarray, radius: int = 2,
                     eps: float = 1e-3) -> np.ndarray:
    """:func:`fit_affine` in NumPy/OpenCV, for the camera's path without PyTorch.

    Args:
        low_in: ``(1, 3, h, w)`` float32 in [0, 1], the network's input.
        low_out: ``(1, 3, h, w)`` float32 in [0, 1], the network's output.
        radius, eps: as for :func:`fit_affine`.

    Returns:
        ``(1, 12, h, w)`` float32, the same layout as :func:`fit_affine` (equal to it up to
        float32 rounding).
    """
    for name, a in (("low_in", low_in), ("low_out", low_out)):
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            got = a.dtype if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name} must be a float NumPy array in [0, 1], got {got}")
        if a.ndim != 4 or a.shape[:2] != (1, 3):
            raise ValueError(f"{name} must be (1, 3, h, w), got shape {a.shape}")
    if low_in.shape != low_out.shape:
        raise ValueError(f"low_out shape {low_out.shape} does not match low_in {low_in.shape}")
    _check_window(radius, eps)
    # Planes (C, h, w) for the arithmetic, (h, w, C) for OpenCV's box filter; centred on the
    # image means as in fit_affine.
    x = low_in[0].astype(np.float32)
    y = low_out[0].astype(np.float32)
    cx, cy = x.mean(axis=(1, 2)), y.mean(axis=(1, 2))
    x -= cx[:, None, None]
    y -= cy[:, None, None]
    h, w = x.shape[1:]
    products = [x[i] * x[j] for i, j in _SYM] + [y[j] * x[i] for j in range(3) for i in range(3)]
    maps = np.stack([*x, *y, *products], axis=-1)  # (h, w, 21); yx[j, i] = y_j x_i
    means = np.ascontiguousarray(_box_array(maps, radius).transpose(2, 0, 1))  # (21, h, w)
    mx, my, exx, eyx = means[0:3], means[3:6], means[6:12], means[12:21]

    a, b, c, d, e, f = (  # cov(in, in) + eps I = [[a, d, e], [d, b, f], [e, f, c]]
        exx[k] - mx[i] * mx[j] + (np.float32(eps) if i == j else np.float32(0.0))
        for k, (i, j) in enumerate(_SYM)
    )
    inv00, inv01, inv02, inv11, inv12, inv22, det = _cofactors(a, b, c, d, e, f)
    inv = [[inv00 / det, inv01 / det, inv02 / det],
           [inv01 / det, inv11 / det, inv12 / det],
           [inv02 / det, inv12 / det, inv22 / det]]
    cyx = [[eyx[3 * j + k] - my[j] * mx[k] + (np.float32(eps) if j == k else np.float32(0.0))
            for k in range(3)] for j in range(3)]
    out = np.empty((h, w, 12), np.float32)
    for j in range(3):
        bias = my[j] + cy[j]
        for i in range(3):  # A[j, i] = sum_k cyx[j, k] inv[k, i]
            a_ji = cyx[j][0] * inv[0][i] + cyx[j][1] * inv[1][i] + cyx[j][2] * inv[2][i]
            out[..., 3 * j + i] = a_ji
            bias = bias - a_ji * (mx[i] + cx[i])
        out[..., 9 + j] = bias  # b for the uncentred inputs, as in fit_affine
    return np.ascontiguousarray(_box_array(out, radius).transpose(2, 0, 1))[None]


def apply_affine(coeffs: Tensor, full_in: Tensor) -> Tensor:
    """Upsamples ``coeffs`` bilinearly (align_corners=False) to ``full_in`` and applies them.

    Args:
        coeffs: ``(N, 12, h, w)`` float, as returned by :func:`fit_affine`.
        full_in: ``(N, 3, H, W)`` float in [0, 1], the full-resolution frame.

    Returns:
        ``(N, 3, H, W)`` float32, not clamped (the caller clamps).
    """
    import torch.nn.functional as F
    from torch import Tensor

    if not isinstance(coeffs, Tensor):
        raise TypeError(f"coeffs must be a torch.Tensor, got {type(coeffs).__name__}")
    if not coeffs.is_floating_point():
        raise TypeError(f"coeffs must be a float tensor, got dtype {coeffs.dtype}")
    _check_image("full_in", full_in)
    if coeffs.ndim != 4 or coeffs.shape[1] != 12 or coeffs.shape[0] != full_in.shape[0]:
        raise ValueError(
            f"coeffs must be (N, 12, h, w) with N = {full_in.shape[0]} as in full_in "
            f"{tuple(full_in.shape)}, got shape {tuple(coeffs.shape)}"
        )
    x = full_in.float()
    up = F.interpolate(coeffs.float(), size=x.shape[-2:], mode="bilinear", align_corners=False)
    out = up[:, 9:12].clone()
    for i in range(3):
        out.addcmul_(up[:, i:9:3], x[:, i:i + 1])  # column i of A times input channel i
    return out


def guided_upsample(low_in: Tensor, low_out: Tensor, full_in: Tensor, radius: int = 2,
                    eps: float = 1e-3) -> Tensor:
    """Brings a low-resolution result ``low_out`` of ``low_in`` to ``full_in``'s resolution.

    ``low_in`` and ``low_out`` are ``(N, 3, h, w)``, ``full_in`` ``(N, 3, H, W)``, all float in
    [0, 1] (``low_in`` should be ``full_in`` downsampled as it was for the network). Returns
    ``(N, 3, H, W)`` float32 clamped to [0, 1]. See :func:`fit_affine` for ``radius`` and ``eps``.
    """
    return apply_affine(fit_affine(low_in, low_out, radius, eps), full_in).clamp(0.0, 1.0)


class FrameColourModel:
    """A fitted colour model upsampled once to one frame size, applied to uint8 frames.

    The CPU path of the ``Harmonizer``: between two network runs the same coefficients serve
    every frame, so they are brought to full resolution once (OpenCV's bilinear resize per
    plane, the same sampling as :func:`apply_affine`) and kept as planar float32 arrays; each
    frame then costs a few multiply-adds per pixel inside the mask's bounding box, in NumPy on
    contiguous planes (PyTorch's broadcasting kernels were ten times slower here while other
    threads held the cores).

    ``coeffs``: ``(1, 12, h, w)`` float, a NumPy array as returned by :func:`fit_affine_array`
    or a tensor as returned by :func:`fit_affine`.
    """

    def __init__(self, coeffs: np.ndarray | Tensor, height: int, width: int):
        if hasattr(coeffs, "detach"):  # a torch tensor
            coeffs = coeffs.detach().float().cpu().numpy()
        if not isinstance(coeffs, np.ndarray) or coeffs.ndim != 4 or coeffs.shape[:2] != (1, 12):
            got = coeffs.shape if isinstance(coeffs, np.ndarray) else type(coeffs).__name__
            raise ValueError(f"coeffs must be a (1, 12, h, w) array or tensor, got {got}")
        self.coeffs = coeffs
        low = coeffs[0].astype(np.float32, copy=False)
        self.size = (height, width)
        self.planes = np.empty((12, height, width), np.float32)
        """A (row-major, planes 0-8) then b (planes 9-11, scaled to 0-255), at full size."""
        for k in range(12):
            cv2.resize(low[k], (width, height), dst=self.planes[k], interpolation=cv2.INTER_LINEAR)
        self.planes[9:] *= 255.0

    def apply(self, frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """``frame`` RGB uint8 (H, W, 3), ``mask`` float32 (H, W) in [0, 1] -> RGB uint8.

        Returns ``frame + mask * (clamp(A frame + b) - frame)``, rounded; pixels where the mask
        is 0 come back bit-exact (outside the mask's bounding box they are not even touched).
        """
        if frame.shape[:2] != self.size:
            raise ValueError(f"frame is {frame.shape[:2]}, the colour model was sized for {self.size}")
        out = frame.copy()
        x0, y0, bw, bh = cv2.boundingRect((mask > 0).view(np.uint8))
        if bw == 0 or bh == 0:
            return out
        ys, xs = slice(y0, y0 + bh), slice(x0, x0 + bw)
        src = [c.astype(np.float32) for c in cv2.split(frame[ys, xs])]
        m = mask[ys, xs]
        p = self.planes[:, ys, xs]
        result = []
        for j in range(3):
            o = p[3 * j] * src[0]
            o += p[9 + j]
            o += p[3 * j + 1] * src[1]
            o += p[3 * j + 2] * src[2]
            np.clip(o, 0.0, 255.0, out=o)
            o -= src[j]
            o *= m
            o += src[j]
            result.append(cv2.convertScaleAbs(o))
        out[ys, xs] = cv2.merge(result)
        return out
