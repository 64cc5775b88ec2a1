"""The corpus data set: four kinds of triples, their mix, and splits that hold people out."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tiny_corpus import PEOPLE, make_tiny_corpus
from train.data.corpus import person_crop
from train.corpus.manifest import read_manifest
from train.data.base import DataConfig
from train.data.build import build_dataset
from train.data.mix import parse_mix


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"))


def _ds(corpus, split="train", mix="", size=64, samples=4):
    return build_dataset(DataConfig(kind="corpus", root=str(corpus), mix=mix, size=size,
                                    samples_per_image=samples), split)


def test_mix_parsing_and_validation():
    assert parse_mix("people:0.5, identity:0.5") == {"people": 0.5, "identity": 0.5}
    assert parse_mix("people:1,objects:0") == {"people": 1.0}
    for bad in ("faces:1", "people:-1", "people:x", "people:0", ""):
        with pytest.raises(ValueError):
            parse_mix(bad)
    with pytest.raises(ValueError, match="mix"):
        DataConfig(kind="corpus", root="x", mix="faces:1")


def test_manifest_reader_refuses_a_folder_without_one(tmp_path):
    with pytest.raises(ValueError, match="phnet-corpus"):
        read_manifest(tmp_path)
    (tmp_path / "MANIFEST.tsv").write_text("name\tsource\n")
    with pytest.raises(ValueError, match="older corpus"):
        read_manifest(tmp_path)


def test_identity_triples_are_the_photo_itself(corpus):
    ds = _ds(corpus, "test", mix="identity:1")
    for i in range(len(ds)):
        item = ds[i]
        assert item["subset"] == "identity"
        assert torch.equal(item["composite"], item["real"])
        assert item["name"].startswith("people/")


def test_people_triples_change_only_the_person(corpus):
    ds = _ds(corpus, "train", mix="people:1")
    changed = 0
    for i in range(len(ds)):
        item = ds[i]
        assert item["subset"] == "people"
        diff = (item["composite"] - item["real"]).abs().amax(0)
        # The soft matte's tail reaches a few pixels beyond the binarised mask; past it the
        # background is the photo's.
        bg = torch.nn.functional.max_pool2d(item["mask"][None], 9, 1, 4)[0, 0] == 0
        assert diff[bg].max() <= 1 / 255 + 1e-6
        changed += bool(diff[item["mask"][0] > 0.5].mean() > 2 / 255)
    assert changed >= len(ds) // 2


def test_every_kind_appears_with_its_weight(corpus):
    ds = _ds(corpus, "train", mix="people:2,objects:1,identity:1,silhouettes:1", samples=40)
    kinds = [ds[i]["subset"] for i in range(len(ds))]
    counts = {k: kinds.count(k) for k in set(kinds)}
    assert set(counts) == {"people", "objects", "identity", "silhouettes"}
    assert counts["people"] > counts["objects"]
    assert all(ds[i]["name"].startswith("scenes/") for i in range(len(ds))
               if kinds[i] == "silhouettes")


def test_splits_hold_people_out(corpus):
    test_people = {name for name, _, split, _ in PEOPLE if split == "test"}
    for split in ("train", "val"):
        ds = _ds(corpus, split, mix="people:1,identity:1", samples=8)
        names = {ds[i]["name"].split("#")[0] for i in range(len(ds))}
        assert not names & test_people
    by_identity: dict[str, set[str]] = {}
    for e in read_manifest(corpus):
        if e.kind == "person":
            by_identity.setdefault(e.group, set()).add(e.split)
    assert all(len(s) == 1 for s in by_identity.values())


def test_val_items_are_fixed_and_train_items_follow_the_epoch(corpus):
    val = _ds(corpus, "val", mix="people:1,objects:1")
    a, b = val[0], val[0]
    assert torch.equal(a["composite"], b["composite"]) and a["name"] == b["name"]
    train = _ds(corpus, "train", mix="people:1")
    first = train[0]["composite"]
    train.set_epoch(1)
    assert not torch.equal(first, train[0]["composite"])


def test_a_missing_pool_is_left_out(corpus, caplog):
    ds = _ds(corpus, "val", mix="people:1,silhouettes:1")  # val has people and scenes
    assert set(ds.mix) == {"people", "silhouettes"}
    ds = _ds(corpus, "test", mix="objects:1,identity:1")
    assert len(ds) > 0


def test_native_size_keeps_the_whole_picture(corpus):
    item = _ds(corpus, "test", mix="identity:1", size=None)[0]
    assert item["real"].shape[1:] in ((120, 96), (96, 128))


def test_person_crop_keeps_the_head():
    mask = np.zeros((200, 100), np.float32)
    mask[60:200, 20:80] = 1.0
    from train.data.synthesis import Rng

    gen = torch.Generator().manual_seed(0)
    for rng in (None, Rng(gen), Rng(gen), Rng(gen)):
        top, left, side = person_crop(mask, rng)
        assert 0 <= top <= 60 < top + side <= 200
        assert 0 <= left and left + side <= 100


def test_soft_masks_keep_the_matte_as_the_camera_sees_it(corpus):
    binary = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="people:1", size=64,
                                      samples_per_image=2), "train")[0]["mask"]
    soft = build_dataset(DataConfig(kind="corpus", root=str(corpus), mix="people:1", size=64,
                                    samples_per_image=2, soft_masks=True), "train")[0]["mask"]
    assert set(binary.unique().tolist()) <= {0.0, 1.0}
    assert soft.min() >= 0 and soft.max() <= 1
    assert ((soft > 0) & (soft < 1)).any()  # the matte's edge stays soft
    assert torch.equal(soft > 0.5, binary > 0.5)
    with pytest.raises(TypeError, match="soft_masks"):
        DataConfig(kind="corpus", root="x", soft_masks="yes")
