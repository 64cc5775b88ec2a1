"""Cleaning up the segmenter's mask: steady in time, sharp on the frame's edges, no specks.

One call, in this order:

1. temporal EMA, ``s_t = smoothing * s_{t-1} + (1 - smoothing) * m_t``, on the segmenter's own
   small mask (the same as on an enlarged copy: both steps are linear), restarted when the
   frame size changes;
2. the soft band: 0 below ``threshold_low``, 1 above ``threshold_high``, a smoothstep between;
   then the holes the model left inside the person are filled (``vcam.mask_holes``: a held
   object's dark visor; regions up to ``max_hole_fraction`` of the frame), and kept filled for
   a while where the search loses them (``HoleHold``);
3. edge-aware refinement of the banded mask, guided by the frame's luma: a fast guided filter
   (He and Sun 2015: the local linear coefficients are fitted on the frame halved to 180-359
   lines and applied to the full-resolution luma, so the edge follows the frame's pixels) or
   OpenCV's joint bilateral filter (slower: ~30 ms at 640x480 with radius 4, all at full
   resolution; it still bands after filtering);
4. small-blob removal: foreground components smaller than ``min_blob_fraction`` of the frame
   are zeroed, soft fringe included.

The EMA runs before the refinement, on purpose: the smoothed mask is then snapped to the edges
of the *current* frame, so smoothing steadies the mask without dragging old edges behind a
moving person (averaging refined masks instead would blend edges of past frames). The band
runs before the guided filter, also on purpose: where the banded mask is flat (inside the
person, outside) the filter's slope is 0 and the frame's texture cannot print holes into it;
the other way round, a dark visor inside a region of middling confidence came out see-through
(issue 20), and the edges flickered more (docs/MATTING.md).

Only the last step of the guided path touches full-resolution pixels, and only inside the
person's box: a full-resolution pixel costs one multiply-add with its luma and a saturating
cast to 8 bits. The result is a ``Matte``: the mask in uint8 (what compositing needs), its box,
and the low-resolution float mask (what the blurred background and the person test need).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from vcam.config import MaskConfig
from vcam.mask_holes import HOLE_GROW, HoleHold, enclosed_holes

logger = logging.getLogger(__name__)

#: The refinement works on the frame halved (2x2 box averages) while at least this many lines
#: remain: 240 lines at 640x480, 180 at 1280x720, 270 at 1920x1080. (The guided filter's
#: coefficients vary slowly; the edge itself comes from the full-resolution luma. At 1280x720,
#: 180 lines gave the same edges as 360 in the crops of docs/PERFORMANCE.md, for a quarter
#: of the box filtering.)
WORK_MIN_LINES = 180

#: ``remove_small_blobs`` labels a full-size mask on a block-pooled copy of about this many
#: lines.
GUIDED_WORK_LINES = 240

#: Regularisation of the guided filter for a luma guide in [0, 1]: edges weaker than about
#: sqrt(eps) = 0.03 (8 grey levels) do not steer the mask.
GUIDED_EPS = 1e-3

#: The working-resolution level above which a pixel bounds the box that is computed at full
#: resolution; the box is grown by the filter's reach, so luma cannot lift a pixel outside it.
SUPPORT_LEVEL = 0.02

#: Joint bilateral filter: range sigma on luma in [0, 1].
BILATERAL_SIGMA_COLOR = 0.1

#: smoothstep(i / 255) * 255, rounded: the soft band's curve on 8-bit levels (``refine="none"``,
#: whose band is applied per full-resolution pixel).
_SMOOTHSTEP_LUT = np.round(
    255.0 * (lambda t: t * t * (3.0 - 2.0 * t))(np.arange(256) / 255.0)
).astype(np.uint8)


def work_scale(height: int, width: int) -> int:
    """The power of two the refinement divides the frame by: halve while ``WORK_MIN_LINES``
    lines remain and the halving is exact (both sides divisible), so the enlargement back to
    the frame lines up pixel for pixel."""
    scale = 1
    while (height // (2 * scale) >= WORK_MIN_LINES and height % (2 * scale) == 0
           and width % (2 * scale) == 0):
        scale *= 2
    return scale


def halve(image: np.ndarray, times: int) -> np.ndarray:
    """``image`` halved ``times`` times; sides must be divisible by ``2**times``. OpenCV's
    bilinear resize at exactly half is a 2x2 box average, and its fastest resize."""
    for _ in range(times):
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2),
                           interpolation=cv2.INTER_LINEAR)
    return image


class Matte:
    """A refined person mask, in the forms the frame's later stages use.

    Attributes:
        alpha: uint8 HxW, 0 = background, 255 = person, at the frame's size; 0 outside ``box``.
        box: (x0, y0, x1, y1), the full-resolution rectangle outside which ``alpha`` is 0
            (``x0 == x1``: nobody).
        low: float32 (H / scale)x(W / scale) in [0, 1]: the same mask at the refinement's
            working resolution (read-only).
        scale: the power of two between the frame and ``low``.
        fraction: the mask's mean (the person's share of the frame), from ``low``.
        foreground: RGB uint8 HxWx3, the person's own colour from a matting model (RVM), or
            None: the compositor then estimates it at the soft edge (``vcam.foreground``).
    """

    __slots__ = ("alpha", "box", "low", "scale", "fraction", "foreground", "_float")

    def __init__(self, alpha: np.ndarray, box: tuple[int, int, int, int], low: np.ndarray,
                 scale: int, fraction: float, foreground: np.ndarray | None = None) -> None:
        self.alpha = alpha
        self.box = box
        self.low = low
        self.scale = scale
        self.fraction = fraction
        self.foreground = foreground
        self._float: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W), the frame's size."""
        return self.alpha.shape

    @property
    def empty(self) -> bool:
        """True when the box is empty: no pixel of the mask is above 0."""
        x0, y0, x1, y1 = self.box
        return x1 <= x0 or y1 <= y0

    def to_float(self) -> np.ndarray:
        """float32 HxW in [0, 1] (``alpha / 255``, exactly 0 and 1 at the ends), made on first
        use and kept: read-only, shared by every caller."""
        if self._float is None:
            out = np.divide(self.alpha, np.float32(255.0), dtype=np.float32)
            out.flags.writeable = False
            self._float = out
        return self._float


