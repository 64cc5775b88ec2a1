"""PHNet (paper §4.3, Fig. 3): encoder-decoder with PN blocks in the last decoder layers and
PFE + SE at the bottleneck, with the PN statistics carried as explicit temporal state.

Layout (Fig. 3 and the authors' code; docs/ARCHITECTURE.md): encoder blocks Conv -> InstanceNorm (no affine) -> ReLU with kernels /
strides alternating 4/2 and 3/1 (resolutions H/2, H/2, H/4, H/4, H/8, H/8); before every
decoder layer the decoder input is concatenated with the encoder output of the same size and
mixed by a 3x3 conv (2c -> c, no bias) + ReLU; decoder layers are transposed convolutions
mirroring the encoder, then BatchNorm (none after the last) and LeakyReLU (sigmoid after the
last). The PN layers (D4-D6 by default) follow ``config.pn_placement``: ``"figure"`` (Fig. 3,
the authors' code) normalises the encoder skip feature entering the layer before it is
concatenated (the ConvT keeps its BatchNorm: see ``DecoderLayer``); ``"text"`` (§4.3's
wording) puts PN after the ConvT instead. The PFE runs on the composite image (``pfe_input="image"``, Fig. 3) or on the
bottleneck features (``"features"``, for the ablation), see ``phnet.pfe``.

With ``config.residual`` (our addition) D6 instead predicts a zero-initialised change of the
input's logits: ``raw = sigmoid(logit(image) + D6)``; with ``config.colour_prior`` too, of the
logits of a learned-strength colour transfer of the input (``phnet.colour_prior``), gated per
image with ``config.prior_gate``.
With ``config.residual_bound`` the change to the input is bounded smoothly (see ``PHNetConfig``).
The output keeps the composite's background: ``image = raw * mask + composite * (1 - mask)``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .colour_prior import ColourPrior
from .config import PHNetConfig, get_config
from .pfe import ImagePFE, PatchFeatureExtractor, SqueezeExcite
from .pn import PatchNorm, StatsState

PHNetState = dict[str, StatsState]
"""Temporal state: one ``StatsState`` per statistics-bearing block (``pfe``, ``d4``, ...)."""

_KERNELS = (4, 3, 4, 3, 4, 3)  # encoder; stride 2 where the kernel is 4
_DECODER_SCALE = (8, 4, 4, 2, 2, 1)  # output stride of decoder layers 1..6
_ENCODER_SCALE = (2, 2, 4, 4, 8, 8)  # output stride of encoder blocks 1..6
PRIOR_GATE_BIAS = -6.0
"""Initial logit of the prior's gate: sigmoid(-6) = 0.0025, the prior closed (the identity)."""


class PHNetOutput(NamedTuple):
    image: Tensor
    """``(N, 3, H, W)`` in [0, 1]: prediction in the foreground, the input's background."""
    raw: Tensor
    """``(N, 3, H, W)`` in [0, 1]: the network's prediction before the blend (for losses)."""
    state: PHNetState
    """Statistics to pass as ``state`` with the next frame of the same video."""


def check_size(height: int, width: int) -> None:
    """Raises ValueError unless H and W are positive multiples of 8 (three stride-2 stages)
    and not both 8 (InstanceNorm needs at least two pixels at the H/8 bottleneck)."""
    if height < 8 or width < 8 or height % 8 or width % 8 or height * width < 128:
        raise ValueError(
            f"PHNet needs height and width that are multiples of 8 (and larger than 8x8), "
            f"got H={height}, W={width}"
        )


LOGIT_EPS = 1.0 / 512
"""Inputs are clamped to [eps, 1 - eps] before the logit of a residual network (finite logits,
and 0 / 1 stay reachable through the sigmoid's tails)."""


def _logit(image: Tensor) -> Tensor:
    x = image.clamp(LOGIT_EPS, 1.0 - LOGIT_EPS)
    return torch.log(x) - torch.log1p(-x)


def _exporting() -> bool:
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()


