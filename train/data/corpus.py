"""Training and evaluation triples from the people / objects / scenes corpus of ``phnet-corpus``.

``DataConfig(kind="corpus", root=CORPUS, mix="people:0.4,objects:0.2,identity:0.2,silhouettes:0.2")``.
Every item is one of five kinds, drawn per item with the weights of ``mix``; its ``subset`` is
the kind's name, so every report splits by kind:

- ``people``: a real person on their own photo (a single portrait or a crop of a group photo),
  the foreground colour-augmented as FFHQH does (paper §3.2, :func:`train.data.augment.augment_foreground`)
  and alpha-blended back with the person's matte over the unchanged background. The right
  output is the photo: what changed is the light (exposure, contrast, a small hue shift), never
  the person's own colours (skin, hair, clothes stay what they were).
- ``objects``: the same with real subjects (animals, objects) on their real background.
- ``identity``: a person's photo as it is (composite = real): nothing to fix, the right output
  is the input. It teaches (and measures) leaving a consistent person alone.
- ``silhouettes``: a scene photo with a drawn person/object silhouette
  (:func:`train.data.synthesis.synth_mask`), the previous recipe. **Bias:** the "person" is a piece of
  the same sky or grass as its background, so matching the foreground's statistics to the
  background's (colour transfer) is nearly right here and exactly wrong for a real person in
  front of a lawn. Kept as an option, off in the default mix's evaluation.
- ``relight``: a person (or an object: the light's physics is the same) in their own room, as a
  webcam would capture them, over another view of that room under a new light, the truth the
  person under that light (:mod:`train.data.relight`); the item's ``captured`` is the person in
  their room. It teaches the camera's real job: moving a person from the room's light to the
  scene's.

Every kind but ``relight`` has the composite as its ``captured`` frame (the foreground as it was
captured, in its own room). ``DataConfig.exclude_sources`` leaves whole sources out of every
split (the evaluation's held-out packages); ``DataConfig.balance_sources`` draws a kind's
picture by first drawing its source uniformly (the corpus's 30 crops of one group photo would
otherwise make up most person triples).

The split of every picture is fixed in the manifest (people by identity, with a held-out test
set of people that no training or model choice sees; the rest by source photo), never by crop.

Crops: people and objects are cut as a square around their mask so the head stays in frame
(train: random side 75-100 % of the shorter side, position and flip; val/test: the largest
centred square, fixed); silhouettes use :func:`train.data.base.fit_to_size` as before. With
``size=None`` the whole picture is used. The mask returned is the matte binarised at 0.5 (the
paper trains and evaluates on binary masks); the composite uses the soft matte.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..corpus.manifest import CorpusEntry, read_manifest
from .base import DataConfig, HarmonizationDataset, _resize, _to_tensor, fit_to_size, read_mask, read_rgb
from .augment import augment_foreground
from .mix import DEFAULT_MIX, parse_mix
from .relight import draw_light, relight_triple
from .synthesis import Rng, synth_mask

log = logging.getLogger(__name__)

__all__ = ["CorpusDataset", "person_crop", "alpha_composite"]

# Which manifest kind each triple kind draws its pictures from.
_POOL = {"people": ("person",), "objects": ("object",), "identity": ("person",),
         "silhouettes": ("scene",), "relight": ("person", "object")}


def person_crop(mask: np.ndarray, rng: Rng | None) -> tuple[int, int, int]:
    """A square window ``(top, left, side)`` that keeps the subject's head in frame.

    Args:
        mask: float32 HxW in [0, 1], the subject's matte.
        rng: random draws for training (side 75-100 % of the shorter side, the window's top
            0-25 % of the side above the subject's top edge, a horizontal offset of up to 15 %),
            or None for the fixed window (largest square, top 10 % above the subject, centred
            on it).
    """
    h, w = mask.shape
    side = min(h, w)
    ys, xs = np.nonzero(mask > 0.5)
    if ys.size == 0:
        return (h - side) // 2, (w - side) // 2, side
    y0, cx = int(ys.min()), float(xs.mean())
    if rng is not None:
        side = max(8, int(round(side * rng.uniform(0.75, 1.0))))
        top = y0 - int(round(side * rng.uniform(0.0, 0.25)))
        left = int(round(cx - side / 2 + side * rng.uniform(-0.15, 0.15)))
    else:
        top = y0 - int(round(side * 0.1))
        left = int(round(cx - side / 2))
    top = min(max(top, 0), h - side)
    left = min(max(left, 0), w - side)
    return top, left, side


def alpha_composite(real: torch.Tensor, alpha: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """FFHQH's composite: the colour-augmented photo blended over the photo by the soft matte.

    Args:
        real: ``(3, H, W)`` float in [0, 1].
        alpha: ``(1, H, W)`` float in [0, 1], the soft matte.
    Returns:
        ``(3, H, W)`` float in [0, 1], equal to ``real`` where ``alpha`` is 0.
    """
    augmented = augment_foreground(real, generator)
    return real + alpha * (augmented - real)


class CorpusDataset(HarmonizationDataset):
    """The four kinds of triples of the module's docstring, from a ``phnet-corpus`` folder.

    Length: ``samples_per_image`` x the pictures of this split in the pools the mix uses. Item
    ``i`` draws its kind with the mix's weights and its picture uniformly from that kind's pool,
    both from the item's own generator (so val/test items are fixed, train items change with
    the epoch). Item names are ``<picture>#<kind>#<i>``.
    """

    def __init__(self, cfg: DataConfig, split: str) -> None:
        super().__init__(cfg, split)
        self.mix = parse_mix(cfg.mix or DEFAULT_MIX)
        entries = [e for e in read_manifest(cfg.root)
                   if e.split == split and e.source not in cfg.exclude_sources]
        self.pools: dict[str, list[CorpusEntry]] = {
            kind: [e for e in entries if e.kind in _POOL[kind]] for kind in self.mix
        }
        empty = [k for k, pool in self.pools.items() if not pool]
        for kind in empty:
            log.warning("corpus %s: no %s pictures for %r triples; that kind is left out",
                        split, " or ".join(_POOL[kind]), kind)
            del self.pools[kind]
            del self.mix[kind]
        pictures = {e.name for pool in self.pools.values() for e in pool}
        self._records = list(range(cfg.samples_per_image * len(pictures)))
        self._kinds = list(self.mix)
        self._weights = torch.tensor([self.mix[k] for k in self._kinds], dtype=torch.float64)
        log.info("corpus %s: %d pictures (%s), %d items", split, len(pictures),
                 ", ".join(f"{k} {len(p)}" for k, p in self.pools.items()), len(self._records))

    def _draw(self, gen: torch.Generator) -> tuple[str, CorpusEntry]:
        k = int(torch.multinomial(self._weights, 1, generator=gen))
        kind = self._kinds[k]
        pool = self.pools[kind]
        if self.cfg.balance_sources:
            sources = sorted({e.source for e in pool})
            source = sources[int(torch.randint(len(sources), (1,), generator=gen))]
            pool = [e for e in pool if e.source == source]
        return kind, pool[int(torch.randint(len(pool), (1,), generator=gen))]

    def _load(self, index: int, gen: torch.Generator):
        kind, entry = self._draw(gen)
        root = Path(self.cfg.root)
        name = f"{entry.name}#{kind}#{index}"
        photo = read_rgb(root / entry.name)
        rng = self._rng(gen)
        if kind == "silhouettes":
            (real,) = fit_to_size([photo], self.cfg.size, rng)
            return None, synth_mask(real.shape[0], real.shape[1], gen), real, name, kind
        alpha = read_mask(root / entry.mask)
        if alpha.shape != photo.shape[:2]:
            alpha = _resize(alpha, photo.shape[1], photo.shape[0])
        real, alpha = self._crop(photo, alpha, rng)
        if kind == "identity":
            return real, alpha, real, name, kind
        if kind == "relight":
            comp, real, captured = self._relight(real, alpha, gen)
            return comp, alpha, real, name, kind, captured
        real_t = _to_tensor(real)
        alpha_t = torch.from_numpy(np.ascontiguousarray(alpha))[None]
        comp = alpha_composite(real_t, alpha_t, gen)
        comp_u8 = comp.mul(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
        return comp_u8, alpha, real, name, kind

    def _relight(self, photo: np.ndarray, alpha: np.ndarray, gen: torch.Generator):
        """(composite, real, captured) of a relight triple, uint8 RGB HxWx3."""
        rng = np.random.default_rng(int(torch.randint(1 << 62, (1,), generator=gen)))
        t = relight_triple(photo.astype(np.float32) / 255, alpha, draw_light(rng), rng)
        u8 = lambda x: np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)  # noqa: E731
        return u8(t.composite), u8(t.real), u8(t.captured)

    def _crop(self, photo: np.ndarray, alpha: np.ndarray, rng: Rng | None):
        if self.cfg.size is None:
            if rng is not None and rng.chance(0.5):
                photo, alpha = photo[:, ::-1], alpha[:, ::-1]
            return np.ascontiguousarray(photo), np.ascontiguousarray(alpha)
        top, left, side = person_crop(alpha, rng)
        out = [_resize(img[top:top + side, left:left + side], self.cfg.size, self.cfg.size)
               for img in (photo, alpha)]
        out[1] = np.clip(out[1], 0.0, 1.0)  # resampling can overshoot 1 by a rounding error
        if rng is not None and rng.chance(0.5):
            out = [img[:, ::-1] for img in out]
        return [np.ascontiguousarray(img) for img in out]

    @property
    def entries(self) -> Sequence[CorpusEntry]:
        """Every picture this split draws from, once."""
        seen: dict[str, CorpusEntry] = {}
        for pool in self.pools.values():
            for e in pool:
                seen.setdefault(e.name, e)
        return list(seen.values())
