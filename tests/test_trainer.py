"""The trainer on real synthetic data: loss falls, resume is exact, torchrun DDP on gloo works."""
import os
import shutil
import subprocess
import sys

import pytest
from pathlib import Path
import torch

import phnet
from train.config import load_config
from train.trainer import Trainer
from vcam.images import BACKGROUND_PATHS, PORTRAIT_PATH


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The bundled portrait and backgrounds: four real photos."""
    d = tmp_path_factory.mktemp("photos")
    for p in [PORTRAIT_PATH, *BACKGROUND_PATHS.values()]:
        shutil.copy(p, d / Path(p).name)
    return d


def tiny(photos, **extra):
    sets = [
        "model.name='nano'", f"data.root='{photos}'", "data.size=64", "data.val_fraction=0.5",
        "data.test_fraction=0.0", "data.samples_per_image=8", "optim.batch_size=4", "run.workers=0",
        "run.log_every=1", "run.checkpoint_every=0", "run.val_limit=4",
    ]
    sets += [f"{k}={v}" for k, v in extra.items()]
    return load_config(None, sets)




def with_stages(cfg, epochs):
    from train.config import StageConfig

    cfg.stages = [
        StageConfig("encoder-decoder", epochs=epochs[0], lr=1e-3, pfe=False),
        StageConfig("pfe", epochs=epochs[1], lr=1e-4, pfe=True, freeze_encoder=True),
    ]
    return cfg


def read_losses(run):
    import csv

    return [float(r["loss"]) for r in csv.DictReader((run / "train.csv").open())]


def test_tiny_run_lowers_the_loss_and_writes_its_outputs(photos, tmp_path):
    cfg = with_stages(tiny(photos), (4, 1))
    trainer = Trainer(cfg, tmp_path / "run")
    best = trainer.fit()
    losses = read_losses(tmp_path / "run")
    assert len(losses) == 5 * 4  # five epochs of 2 photos x 8 samples in batches of 4
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4
    for name in ("best.safetensors", "last.safetensors", "resume.safetensors", "train.csv",
                 "val.csv", "curves.png", "config.json"):
        assert (tmp_path / "run" / name).is_file(), name
    assert phnet.load(best).config.name == "nano"  # best by val fPSNR, from either stage
    assert phnet.load(tmp_path / "run" / "last.safetensors").pfe_enabled  # stage 2 turned it on


def test_stage_two_freezes_the_encoder(photos, tmp_path):
    cfg = with_stages(tiny(photos), (1, 1))
    trainer = Trainer(cfg, tmp_path / "run")
    before = {k: v.clone() for k, v in trainer.model.encoder.state_dict().items()}
    cfg.stages = cfg.stages[1:]
    trainer.fit()
    after = trainer.model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resume_continues_exactly(photos, tmp_path):
    straight = Trainer(with_stages(tiny(photos), (2, 1)), tmp_path / "a")
    straight.fit()
    first = Trainer(with_stages(tiny(photos, **{"run.max_steps": 3}), (2, 1)), tmp_path / "b")
    first.fit()
    assert first.pos.step == 3
    second = Trainer(with_stages(tiny(photos), (2, 1)), tmp_path / "b", resume=True)
    second.fit()
    assert second.pos.step == straight.pos.step
    for (k, a), b in zip(straight.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_unknown_key_and_bad_value_are_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="optim.batchsize"):
        load_config(None, ["optim.batchsize=3"])
    with pytest.raises(ValueError, match="batch_size"):
        load_config(None, ["optim.batch_size=0"])
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nname = 'huge'\n")
    with pytest.raises(ValueError, match="huge"):
        load_config(bad)


def test_cli_reports_a_bad_config_in_one_line(tmp_path, capsys):
    from train.cli import train_main

    assert train_main(["--out", str(tmp_path), "--set", "optim.betas=[2, 0]"]) == 2
    assert "optim.betas" in capsys.readouterr().err


def test_torchrun_two_processes_on_gloo(photos, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
        "-m", "train.cli", "--out", str(tmp_path / "ddp"),
        "--set", "model.name='nano'", "--set", f"data.root='{photos}'", "--set", "data.size=64",
        "--set", "data.val_fraction=0.5", "--set", "data.test_fraction=0.0",
        "--set", "optim.batch_size=2", "--set", "run.workers=0", "--set", "run.log_every=1",
        "--set", "run.steps_per_epoch=2", "--set", "run.val_limit=2",
        "--set", "stages.epochs=1",
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "ddp" / "best.safetensors").is_file()
    assert len(read_losses(tmp_path / "ddp")) == 3 * 2  # three stages, two steps each


def test_selection_on_chosen_subsets_uses_their_fmse():
    from train.trainer import selection_fmse

    summary = {"subsets": {
        "people": {"fmse": 100.0, "n_fg": 3},
        "identity": {"fmse": 20.0, "n_fg": 1},
        "silhouettes": {"fmse": 1e6, "n_fg": 5},
    }}
    assert selection_fmse(summary, "people,identity") == pytest.approx(80.0)
    assert selection_fmse(summary, "") is None
    assert selection_fmse(summary, "objects") is None


def test_best_checkpoint_follows_select_on(photos, tmp_path):
    import csv

    cfg = with_stages(tiny(photos, **{"run.select_on": "'synthetic'"}), (2, 0))
    Trainer(cfg, tmp_path / "run").fit()
    rows = list(csv.DictReader((tmp_path / "run" / "val.csv").open()))
    scores = [float(r["select_fmse"]) for r in rows]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "run" / "best.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert int(meta["step"]) == int(rows[scores.index(min(scores))]["step"])
    assert float(meta["val_select_fmse"]) == pytest.approx(min(scores), rel=1e-3)


def test_model_fields_override_the_named_config(tmp_path):
    cfg = load_config(None, ["model.name='nano'", "model.pn_placement='text'", "model.residual=false",
                             "model.pfe=false"])
    assert cfg.model.overrides() == {"pn_placement": "text", "residual": False, "pfe": False}
    with pytest.raises(ValueError, match="pn_placement"):
        load_config(None, ["model.pn_placement='sideways'"])


def test_ablation_rows_differ_only_in_what_they_name():
    from train.ablation import ROWS, row_config

    base = row_config("figure", "corpus", 200)
    assert base.run.steps_per_epoch * sum(s.epochs for s in base.stages) == 200
    for row in ROWS:
        cfg = row_config(row, "corpus", 200)
        diff = {k for k in ("model", "data") if getattr(cfg, k) != getattr(base, k)}
        assert diff <= {"model", "data"} and (row == "figure") == (not diff), row
        assert cfg.optim == base.optim and cfg.stages[0].lr == base.stages[0].lr
    assert row_config("size-128", "corpus", 200).data.size == 128
    with pytest.raises(ValueError, match="unknown ablation row"):
        row_config("everything", "corpus", 200)


def test_relight_ablation_rows_change_one_part_each():
    from train.ablation import RELIGHT_ROWS, row_config

    base = row_config("relight", "corpus", 200, "relight")
    assert base.model.light_prior and base.model.residual_bound > 0 and "relight" in base.data.mix
    assert row_config("no-captured", "corpus", 200, "relight").model.light_prior is False
    assert "relight" not in row_config("no-relight", "corpus", 200, "relight").data.mix
    assert row_config("no-bound", "corpus", 200, "relight").model.residual_bound == 0.0
    small = row_config("size-128", "corpus", 200, "relight")
    assert small.data.size == 128 and small.model.work_resolution == 128
    for row in RELIGHT_ROWS:
        cfg = row_config(row, "corpus", 200, "relight")
        assert cfg.data.exclude_sources == base.data.exclude_sources, row
