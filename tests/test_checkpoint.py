"""Checkpoints: safetensors round trip, and clear errors for every kind of bad file."""
import json

import pytest
import torch
from safetensors.torch import save_file

import phnet
from phnet.checkpoint import CheckpointError


@pytest.fixture
def ckpt(tmp_path):
    model = phnet.build("nano")
    with torch.no_grad():  # non-default values everywhere, BatchNorm statistics included
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.randn_like(t))
    return model, phnet.save(model, tmp_path / "nano.safetensors")


def test_round_trip_is_exact(ckpt):
    model, path = ckpt
    loaded = phnet.load(path)
    assert loaded.config == model.config
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    assert not loaded.training


def test_half_checkpoint_is_smaller_and_loads_as_float32(ckpt, tmp_path):
    model, path = ckpt
    half = phnet.save(model, tmp_path / "half.safetensors", half=True)
    assert half.stat().st_size < 0.6 * path.stat().st_size
    assert phnet.load(half).encoder[0][0].weight.dtype == torch.float32


def test_no_pickle_is_written(ckpt):
    _, path = ckpt
    assert not path.read_bytes().startswith(b"\x80")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        phnet.load(tmp_path / "nope.safetensors")


def test_truncated_file_names_the_file(ckpt, tmp_path):
    _, path = ckpt
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors"):
        phnet.load(cut)


def test_garbage_file(tmp_path):
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match="garbage.safetensors"):
        phnet.load(bad)


def test_foreign_safetensors_file(tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(foreign), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="not a PHNet Camera checkpoint"):
        phnet.load(foreign)


def test_config_that_does_not_match_the_tensors(ckpt, tmp_path):
    model, _ = ckpt
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "phnet-camera/1", "config": phnet.get_config("lite").to_json()}
    wrong = tmp_path / "wrong.safetensors"
    save_file(tensors, str(wrong), metadata=meta)
    with pytest.raises(CheckpointError, match="does not match its config 'lite'"):
        phnet.load(wrong)


def test_config_with_unknown_key(ckpt, tmp_path):
    model, _ = ckpt
    cfg = json.loads(model.config.to_json())
    cfg["depth"] = 9
    bad = tmp_path / "badcfg.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bad),
              metadata={"format": "phnet-camera/1", "config": json.dumps(cfg)})
    with pytest.raises(CheckpointError, match="depth"):
        phnet.load(bad)