class MaskRefiner:
    """Refines a soft person mask against its frame; successive calls are one video.

    Usage::

        refine = MaskRefiner(MaskConfig())
        matte = refine.refine(segmenter(frame, t_ms), frame)   # Matte: uint8 alpha + box
        mask = refine(segmenter(frame, t_ms), frame)           # float32 HxW in [0, 1]
        if not refine.last_has_person: ...

    Attributes:
        config: the settings in use (replace with ``set_config``).
        last_has_person: whether the last refined mask held more foreground than
            ``empty_fraction`` of the frame.
        last_fraction: the last refined mask's foreground fraction (its mean).
    """

    def __init__(self, config: MaskConfig | None = None) -> None:
        self.config = config if config is not None else MaskConfig()
        self._state: np.ndarray | None = None
        self._frame_shape: tuple[int, int] | None = None
        self._hold = HoleHold()
        self._hold_key: tuple[int, int, str] | None = None
        self.last_has_person = False
        self.last_fraction = 0.0

    def set_config(self, config: MaskConfig) -> None:
        """Use new settings from the next frame on; the temporal state is kept."""
        self.config = config

    def reset(self) -> None:
        """Forget the previous masks: the next call starts a new video."""
        self._state = None
        self._frame_shape = None
        self._hold.reset()
        self.last_has_person = False
        self.last_fraction = 0.0

    def __call__(self, mask: np.ndarray, frame: np.ndarray) -> np.ndarray:
        """Refine ``mask`` for ``frame``: ``refine(mask, frame).to_float()``.

        Returns:
            float32 HxW in [0, 1] at the frame's size, C-contiguous, in steps of 1/255
            (read-only; copy it to change it).
        """
        return self.refine(mask, frame).to_float()

    def refine(self, mask: np.ndarray, frame: np.ndarray) -> Matte:
        """Refine ``mask`` for ``frame``.

        Args:
            mask: the person's confidence, float32 (or float64) HxW or HxWx1 in [0, 1], at any
                resolution (the segmenter's is smaller than the frame).
            frame: RGB uint8 HxWx3, the picture the mask belongs to.

        Returns:
            The refined mask as a ``Matte`` (uint8 alpha at the frame's size, its box, the
            low-resolution float mask).

        Raises:
            TypeError: an input is not a numpy array of the right dtype.
            ValueError: an input has the wrong shape.
        """
        cfg = self.config
        _check_inputs(mask, frame)
        height, width = frame.shape[:2]

        # A copy: the caller's mask is not ours to clip in place or keep as state.
        m = np.array(mask.reshape(mask.shape[:2]), dtype=np.float32, order="C", copy=True)
        np.clip(m, 0.0, 1.0, out=m)
        state = self._state
        if (state is not None and state.shape == m.shape and self._frame_shape == (height, width)
                and cfg.smoothing > 0.0):
            m = cv2.addWeighted(state, cfg.smoothing, m, 1.0 - cfg.smoothing, 0.0)
        self._state = m
        if self._hold_key != (height, width, cfg.refine):
            # Another video, or another resolution for the search: what was held is elsewhere.
            self._hold.reset()
            self._hold_key = (height, width, cfg.refine)
        self._frame_shape = (height, width)

        if cfg.refine == "bilateral":
            matte = self._refine_bilateral(m, frame)
        else:
            matte = self._refine_low(m, frame)
        self.last_fraction = matte.fraction
        self.last_has_person = matte.fraction > cfg.empty_fraction
        return matte

    def from_matte(self, alpha: np.ndarray, frame: np.ndarray,
                   foreground: np.ndarray | None = None) -> Matte:
        """A matting model's alpha (RVM's: steady in time, edges already at full resolution) as
        a ``Matte``, as it is: no smoothing, band or filter.

        Args:
            alpha: float32 HxW in [0, 1] at the frame's size.
            frame: RGB uint8 HxWx3.
            foreground: RGB uint8 HxWx3, the model's estimate of the person's colour, or None.

        Raises:
            TypeError, ValueError: as ``refine``, or ``alpha`` not at the frame's size.
        """
        _check_inputs(alpha, frame)
        height, width = frame.shape[:2]
        if alpha.shape[:2] != (height, width):
            raise ValueError(f"alpha shape {alpha.shape} != frame shape {(height, width)}")
        a8 = cv2.convertScaleAbs(alpha.reshape(height, width), alpha=255.0)  # rounds, saturates
        scale = work_scale(height, width)
        low = halve(np.asarray(a8, np.float32) * np.float32(1.0 / 255.0), scale.bit_length() - 1)
        low.flags.writeable = False
        x, y, w, h = cv2.boundingRect(a8)
        fraction = float(cv2.mean(low)[0])
        self._state = None  # the selfie models' smoothing starts afresh after RVM
        self._hold.reset()
        self.last_fraction = fraction
        self.last_has_person = fraction > self.config.empty_fraction
        return Matte(a8, (x, y, x + w, y + h), low, scale, fraction, foreground)

    def _holes(self, banded: np.ndarray, confidence: np.ndarray, luma: np.ndarray,
               grow: int = HOLE_GROW) -> np.ndarray | None:
        """The pixels to fill in ``banded``: this frame's enclosed holes and the held ones
        (bool HxW, or None); ``luma`` is uint8 at the same size."""
        limit = self.config.max_hole_fraction
        if limit <= 0.0:
            self._hold.reset()
            return None
        return self._hold(enclosed_holes(banded, confidence, limit, grow=grow), banded,
                          confidence, luma, self.config.hole_hold_frames, grow)

    def _refine_low(self, m: np.ndarray, frame: np.ndarray) -> Matte:
        """The guided filter (or none) fitted at the working resolution, applied in the box."""
        cfg = self.config
        height, width = frame.shape[:2]
        scale = work_scale(height, width)
        times = scale.bit_length() - 1
        low_w, low_h = width // scale, height // scale
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        m_low = _resize_mask(m, low_w, low_h)

        if cfg.refine == "guided":
            # The soft band first, then the guided filter: inside a confident region the banded
            # mask is flat, so the filter's slope there is 0 and the frame's texture (a dark
            # visor, a badge) cannot print through it; only the band's edges follow the luma.
            # (Banding after the filter, as before, turned every luma step inside a region of
            # middling confidence into a step of the mask: the see-through helmet, issue 20.)
            # alpha255 = gain * luma8 + offset, per full-resolution pixel.
            luma8 = halve(gray, times)
            luma = luma8.astype(np.float32)
            luma *= np.float32(1.0 / 255.0)
            r = max(1, round(cfg.refine_radius / scale))
            banded = soft_band(m_low, cfg.threshold_low, cfg.threshold_high)
            holes = self._holes(banded, m_low, luma8)
            if holes is not None:
                banded[holes] = 1.0
            a, b = _guided_coefficients(luma, banded, r, GUIDED_EPS)
            t_low = a * luma
            t_low += b
            np.clip(t_low, 0.0, 1.0, out=t_low)
            t_low[t_low < np.float32(0.5 / 255.0)] = 0.0  # what rounds to 0 in 8 bits
            gain = a  # per 8-bit luma level: a / 255 * 255
            offset = b * np.float32(255.0)
            # Where the person may be, grown below by the coefficients' reach.
            support = (t_low > np.float32(SUPPORT_LEVEL)).view(np.uint8)
        else:
            # The band's ramp in 8-bit steps (0 at threshold_low, 255 at threshold_high),
            # enlarged, then its smoothstep per full-resolution pixel.
            r = 1
            t_low = soft_band(m_low, cfg.threshold_low, cfg.threshold_high)
            gain = None
            offset = (m_low - np.float32(cfg.threshold_low)) * np.float32(
                255.0 / (cfg.threshold_high - cfg.threshold_low))
            holes = self._holes(t_low, m_low, halve(gray, times))
            if holes is not None:
                t_low[holes] = 1.0
                offset[holes] = 255.0
            support = (m_low > np.float32(0.5 * cfg.threshold_low)) | (t_low > 0.0)
            support = support.view(np.uint8)
        if cfg.min_blob_fraction > 0.0:
            removed = _small_blobs(t_low, cfg.min_blob_fraction)
            if removed is not None:
                t_low[removed.view(bool)] = 0.0
                # The blob's fringe goes too, but not a kept region's.
                dead = cv2.dilate(removed, np.ones((3, 3), np.uint8))
                dead[t_low > 0.0] = 0
                dead = dead.view(bool)
                offset[dead] = -1.0
                if gain is not None:
                    gain[dead] = 0.0
                support[dead] = 0
        fraction = float(cv2.mean(t_low)[0])
        t_low.flags.writeable = False

        alpha = np.zeros((height, width), np.uint8)
        x, y, w, h = cv2.boundingRect(support)
        if w == 0 or h == 0:
            return Matte(alpha, (0, 0, 0, 0), t_low, scale, fraction)
        pad = 2 * r + 2
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(low_w, x + w + pad), min(low_h, y + h + pad)
        box = (x0 * scale, y0 * scale, x1 * scale, y1 * scale)
        X0, Y0, X1, Y1 = box
        off = _enlarge(offset[y0:y1, x0:x1], scale)
        if gain is not None:
            ramp = cv2.multiply(_enlarge(gain[y0:y1, x0:x1], scale), gray[Y0:Y1, X0:X1],
                                dtype=cv2.CV_32F)
            # rounds and saturates to [0, 255]
            alpha[Y0:Y1, X0:X1] = cv2.add(ramp, off, dtype=cv2.CV_8U)
        else:
            t8 = np.clip(np.rint(off), 0.0, 255.0).astype(np.uint8)
            alpha[Y0:Y1, X0:X1] = cv2.LUT(t8, _SMOOTHSTEP_LUT)
        return Matte(alpha, box, t_low, scale, fraction)

    def _refine_bilateral(self, m: np.ndarray, frame: np.ndarray) -> Matte:
        """OpenCV's joint bilateral filter, all at full resolution (the slow, optional path)."""
        cfg = self.config
        height, width = frame.shape[:2]
        if m.shape != (height, width):
            m = cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        luma = gray.astype(np.float32)
        luma *= np.float32(1.0 / 255.0)
        out = cv2.ximgproc.jointBilateralFilter(
            luma, m, 2 * cfg.refine_radius + 1, BILATERAL_SIGMA_COLOR, float(cfg.refine_radius)
        )
        out = soft_band(out, cfg.threshold_low, cfg.threshold_high)
        holes = self._holes(out, m, gray, grow=HOLE_GROW * work_scale(height, width))
        if holes is not None:
            out[holes] = 1.0
        if cfg.min_blob_fraction > 0.0:
            remove_small_blobs(out, cfg.min_blob_fraction)
        alpha = cv2.convertScaleAbs(out, alpha=255.0)  # out >= 0: rounds and saturates
        scale = work_scale(height, width)
        low = halve(out, scale.bit_length() - 1)
        low.flags.writeable = False
        x, y, w, h = cv2.boundingRect(alpha)
        return Matte(alpha, (x, y, x + w, y + h), low, scale, float(cv2.mean(out)[0]))


