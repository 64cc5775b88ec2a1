"""Training configuration: typed dataclasses, read from TOML, refused whole on any bad key.

A file has the tables ``[model]``, ``[data]`` (``train.data.base.DataConfig``), ``[optim]``,
``[run]`` and an array ``[[stages]]``; anything left out takes the defaults below, which are the
paper's recipe (§5.1): three stages, Lion, 256x256 crops, batch 16.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from phnet.config import CONFIGS, get_config

from .data.base import DataConfig


@dataclass
class ModelConfig:
    """A named PHNet config, with any architecture field replaced (None keeps the name's)."""

    name: str = "lite"
    """A named PHNet config: ``paper``, ``lite`` or ``nano``."""
    pn_placement: str | None = None
    pn_layers: tuple[int, ...] | None = None
    pn_grids: tuple[int, ...] | None = None
    pfe: bool | None = None
    pfe_input: str | None = None
    residual: bool | None = None
    colour_prior: bool | None = None
    prior_gate: bool | None = None
    light_prior: bool | None = None
    residual_bound: float | None = None
    work_resolution: int | None = None

    def __post_init__(self) -> None:
        if self.name not in CONFIGS:
            raise ValueError(f"model.name must be one of {sorted(CONFIGS)}, got {self.name!r}")
        get_config(self.name, **self.overrides())  # refuses a bad combination now, not mid-run

    def overrides(self) -> dict[str, Any]:
        """The replaced fields, for ``phnet.build(name, **overrides)``."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "name" and v is not None}


@dataclass
class StageConfig:
    """One training stage (paper §5.1)."""

    name: str = "stage"
    epochs: int = 1
    lr: float = 1e-4
    pfe: bool = True
    """Whether the PFE feeds the SE block in this stage."""
    freeze_encoder: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"stages.epochs must be >= 0, got {self.epochs}")
        if not 0 < self.lr < 1:
            raise ValueError(f"stages.lr must lie in (0, 1), got {self.lr}")


def paper_stages() -> list[StageConfig]:
    """The paper's three stages: without PFE; PFE on with the encoder frozen; everything."""
    return [
        StageConfig("encoder-decoder", epochs=100, lr=1e-4, pfe=False),
        StageConfig("pfe", epochs=10, lr=1e-5, pfe=True, freeze_encoder=True),
        StageConfig("finetune", epochs=50, lr=1e-7, pfe=True),
    ]


@dataclass
class OptimConfig:
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = 0.0
    batch_size: int = 16
    """Per process; with torchrun the global batch is this times the world size."""
    amp: bool = True
    """Mixed precision (bfloat16 autocast) on CUDA; ignored on the CPU."""
    grad_clip: float = 0.0
    """Clip the gradient norm to this value; 0 = off."""

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"optim.betas must be two values in [0, 1), got {self.betas}")
        if self.batch_size < 1:
            raise ValueError(f"optim.batch_size must be >= 1, got {self.batch_size}")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ValueError("optim.weight_decay and optim.grad_clip must be >= 0")


@dataclass
class RunConfig:
    seed: int = 0
    workers: int = 2
    """DataLoader worker processes per training process."""
    steps_per_epoch: int = 0
    """Cap on optimiser steps per epoch; 0 = one pass over the training set."""
    val_limit: int = 0
    """Validate on at most this many images; 0 = the whole validation split."""
    log_every: int = 10
    checkpoint_every: int = 200
    """Save the resume state every this many steps (and at every epoch end)."""
    max_minutes: float = 0.0
    """Stop (saving the resume state) after this many minutes; 0 = no limit."""
    max_steps: int = 0
    """Stop (saving the resume state) once the run has made this many steps; 0 = no limit."""
    device: str = "auto"
    select_on: str = ""
    """Validation subsets (comma-separated, e.g. ``"people,identity"``) whose mean fMSE picks
    ``best.safetensors``, lower winning; empty = the overall fPSNR, higher winning."""

    def __post_init__(self) -> None:
        if not isinstance(self.select_on, str):
            raise ValueError(f"run.select_on must be a string like 'people,identity', got {self.select_on!r}")
        for name in ("workers", "steps_per_epoch", "val_limit", "checkpoint_every", "max_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"run.{name} must be >= 0, got {getattr(self, name)}")
        if self.log_every < 1:
            raise ValueError(f"run.log_every must be >= 1, got {self.log_every}")
        if self.max_minutes < 0:
            raise ValueError(f"run.max_minutes must be >= 0, got {self.max_minutes}")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)
    stages: list[StageConfig] = field(default_factory=paper_stages)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig, "run": RunConfig}


def _build(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ValueError(f"[{where}] must be a table, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown key {where}.{unknown[0]} (known: {', '.join(sorted(known))})")
    for f in dataclasses.fields(cls):
        if f.name in values and isinstance(values[f.name], list):
            values[f.name] = tuple(values[f.name])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"[{where}] {exc}") from None


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """A ``TrainConfig`` from nested dicts; unknown keys and bad values raise ValueError naming them."""
    unknown = sorted(set(data) - set(_SECTIONS) - {"stages"})
    if unknown:
        raise ValueError(f"unknown section {unknown[0]!r} (known: {', '.join([*_SECTIONS, 'stages'])})")
    parts = {k: _build(cls, dict(data.get(k, {})), k) for k, cls in _SECTIONS.items()}
    stages = data.get("stages")
    if stages is None:
        parts["stages"] = paper_stages()
    else:
        if not isinstance(stages, list) or not stages:
            raise ValueError("[[stages]] must be a non-empty array of tables")
        parts["stages"] = [_build(StageConfig, dict(s), f"stages[{i}]") for i, s in enumerate(stages)]
    return TrainConfig(**parts)


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Reads a TOML file (None = defaults) and applies ``section.key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"training config {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"training config {path} is not valid TOML: {exc}") from None
    for item in overrides:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot:
            raise ValueError(f"override {item!r} must look like section.key=value")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()  # a bare string
        if section == "stages":
            for stage in data.setdefault("stages", [dataclasses.asdict(s) for s in paper_stages()]):
                stage[name] = value
        else:
            data.setdefault(section, {})[name] = value
    return config_from_dict(data)
