"""The paper's foreground colour augmentations (§3.2), in PyTorch, on CPU or GPU.

FFHQH's composites are made by colour-augmenting the foreground and blending it back over the
unchanged background. The augmentations and their ranges are the paper's:

    ColorJitter(brightness=0.5, contrast=0.4, saturation=0.06, hue=0.05)
    RandomPosterize(bits=6, p=0.5)
    RandomAdjustSharpness(sharpness_factor=4, p=0.5)
    RandomAutocontrast(p=0.5)

applied in that order. torchvision is not a dependency, so each is written here with
torchvision's semantics (factor ranges, the random order of the four jitter operations, the
grey-world contrast mean, the 3x3 smoothing kernel of sharpness, per-channel autocontrast).

Images are float tensors in [0, 1], ``(3, H, W)`` or ``(N, 3, H, W)``, on any device. Every
random function takes a ``torch.Generator`` and draws its parameters from it, one set per image
of a batch, so a seeded generator gives the same result every time. Parameters are drawn on the
generator's device and moved to the image's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "BRIGHTNESS", "CONTRAST", "SATURATION", "HUE", "POSTERIZE_BITS", "SHARPNESS", "P",
    "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue",
    "adjust_sharpness", "autocontrast", "posterize", "rgb_to_hsv", "hsv_to_rgb",
    "rgb_to_grey", "jitter_factors", "color_jitter", "random_posterize",
    "random_adjust_sharpness", "random_autocontrast", "augment_foreground",
]

BRIGHTNESS = 0.5
"""ColorJitter brightness: factor uniform in [1 - 0.5, 1 + 0.5] (paper §3.2)."""
CONTRAST = 0.4
"""ColorJitter contrast: factor uniform in [0.6, 1.4]."""
SATURATION = 0.06
"""ColorJitter saturation: factor uniform in [0.94, 1.06]."""
HUE = 0.05
"""ColorJitter hue: shift uniform in [-0.05, 0.05] of a full turn."""
POSTERIZE_BITS = 6
"""RandomPosterize keeps the top 6 bits of each 8-bit value."""
SHARPNESS = 4.0
"""RandomAdjustSharpness factor."""
P = 0.5
"""Probability of each of posterize, sharpness and autocontrast."""

# ITU-R 601 luma weights: the grey image torchvision uses for contrast and saturation.
_LUMA = (0.299, 0.587, 0.114)


# --------------------------------------------------------------------------- helpers

def _as_batch(image: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """``(N, 3, H, W)`` view of ``image`` and whether it came without a batch axis."""
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise TypeError(f"image must be a float tensor in [0, 1], got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[0] == 3:
        return image.unsqueeze(0), True
    if image.ndim == 4 and image.shape[1] == 3:
        return image, False
    raise ValueError(f"image must be (3, H, W) or (N, 3, H, W), got shape {tuple(image.shape)}")


def _unbatch(batch: torch.Tensor, was_single: bool) -> torch.Tensor:
    return batch[0] if was_single else batch


def _per_image(value: float | torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
    """A scalar or ``(N,)`` parameter as an ``(N, 1, 1, 1)`` tensor on the batch's device."""
    t = torch.as_tensor(value, dtype=batch.dtype, device=batch.device)
    if t.ndim == 0:
        t = t.expand(batch.shape[0])
    if t.shape != (batch.shape[0],):
        raise ValueError(
            f"parameter must be a scalar or have shape ({batch.shape[0]},), got {tuple(t.shape)}"
        )
    return t.view(-1, 1, 1, 1)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def _coin(n: int, p: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator, device=generator.device) < p


def _blend(a: torch.Tensor, b: torch.Tensor, ratio: torch.Tensor) -> torch.Tensor:
    """``ratio * a + (1 - ratio) * b`` clipped to [0, 1]: every torchvision colour op is one."""
    return (ratio * a + (1.0 - ratio) * b).clamp_(0.0, 1.0)