def _resize_mask(m: np.ndarray, width: int, height: int) -> np.ndarray:
    """The mask at (width, height): bilinear up (the segmenter's small mask), area down (a
    full-size mask from elsewhere)."""
    if m.shape == (height, width):
        return m.copy()
    smaller = m.shape[0] >= height and m.shape[1] >= width
    return cv2.resize(m, (width, height),
                      interpolation=cv2.INTER_AREA if smaller else cv2.INTER_LINEAR)


def _enlarge(plane: np.ndarray, scale: int) -> np.ndarray:
    """A crop of a low-resolution plane at ``scale`` times its size, bilinear, sampled where
    the whole plane's enlargement would be (pixel centres line up: the crop starts on a whole
    low-resolution pixel)."""
    if scale == 1:
        return plane
    h, w = plane.shape
    return cv2.resize(plane, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)


def _guided_coefficients(
    guide: np.ndarray, src: np.ndarray, r: int, eps: float
) -> tuple[np.ndarray, np.ndarray]:
    """He, Sun and Tang's guided filter coefficients, averaged: ``mean(a)``, ``mean(b)`` over
    (2r+1)^2 windows, with ``a = cov(I, p) / (var(I) + eps)``, ``b = mean(p) - a * mean(I)``;
    the filtered mask is ``mean(a) * I + mean(b)`` with ``I`` at any resolution."""
    ksize = (2 * r + 1, 2 * r + 1)
    mean_i = cv2.boxFilter(guide, -1, ksize)
    mean_p = cv2.boxFilter(src, -1, ksize)
    mean_ip = cv2.boxFilter(guide * src, -1, ksize)
    mean_ii = cv2.boxFilter(guide * guide, -1, ksize)
    a = (mean_ip - mean_i * mean_p) / (mean_ii - mean_i * mean_i + np.float32(eps))
    b = mean_p - a * mean_i
    return cv2.boxFilter(a, -1, ksize), cv2.boxFilter(b, -1, ksize)


