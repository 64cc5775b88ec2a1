"""The kinds of corpus triples and the weights they are drawn with (``DataConfig.mix``).

:mod:`train.data.corpus` makes the triples; ``DataConfig`` checks its ``mix`` with
:func:`parse_mix` on construction.
"""
from __future__ import annotations

__all__ = ["TRIPLE_KINDS", "DEFAULT_MIX", "parse_mix"]

TRIPLE_KINDS = ("people", "objects", "identity", "silhouettes", "relight")
DEFAULT_MIX = "people:0.4,objects:0.2,identity:0.2,silhouettes:0.2"


def parse_mix(text: str) -> dict[str, float]:
    """``"people:0.4,identity:0.2"`` -> ``{"people": 0.4, "identity": 0.2}`` (weights, not
    normalised; zero weights dropped).

    Raises:
        ValueError: an unknown kind, a weight that is not a number >= 0, or all weights zero.
    """
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(text).split(","))):
        name, sep, weight = part.partition(":")
        name = name.strip()
        if name not in TRIPLE_KINDS:
            raise ValueError(f"mix: unknown kind {name!r} (known: {', '.join(TRIPLE_KINDS)})")
        try:
            w = float(weight) if sep else 1.0
        except ValueError:
            raise ValueError(f"mix: the weight of {name} must be a number, got {weight!r}") from None
        if not w >= 0.0:
            raise ValueError(f"mix: the weight of {name} must be >= 0, got {w}")
        if w > 0:
            mix[name] = mix.get(name, 0.0) + w
    if not mix:
        raise ValueError(f"mix must give some kind a weight > 0 (kinds: {', '.join(TRIPLE_KINDS)}), "
                         f"got {text!r}")
    return mix
