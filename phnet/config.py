"""Architecture configurations of PHNet: one dataclass and a plain dict of named variants."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


@dataclass(frozen=True)
class PHNetConfig:
    """Everything that fixes the shapes of a PHNet's weights.

    ``channels``: output channels of the six encoder blocks (the decoder mirrors them).
    ``pn_layers``: decoder layers (1-6, counted from the bottleneck) that use PN blocks instead of
    BatchNorm; ``pn_grids``: their grid sizes (g x g patches). ``pfe``: whether the patch-based
    feature extractor feeds the SE block (paper §4.2-4.3). ``work_resolution``: the long side,
    in pixels, at which the ``Harmonizer`` runs this network unless told otherwise.
    ``residual``: our addition, not the paper's: the last decoder layer predicts a change of the
    input's logits, ``raw = sigmoid(logit(image) + D6(x))``, starting from zero, so an untrained
    network returns the composite and training only has to learn the correction. The paper's
    network (``residual=False``) predicts the image itself through a sigmoid.
    ``colour_prior``: also ours, needs ``residual``: the change is added to the logits of a
    colour transfer of the input at a learned strength (``phnet.colour_prior``) instead.
    ``prior_gate``: with ``colour_prior``, the strength is multiplied by a gate in (0, 1) that
    the network predicts per image from its bottleneck, starting closed (the identity).

    ``pn_placement``: where the PN blocks of ``pn_layers`` sit. ``"figure"`` (the paper's Fig. 3
    and the authors' code): on the encoder's skip features that enter the layer, before its
    ConvT, so the output is never normalised to the background. ``"text"`` (paper §4.3's
    wording): after the ConvT, so D6's PN normalises the output logits; kept for the ablation.
    ``pfe_input``: ``"image"`` (Fig. 3): a patch-by-patch local-to-local plus a global colour
    transfer of the composite image, pooled per patch into q2; ``"features"``: our earlier
    reading, PN on the bottleneck features, averaged. Checkpoints saved before these two fields
    existed load as ``"text"`` / ``"features"``, the form they were trained in.

    ``light_prior`` (ours): the network was trained on composites whose person had already been
    moved from the captured room's light to the scene's (``phnet.light``); the ``Harmonizer``
    then does the same before the network whenever it is given the captured frame.
    ``residual_bound`` (ours): with a value ``b > 0`` the network's output differs from its input
    by at most ``b`` (in [0, 1] units) anywhere, smoothly: ``raw = x + b tanh((raw - x) / b)``.
    Whatever the network predicts, it cannot wash out a face; 0 leaves the output unbounded.
    """

    name: str = "paper"
    channels: tuple[int, ...] = (16, 64, 128, 256, 512, 1024)
    pn_layers: tuple[int, ...] = (4, 5, 6)
    pn_grids: tuple[int, ...] = (3, 4, 5)
    pfe: bool = True
    pfe_grid: int = 5
    se_reduction: int = 8
    leaky_slope: float = 0.2
    work_resolution: int = 512
    residual: bool = False
    colour_prior: bool = False
    prior_gate: bool = False
    pn_placement: str = "figure"
    pfe_input: str = "image"
    light_prior: bool = False
    residual_bound: float = 0.0

    def __post_init__(self) -> None:
        if len(self.channels) != 6 or any(int(c) < 1 for c in self.channels):
            raise ValueError(f"channels must be six positive widths, got {self.channels!r}")
        if len(self.pn_layers) != len(self.pn_grids):
            raise ValueError(
                f"pn_layers {self.pn_layers!r} and pn_grids {self.pn_grids!r} differ in length"
            )
        if any(not 1 <= k <= 6 for k in self.pn_layers):
            raise ValueError(f"pn_layers must lie in 1..6, got {self.pn_layers!r}")
        if any(g < 1 for g in self.pn_grids) or self.pfe_grid < 1:
            raise ValueError(f"grids must be >= 1, got {self.pn_grids!r} and {self.pfe_grid}")
        if self.pn_placement not in ("figure", "text"):
            raise ValueError(f"pn_placement must be 'figure' or 'text', got {self.pn_placement!r}")
        if self.pfe_input not in ("image", "features"):
            raise ValueError(f"pfe_input must be 'image' or 'features', got {self.pfe_input!r}")
        if self.residual and self.pn_placement == "text" and 6 in self.pn_layers:
            raise ValueError(
                "residual=True with pn_placement='text' needs D6 without a PN block (PN would "
                "tie the foreground's correction to the background's, which is zero); drop 6 "
                "from pn_layers"
            )
        if self.prior_gate and not self.colour_prior:
            raise ValueError("prior_gate=True needs colour_prior=True (it gates the prior)")
        if self.colour_prior and not self.residual:
            raise ValueError("colour_prior=True needs residual=True (the prior is where D6 starts)")
        if not 0.0 <= self.residual_bound < 1.0:
            raise ValueError(f"residual_bound must lie in [0, 1), got {self.residual_bound}")
        if self.work_resolution < 8 or self.work_resolution % 8:
            raise ValueError(f"work_resolution must be a multiple of 8, got {self.work_resolution}")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "pn_layers", tuple(int(k) for k in self.pn_layers))
        object.__setattr__(self, "pn_grids", tuple(int(g) for g in self.pn_grids))

    def grid_of(self, layer: int) -> int | None:
        """Grid size of decoder layer ``layer`` (1-6) if it is a PN layer, else None."""
        if layer in self.pn_layers:
            return self.pn_grids[self.pn_layers.index(layer)]
        return None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "PHNetConfig":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("config must be a JSON object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        for key in ("channels", "pn_layers", "pn_grids"):
            if key in data:
                data[key] = tuple(data[key])
        # Saved before the placement choices existed: the form those weights were trained in.
        data.setdefault("pn_placement", "text")
        data.setdefault("pfe_input", "features")
        return cls(**data)


CONFIGS: dict[str, PHNetConfig] = {
    # The published setup as Fig. 3 draws it: PN on the skips of D4, D5, D6 + PFE on the
    # composite image, ~39.9 M parameters (paper §5.2).
    "paper": PHNetConfig(),
    # The same form at a quarter of the widths (~1/16 of the multiply-adds) for CPU real time,
    # with a residual D6 (ours: an untrained network returns the composite, so a person who
    # needs no correction starts untouched; see models/README.md).
    "lite": PHNetConfig(
        name="lite", channels=(8, 16, 32, 64, 128, 256), residual=True, work_resolution=256,
    ),
    # Narrower still, for slow laptops and for tests.
    "nano": PHNetConfig(name="nano", channels=(8, 12, 16, 24, 48, 96), work_resolution=256),
}


def get_config(name: str, **overrides) -> PHNetConfig:
    """The named config, with any fields replaced; unknown names list the known ones."""
    if name not in CONFIGS:
        raise ValueError(f"unknown PHNet config {name!r}; known: {sorted(CONFIGS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(CONFIGS[name], **overrides) if overrides else CONFIGS[name]

