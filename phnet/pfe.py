"""Patch-based feature extraction (PFE, paper §4.2) and the SE block it feeds (§4.3).

The paper pools the PFE output into an auxiliary vector ``q2`` that is *added to the SE channel
weights* of the encoder's last layer, so ``q2`` has one entry per channel of that layer. We
therefore run the PFE on that layer's feature map (with the mask resized to it) and average it
over space: parameter-free, any input size, and the same channel count as the SE weights.
(The paper's figure is not specific about the PFE's input; this is our reading, and the only
one where "adaptively averaged" needs no learned projection.)
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .pn import PatchNorm, StatsState


class PatchFeatureExtractor(nn.Module):
    """PN in its PFE form (only ``w0``, ``w1`` train; 25 patches by default), then global average.

    ``forward(x, mask, prev, momentum)``: ``x`` ``(N, C, h, w)`` encoder features, ``mask``
    ``(N, 1, h, w)`` in [0, 1]. Returns ``q2`` ``(N, C)`` float32 and the statistics state.
    """

    def __init__(self, channels: int, grid: int = 5):
        super().__init__()
        self.norm = PatchNorm(channels, grid, learn_all=False)

    def forward(
        self, x: Tensor, mask: Tensor, prev: StatsState | None = None, momentum: Tensor | float = 1.0
    ) -> tuple[Tensor, StatsState]:
        y, state = self.norm(x, mask, prev, momentum)
        return y.float().mean(dim=(2, 3)), state


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al.) whose channel weights may receive the PFE vector ``q2``.

    ``forward(x, q2)``: ``x`` ``(N, C, h, w)``; ``q2`` ``(N, C)`` or None. Weights are
    ``sigmoid(fc2(relu(fc1(mean(x))))) + q2``.
    """

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: Tensor, q2: Tensor | None = None) -> Tensor:
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        if q2 is not None:
            s = s + q2.to(s.dtype)
        return x * s[:, :, None, None]