class DecoderLayer(nn.Module):
    """Transposed conv, then BatchNorm or a PN block, then LeakyReLU (sigmoid if ``last``).

    With ``placement="figure"`` and a ``grid``, the PN block is ``skip_norm`` instead: it
    normalises the encoder skip feature (``skip_channels`` wide) before the skip merge, see
    :meth:`normalise_skip`, and the ConvT keeps its BatchNorm (none after the last)."""

    def __init__(
        self, cin: int, cout: int, kernel: int, grid: int | None, last: bool, slope: float,
        residual: bool = False, placement: str = "text", skip_channels: int = 0,
    ):
        super().__init__()
        stride = 2 if kernel == 4 else 1
        self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=1)
        self.skip_norm: PatchNorm | None = None
        if grid and placement == "figure":
            # The authors' code has no norm after these ConvTs; ours keeps BatchNorm, as D1-D3
            # have it, to hold the un-normalised skips' scale (without it D5's output was ten
            # times D4's input). Whether it matters was not measured on its own: the dead D6
            # skip ReLU of our first runs came from the uncapped PSNR loss (train.losses).
            self.skip_norm = PatchNorm(skip_channels, grid)
            self.norm: nn.Module = nn.Identity() if last else nn.BatchNorm2d(cout)
        else:
            self.norm = PatchNorm(cout, grid) if grid else nn.BatchNorm2d(cout)
        self.act: nn.Module = nn.Sigmoid() if last else nn.LeakyReLU(slope)
        if last and residual:
            # A logit change: no normalisation, no activation here, zero at initialisation.
            self.norm, self.act = nn.Identity(), nn.Identity()
            nn.init.zeros_(self.conv.weight)
            nn.init.zeros_(self.conv.bias)

    def normalise_skip(
        self, skip: Tensor, mask: Tensor, prev: StatsState | None, momentum: Tensor | float
    ) -> tuple[Tensor, StatsState | None]:
        """The skip feature with its foreground moved towards its background (figure
        placement), or unchanged with no state (text placement / no PN here)."""
        if self.skip_norm is None:
            return skip, None
        return self.skip_norm(skip, mask, prev, momentum)

    def forward(
        self, x: Tensor, mask: Tensor, prev: StatsState | None, momentum: Tensor | float
    ) -> tuple[Tensor, StatsState | None]:
        x = self.conv(x)
        state = None
        if isinstance(self.norm, PatchNorm):
            x, state = self.norm(x, mask, prev, momentum)
        else:
            x = self.norm(x)
        return self.act(x), state