#: Small-blob labelling pools the working mask by 2x2 blocks above this many lines: labelling
#: is the refinement's dearest step (~1.5 ms on 640x360 here, ~0.4 ms on 320x180).
BLOB_MAX_LINES = 200


def _small_blobs(mask: np.ndarray, min_fraction: float) -> np.ndarray | None:
    """uint8 map (1 = drop) of the 8-connected components of ``mask > 0`` smaller than
    ``min_fraction`` of the array, or None when there are none.

    Above ``BLOB_MAX_LINES`` lines the components are labelled on 2x2 blocks, a block being
    foreground when any of its pixels is (so no speck is lost and no two blobs merge that are
    more than a block apart); a dropped block drops its foreground pixels."""
    binary = (mask > 0.0).view(np.uint8)
    height, width = binary.shape
    pooled = height > BLOB_MAX_LINES and height % 2 == 0 and width % 2 == 0
    if pooled:
        # Bilinear at exactly half averages each 2x2 block; on 0/4 values one foreground pixel
        # of four still averages to 1, so a block is above 0 when any of its pixels is.
        labelled = cv2.resize(binary * np.uint8(4), (width // 2, height // 2),
                              interpolation=cv2.INTER_LINEAR)
    else:
        labelled = binary
    # Labels without statistics, areas by counting: a fifth of the cost (OpenCV's statistics
    # pass is the dear part).
    count, labels = cv2.connectedComponents(labelled, connectivity=8)
    if count <= 1:
        return None
    small = np.bincount(labels.reshape(-1), minlength=count)[1:] < min_fraction * labelled.size
    if not small.any():
        return None
    drop = np.zeros(count, np.uint8)
    drop[1:][small] = 1
    removed = drop[labels]
    if pooled:
        removed = cv2.resize(removed, (width, height), interpolation=cv2.INTER_NEAREST)
        removed &= binary
    return removed


def soft_band(mask: np.ndarray, low: float, high: float) -> np.ndarray:
    """0 below ``low``, 1 above ``high``, smoothstep ``3t^2 - 2t^3`` between; float32 HxW."""
    t = mask - np.float32(low)
    t *= np.float32(1.0 / (high - low))
    np.clip(t, 0.0, 1.0, out=t)
    # t * t * (3 - 2t), in place to save the temporaries.
    out = np.float32(3.0) - np.float32(2.0) * t
    out *= t
    out *= t
    return out


def remove_small_blobs(mask: np.ndarray, min_fraction: float) -> np.ndarray:
    """Zero, in place, every foreground component smaller than ``min_fraction`` of the frame.

    Components are the 8-connected regions where ``mask > 0`` (after the soft band that is the
    whole blob, soft fringe included, so no faint ghost is left behind). They are labelled on a
    copy of about ``GUIDED_WORK_LINES`` lines in which a pixel is foreground when any pixel of
    its block is (so no speck is lost): a quarter of the work at 640x480; the removal is grown
    by one block so that a blob's fringe in the neighbouring blocks goes too. Returns ``mask``.
    """
    height, width = mask.shape
    binary = (mask > 0.0).view(np.uint8)
    scale = max(1, round(min(height, width) / GUIDED_WORK_LINES))
    if scale > 1:
        # Max-pooling over scale x scale blocks: a dilation anchored at the block's corner,
        # sampled at the corners.
        kernel = np.ones((scale, scale), np.uint8)
        binary = cv2.dilate(binary, kernel, anchor=(0, 0))
        binary = np.ascontiguousarray(binary[::scale, ::scale])
    count, labels = cv2.connectedComponents(binary, connectivity=8)  # areas by counting, below
    if count <= 1:
        return mask
    min_area = min_fraction * binary.size
    small = np.bincount(labels.reshape(-1), minlength=count)[1:] < min_area
    if not small.any():
        return mask
    drop = np.zeros(count, np.uint8)
    drop[1:][small] = 1
    removed = drop[labels]
    if scale > 1:
        removed = cv2.dilate(removed, np.ones((3, 3), np.uint8))
        low_h, low_w = removed.shape
        removed = cv2.resize(
            removed, (low_w * scale, low_h * scale), interpolation=cv2.INTER_NEAREST
        )[:height, :width]
    mask[removed.view(bool)] = 0.0
    return mask


def _check_inputs(mask: np.ndarray, frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.dtype != np.uint8:
        raise TypeError(f"frame dtype must be uint8 (RGB), got {frame.dtype}")
    if frame.ndim != 3 or frame.shape[2] != 3 or 0 in frame.shape:
        raise ValueError(f"frame shape must be (H, W, 3), got {frame.shape}")
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"mask must be a numpy array, got {type(mask).__name__}")
    if mask.dtype not in (np.float32, np.float64):
        raise TypeError(f"mask dtype must be float32 in [0, 1], got {mask.dtype}")
    if not (mask.ndim == 2 or (mask.ndim == 3 and mask.shape[2] == 1)) or 0 in mask.shape:
        raise ValueError(f"mask shape must be (H, W) or (H, W, 1), got {mask.shape}")