def rgb_to_grey(batch: torch.Tensor) -> torch.Tensor:
    """Luma of ``(N, 3, H, W)`` RGB as ``(N, 1, H, W)``."""
    r, g, b = batch.unbind(1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


# --------------------------------------------------------------------------- colour space

def rgb_to_hsv(image: torch.Tensor) -> torch.Tensor:
    """RGB to HSV, each channel in [0, 1] (hue as a fraction of a turn).

    Args:
        image: ``(..., 3, H, W)`` float RGB in [0, 1].

    Returns:
        Same shape, channels (H, S, V). Grey pixels get hue 0 and saturation 0.
    """
    r, g, b = image.unbind(-3)
    v, argmax = image.max(dim=-3)
    lo = image.min(dim=-3).values
    chroma = v - lo
    grey = chroma <= 0
    safe_chroma = torch.where(grey, torch.ones_like(chroma), chroma)
    # Hue in sextants: which channel is largest picks the 120-degree sector, the difference of
    # the other two the position within it.
    h_r = torch.remainder((g - b) / safe_chroma, 6.0)
    h_g = (b - r) / safe_chroma + 2.0
    h_b = (r - g) / safe_chroma + 4.0
    hue = torch.where(argmax == 0, h_r, torch.where(argmax == 1, h_g, h_b)) / 6.0
    hue = torch.where(grey, torch.zeros_like(hue), hue)
    lit = v > 0
    sat = torch.where(lit, chroma / torch.where(lit, v, torch.ones_like(v)), torch.zeros_like(v))
    return torch.stack((hue, sat, v), dim=-3)


def hsv_to_rgb(image: torch.Tensor) -> torch.Tensor:
    """HSV (each in [0, 1], hue wrapping) back to RGB in [0, 1]; inverse of :func:`rgb_to_hsv`.

    Uses the closed form ``c_n = V - V S clamp(min(k, 4 - k), 0, 1)`` with
    ``k = (n + 6 H) mod 6`` and ``n = 5, 3, 1`` for R, G, B.
    """
    h, s, v = image.unbind(-3)
    h6 = torch.remainder(h, 1.0) * 6.0
    out = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(n + h6, 6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
        out.append(v - v * s * ramp)
    return torch.stack(out, dim=-3)


# --------------------------------------------------------------------------- deterministic ops

def adjust_brightness(image: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Multiply by ``factor`` (scalar or one per image) and clip: a blend with black."""
    batch, single = _as_batch(image)
    f = _per_image(factor, batch)
    return _unbatch(_blend(batch, torch.zeros_like(batch), f), single)


def adjust_contrast(image: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with the image's mean luma (one grey level per image), torchvision's contrast."""
    batch, single = _as_batch(image)
    f = _per_image(factor, batch)
    mean = rgb_to_grey(batch).mean(dim=(1, 2, 3), keepdim=True)
    return _unbatch(_blend(batch, mean.expand_as(batch), f), single)


def adjust_saturation(image: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with the per-pixel luma: 0 gives grey, 1 the input, above 1 more colour."""
    batch, single = _as_batch(image)
    f = _per_image(factor, batch)
    return _unbatch(_blend(batch, rgb_to_grey(batch).expand_as(batch), f), single)


def adjust_hue(image: torch.Tensor, shift: float | torch.Tensor) -> torch.Tensor:
    """Rotate the hue by ``shift`` turns (in [-0.5, 0.5]) through HSV; S and V are kept."""
    batch, single = _as_batch(image)
    s = _per_image(shift, batch).view(-1, 1, 1)
    if (s.abs() > 0.5).any():
        raise ValueError(f"hue shift must be in [-0.5, 0.5], got {s.flatten().tolist()}")
    hsv = rgb_to_hsv(batch.clamp(0.0, 1.0))
    hue = torch.remainder(hsv[:, 0] + s, 1.0)
    out = hsv_to_rgb(torch.stack((hue, hsv[:, 1], hsv[:, 2]), dim=1))
    return _unbatch(out.clamp_(0.0, 1.0), single)


def posterize(image: torch.Tensor, bits: int) -> torch.Tensor:
    """Keep the top ``bits`` bits of each channel's 8-bit value (the image is quantised to 8 bits
    first, as torchvision only posterizes uint8 images)."""
    if not 0 <= int(bits) <= 8:
        raise ValueError(f"bits must be in [0, 8], got {bits}")
    batch, single = _as_batch(image)
    q = torch.round(batch.clamp(0.0, 1.0) * 255.0).to(torch.int32)
    keep = 0xFF & ~((1 << (8 - int(bits))) - 1)
    out = torch.bitwise_and(q, keep).to(batch.dtype) / 255.0
    return _unbatch(out, single)


def adjust_sharpness(image: torch.Tensor, factor: float | torch.Tensor) -> torch.Tensor:
    """Blend with a smoothed copy: 0 gives the smoothed image, 1 the input, above 1 sharper.

    The smoothed copy is the 3x3 kernel ``[[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13`` applied to the
    interior; the one-pixel border keeps its own value (so it is unchanged at any factor).
    """
    batch, single = _as_batch(image)
    f = _per_image(factor, batch)
    if batch.shape[-1] <= 2 or batch.shape[-2] <= 2:
        return image.clone()
    kernel = torch.ones(3, 3, dtype=batch.dtype, device=batch.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / kernel.sum()).expand(3, 1, 3, 3)
    smooth = batch.clone()
    smooth[..., 1:-1, 1:-1] = F.conv2d(batch, kernel, groups=3)
    return _unbatch(_blend(batch, smooth, f), single)


def autocontrast(image: torch.Tensor) -> torch.Tensor:
    """Stretch each channel of each image so that its minimum maps to 0 and its maximum to 1;
    a flat channel is left as it is."""
    batch, single = _as_batch(image)
    lo = batch.amin(dim=(-2, -1), keepdim=True)
    hi = batch.amax(dim=(-2, -1), keepdim=True)
    flat = hi <= lo
    one = torch.ones_like(hi)
    scale = torch.where(flat, one, 1.0 / torch.where(flat, one, hi - lo))
    lo = torch.where(flat, torch.zeros_like(lo), lo)
    return _unbatch(((batch - lo) * scale).clamp_(0.0, 1.0), single)


# --------------------------------------------------------------------------- random ops

def jitter_factors(
    n: int,
    generator: torch.Generator,
    brightness: float = BRIGHTNESS,
    contrast: float = CONTRAST,
    saturation: float = SATURATION,
    hue: float = HUE,
) -> dict[str, torch.Tensor]:
    """Draw ColorJitter's parameters for ``n`` images, with torchvision's ranges.

    Returns:
        ``order`` ``(n, 4)`` int64, a permutation of 0..3 per image (brightness, contrast,
        saturation, hue); ``brightness``, ``contrast``, ``saturation`` factors uniform in
        ``[max(0, 1 - x), 1 + x]``; ``hue`` shift uniform in ``[-hue, hue]``. All ``(n,)`` on the
        generator's device.
    """
    for key, value in (("brightness", brightness), ("contrast", contrast),
                       ("saturation", saturation)):
        if value < 0:
            raise ValueError(f"{key} must be >= 0, got {value}")
    if not 0 <= hue <= 0.5:
        raise ValueError(f"hue must be in [0, 0.5], got {hue}")
    order = torch.argsort(
        torch.rand(n, 4, generator=generator, device=generator.device), dim=1
    )
    return {
        "order": order,
        "brightness": _uniform(n, max(0.0, 1 - brightness), 1 + brightness, generator),
        "contrast": _uniform(n, max(0.0, 1 - contrast), 1 + contrast, generator),
        "saturation": _uniform(n, max(0.0, 1 - saturation), 1 + saturation, generator),
        "hue": _uniform(n, -hue, hue, generator),
    }


_JITTER_OPS = (
    ("brightness", adjust_brightness),
    ("contrast", adjust_contrast),
    ("saturation", adjust_saturation),
    ("hue", adjust_hue),
)


def color_jitter(
    image: torch.Tensor,
    generator: torch.Generator,
    brightness: float = BRIGHTNESS,
    contrast: float = CONTRAST,
    saturation: float = SATURATION,
    hue: float = HUE,
) -> torch.Tensor:
    """torchvision's ColorJitter: the four adjustments with random factors, in a random order,
    drawn independently for every image of a batch."""
    batch, single = _as_batch(image)
    n = batch.shape[0]
    params = jitter_factors(n, generator, brightness, contrast, saturation, hue)
    order = params["order"].to(batch.device)
    out = batch.clone()
    for step in range(4):
        for op_index, (key, op) in enumerate(_JITTER_OPS):
            rows = (order[:, step] == op_index).nonzero().flatten()
            if rows.numel() == 0:
                continue
            factors = params[key].to(batch.device, batch.dtype)[rows]
            out[rows] = op(out[rows], factors)
    return _unbatch(out, single)


def _where_drawn(
    image: torch.Tensor, generator: torch.Generator, p: float, fn
) -> torch.Tensor:
    """Apply ``fn`` to the images of the batch whose coin (probability ``p``) came up."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    batch, single = _as_batch(image)
    chosen = _coin(batch.shape[0], p, generator).to(batch.device)
    out = batch.clone()
    rows = chosen.nonzero().flatten()
    if rows.numel():
        out[rows] = fn(batch[rows])
    return _unbatch(out, single)


def random_posterize(
    image: torch.Tensor, generator: torch.Generator, bits: int = POSTERIZE_BITS, p: float = P
) -> torch.Tensor:
    """torchvision's RandomPosterize: :func:`posterize` with probability ``p`` per image."""
    return _where_drawn(image, generator, p, lambda x: posterize(x, bits))


def random_adjust_sharpness(
    image: torch.Tensor, generator: torch.Generator, factor: float = SHARPNESS, p: float = P
) -> torch.Tensor:
    """torchvision's RandomAdjustSharpness: :func:`adjust_sharpness` with probability ``p``."""
    return _where_drawn(image, generator, p, lambda x: adjust_sharpness(x, factor))


def random_autocontrast(
    image: torch.Tensor, generator: torch.Generator, p: float = P
) -> torch.Tensor:
    """torchvision's RandomAutocontrast: :func:`autocontrast` with probability ``p`` per image."""
    return _where_drawn(image, generator, p, autocontrast)


def augment_foreground(image: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The paper's FFHQH foreground augmentation (§3.2): ColorJitter, RandomPosterize,
    RandomAdjustSharpness, RandomAutocontrast, in that order, with the paper's parameters.

    Args:
        image: ``(3, H, W)`` or ``(N, 3, H, W)`` float in [0, 1], any device.
        generator: source of every random draw (parameters per image of a batch).

    Returns:
        A new tensor of the same shape, dtype and device, in [0, 1]. The caller blends it
        with the unchanged image by the foreground mask.
    """
    out = color_jitter(image, generator)
    out = random_posterize(out, generator)
    out = random_adjust_sharpness(out, generator)
    return random_autocontrast(out, generator)