class PHNet(nn.Module):
    """The network. ``forward(image, mask, state=None, momentum=1.0) -> PHNetOutput``.

    ``image``: ``(N, 3, H, W)`` RGB float in [0, 1] (H, W multiples of 8), no normalisation.
    ``mask``: ``(N, 1, H, W)`` float in [0, 1], 1 = foreground; it reaches the network only
    through the PN blocks and the PFE. ``state``: the previous frame's ``PHNetOutput.state``, or
    None for a still image / first frame. ``momentum``: EMA weight ``a`` of the current frame's
    statistics (1 = no smoothing), one value or a ``(foreground, background)`` pair (a tensor of
    shape (2,)). With ``momentum=1`` or ``state=None`` the output equals the stateless forward
    exactly.
    """

    def __init__(self, config: PHNetConfig | None = None):
        super().__init__()
        self.config = config = config or PHNetConfig()
        ch = config.channels
        ins = (3,) + ch[:-1]
        self.encoder = nn.ModuleList()
        for cin, cout, k in zip(ins, ch, _KERNELS):
            stride = 2 if k == 4 else 1
            self.encoder.append(
                nn.Sequential(
                    nn.Conv2d(cin, cout, k, stride=stride, padding=1),
                    nn.InstanceNorm2d(cout, affine=False),
                    nn.ReLU(inplace=True),
                )
            )
        self.se = SqueezeExcite(ch[-1], config.se_reduction)
        self.pfe: nn.Module | None = None
        if config.pfe:
            pfe_cls = ImagePFE if config.pfe_input == "image" else PatchFeatureExtractor
            self.pfe = pfe_cls(ch[-1], config.pfe_grid)
        self.pfe_enabled = config.pfe
        """Runtime switch: training stage 1 runs without the PFE (paper §5.1)."""

        self.prior = ColourPrior() if config.colour_prior else None
        self.prior_gate: nn.Linear | None = None
        if config.prior_gate:
            self.prior_gate = nn.Linear(ch[-1], 1)
            nn.init.zeros_(self.prior_gate.weight)
            nn.init.constant_(self.prior_gate.bias, PRIOR_GATE_BIAS)
        self.skips = nn.ModuleList()
        self.decoder = nn.ModuleList()
        outs = tuple(reversed(ins))  # C5, C4, ..., C1, 3
        for k in range(1, 7):
            c = ch[6 - k]
            self.skips.append(
                nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1, bias=False), nn.ReLU(inplace=True))
            )
            self.decoder.append(
                DecoderLayer(
                    c, outs[k - 1], _KERNELS[6 - k], config.grid_of(k), k == 6,
                    config.leaky_slope, config.residual, config.pn_placement, ch[6 - k],
                )
            )

    def state_spec(self) -> dict[str, tuple[int, int]]:
        """``{block name: (channels, 2 + patches)}`` of every statistics-bearing block."""
        spec = {}
        if self.prior is not None:
            spec["prior"] = (3, 2)
        if self.pfe is not None and self.pfe_enabled:
            spec["pfe"] = self.pfe.state_shape
        for k, layer in enumerate(self.decoder, start=1):
            norm = layer.skip_norm if layer.skip_norm is not None else layer.norm
            if isinstance(norm, PatchNorm):
                spec[f"d{k}"] = (norm.channels, 2 + norm.grid**2)
        return spec

    def empty_state(self, batch: int = 1, device: torch.device | str = "cpu") -> PHNetState:
        """A state with nothing valid in it: using it equals passing ``state=None``."""
        out = {}
        for name, (c, s) in self.state_spec().items():
            out[name] = StatsState(
                torch.zeros(batch, c, s, device=device),
                torch.ones(batch, c, s, device=device),
                torch.zeros(batch, s, device=device),
            )
        return out

    def forward(
        self,
        image: Tensor,
        mask: Tensor,
        state: PHNetState | None = None,
        momentum: Tensor | float = 1.0,
    ) -> PHNetOutput:
        if not _exporting():
            if image.dim() != 4 or image.shape[1] != 3:
                raise ValueError(f"image must be (N, 3, H, W), got {tuple(image.shape)}")
            if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[2:] != image.shape[2:]:
                raise ValueError(
                    f"mask must be (N, 1, H, W) matching image {tuple(image.shape)}, "
                    f"got {tuple(mask.shape)}"
                )
            check_size(image.shape[2], image.shape[3])
        state = state or {}
        mask = mask.to(image.dtype)
        masks = {s: mask if s == 1 else F.avg_pool2d(mask, s) for s in (1, 2, 4, 8)}

        feats = []
        x = image
        for block in self.encoder:
            x = block(x)
            feats.append(x)

        new_state: PHNetState = {}
        q2 = None
        if self.pfe is not None and self.pfe_enabled:
            src = (image, mask) if isinstance(self.pfe, ImagePFE) else (feats[-1], masks[8])
            q2, new_state["pfe"] = self.pfe(*src, state.get("pfe"), momentum)
        x = self.se(feats[-1], q2)
        gate = None
        if self.prior_gate is not None:
            gate = torch.sigmoid(self.prior_gate(x.mean(dim=(2, 3))).float())  # (N, 1)

        for k, (skip, layer) in enumerate(zip(self.skips, self.decoder), start=1):
            f, s = layer.normalise_skip(
                feats[6 - k], masks[_ENCODER_SCALE[6 - k]], state.get(f"d{k}"), momentum
            )
            x = skip(torch.cat([x, f], dim=1))
            x, s2 = layer(x, masks[_DECODER_SCALE[k - 1]], state.get(f"d{k}"), momentum)
            if s is not None or s2 is not None:
                new_state[f"d{k}"] = s if s is not None else s2

        if self.prior is not None:
            base, new_state["prior"] = self.prior(image, mask, state.get("prior"), momentum, gate)
            raw = torch.sigmoid(_logit(base) + x)
        elif self.config.residual:
            raw = torch.sigmoid(_logit(image) + x)
        else:
            raw = x
        bound = self.config.residual_bound
        if bound > 0.0:
            raw = image + bound * torch.tanh((raw - image) / bound)
        blended = raw * mask + image * (1.0 - mask)
        return PHNetOutput(blended, raw, new_state)


def build(name: str = "paper", **overrides) -> PHNet:
    """A freshly initialised PHNet of the named config (``paper``, ``lite``, ``nano``)."""
    return PHNet(get_config(name, **overrides))
