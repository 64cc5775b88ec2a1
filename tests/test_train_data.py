"""Training data: iHarmony4 / FFHQH parsing, synthetic triples, augmentations, the FFHQH writer.

Every file is generated here with OpenCV in ``tmp_path``; nothing is downloaded.
"""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import DEVICE
from train.data import augment
from train.corpus.build import build_corpus, reject_reason
from train.corpus.fetch import copyright_stanzas, licence_for
from train.data.base import BadFileError, DataConfig, fit_to_size
from train.data.build import build_dataset
from train.data.ffhqh import FFHQHDataset
from train.data.iharmony4 import IHarmony4Dataset
from train.data.photos import SyntheticDataset
from train.data.make_ffhqh import make_ffhqh_main
from train.data.synthesis import MAX_FOREGROUND, MIN_FOREGROUND, synth_mask


pytestmark = pytest.mark.usefixtures("one_thread")


def _photo(seed: int, h: int = 72, w: int = 96) -> np.ndarray:
    """A smooth, colourful RGB uint8 picture with some texture."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(20, 235, size=(4, 5, 3)).astype(np.float32)
    img = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def _write_grey(path: Path, grey: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), grey)


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _is_binary(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


# --------------------------------------------------------------------------- iHarmony4

_IH = {
    # subset: {real stem: number of objects}, composites per object = 2
    "HCOCO": {"c101": 2, "c102": 1, "c103": 1, "c104": 2},
    "HFlickr": {"f201": 1, "f202": 2},
}


def _make_iharmony4(root: Path) -> dict[str, list[str]]:
    """A miniature iHarmony4 tree; returns the composite names of each subset's test list."""
    tests = {}
    for s_i, (subset, reals) in enumerate(_IH.items()):
        base = root / subset
        names = []
        for r_i, (real, objects) in enumerate(reals.items()):
            h, w = 48 + 8 * r_i, 64
            real_img = _photo(100 * s_i + r_i, h, w)
            _write_rgb(base / "real_images" / f"{real}.jpg", real_img)
            for o in range(objects):
                obj = f"{real}_{500 + o}"
                mask = np.zeros((h, w), np.uint8)
                cv2.circle(mask, (20 + 10 * o, h // 2), 12, 255, -1)
                mask = cv2.GaussianBlur(mask, (0, 0), 2)  # soft edge: must come back binary
                _write_grey(base / "masks" / f"{obj}.png", mask)
                for k in (1, 2):
                    comp = real_img.copy()
                    comp[mask > 127] = np.clip(comp[mask > 127].astype(int) + 40 * k, 0, 255)
                    _write_rgb(base / "composite_images" / f"{obj}_{k}.jpg", comp)
                    names.append(f"{obj}_{k}.jpg")
        names.sort()
        test = [n for n in names if n.startswith(next(iter(reals)) + "_")]
        train = [n for n in names if n not in test]
        # Lines as the real lists write them: bare names in the subset's list.
        (base / f"{subset}_train.txt").write_text("\n".join(train) + "\n")
        (base / f"{subset}_test.txt").write_text("\n".join(test) + "\n")
        tests[subset] = test
    return tests


def test_iharmony4_name_rule_and_items(tmp_path):
    tests = _make_iharmony4(tmp_path)
    ds = build_dataset(DataConfig(kind="iharmony4", root=str(tmp_path), size=None), "test")
    assert isinstance(ds, IHarmony4Dataset)
    assert sorted(ds.names) == sorted(tests["HCOCO"] + tests["HFlickr"])
    assert ds.skipped == []
    for i in range(len(ds)):
        item = ds[i]
        assert set(item) == {"composite", "mask", "real", "captured", "name", "subset"}
        # A composite photo's person was captured in its own picture: no other room to refer to.
        assert torch.equal(item["captured"], item["composite"])
        subset, name = item["subset"], item["name"]
        # c101_500_2.jpg -> mask c101_500.png -> real c101.jpg
        stem = name[:-len(".jpg")]
        obj, real = stem.rsplit("_", 1)[0], stem.split("_")[0]
        base = tmp_path / subset
        want_real = _read_rgb(base / "real_images" / f"{real}.jpg")
        want_comp = _read_rgb(base / "composite_images" / name)
        want_mask = cv2.imread(str(base / "masks" / f"{obj}.png"), cv2.IMREAD_GRAYSCALE) > 127
        h, w = want_real.shape[:2]
        assert item["composite"].shape == (3, h, w) and item["real"].shape == (3, h, w)
        assert item["mask"].shape == (1, h, w) and item["mask"].dtype == torch.float32
        assert _is_binary(item["mask"])
        np.testing.assert_array_equal((item["real"] * 255).round().byte().permute(1, 2, 0).numpy(),
                                      want_real)
        np.testing.assert_array_equal(
            (item["composite"] * 255).round().byte().permute(1, 2, 0).numpy(), want_comp)
        np.testing.assert_array_equal(item["mask"][0].bool().numpy(), want_mask)


def test_iharmony4_val_is_carved_from_train_by_real_image(tmp_path):
    _make_iharmony4(tmp_path)
    cfg = DataConfig(kind="iharmony4", root=str(tmp_path), size=32, val_fraction=0.5)
    train, val = build_dataset(cfg, "train"), build_dataset(cfg, "val")
    listed = set()
    for subset in _IH:
        listed |= set((tmp_path / subset / f"{subset}_train.txt").read_text().split())
    assert set(train.names) | set(val.names) == listed
    assert not set(train.names) & set(val.names)
    assert len(train) and len(val)
    reals = lambda ds: {n.split("_")[0] for n in ds.names}  # noqa: E731
    assert not reals(train) & reals(val)
    again = build_dataset(cfg, "val")
    assert again.names == val.names
    item = train[0]
    assert item["composite"].shape == (3, 32, 32) and item["mask"].shape == (1, 32, 32)
    assert _is_binary(item["mask"]) and item["composite"].dtype == torch.float32
    assert 0 <= item["composite"].min() and item["composite"].max() <= 1


def test_iharmony4_subsets(tmp_path):
    _make_iharmony4(tmp_path)
    ds = build_dataset(DataConfig(kind="iharmony4", root=str(tmp_path), subsets=("HFlickr",)),
                       "test")
    assert {ds[i]["subset"] for i in range(len(ds))} == {"HFlickr"}
    with pytest.raises(ValueError, match="HAdobe5k"):
        build_dataset(DataConfig(kind="iharmony4", root=str(tmp_path), subsets=("HAdobe5k",)),
                      "test")


def test_bad_files_are_skipped_with_reason_or_stop(tmp_path, caplog):
    tests = _make_iharmony4(tmp_path)
    missing_mask = tmp_path / "HCOCO" / "masks" / "c101_501.png"
    missing_mask.unlink()
    corrupt = tmp_path / "HFlickr" / "composite_images" / tests["HFlickr"][0]
    corrupt.write_bytes(b"this is not a jpeg")
    cfg = DataConfig(kind="iharmony4", root=str(tmp_path), size=16)

    with caplog.at_level(logging.WARNING, logger="train.data.base"):
        ds = build_dataset(cfg, "test")
        # The missing mask is found on construction ...
        assert [(p, r) for p, r in ds.skipped] == [(str(missing_mask), ds.skipped[0][1])]
        assert "not found" in ds.skipped[0][1]
        # ... the corrupt composite when its item is read; it is replaced by the next one.
        items = [ds[i] for i in range(len(ds))]
    assert all(it["composite"].shape == (3, 16, 16) for it in items)
    paths = [p for p, _ in ds.skipped]
    assert str(corrupt) in paths
    assert "decode" in dict(ds.skipped)[str(corrupt)]
    assert str(corrupt) in caplog.text and str(missing_mask) in caplog.text

    stop = DataConfig(kind="iharmony4", root=str(tmp_path), size=16, on_bad_file="stop")
    with pytest.raises(ValueError, match="c101_501.png"):
        build_dataset(stop, "test")
    flickr = build_dataset(DataConfig(kind="iharmony4", root=str(tmp_path), size=16,
                                      subsets=("HFlickr",), on_bad_file="stop"), "test")
    index = flickr.names.index(corrupt.name)
    with pytest.raises(BadFileError, match=corrupt.name) as info:
        flickr[index]
    assert info.value.path == str(corrupt) and "decode" in info.value.reason


# --------------------------------------------------------------------------- FFHQH

def _make_ffhqh(root: Path, real_root: Path) -> dict[str, list[str]]:
    splits = {"train": ["00000.png", "00001.png", "00002.png"], "val": ["00003.png"],
              "test": ["00004.png", "00005.png"]}
    for split, names in splits.items():
        for name in names:
            i = int(name[:5])
            real = _photo(300 + i, 64, 64)
            alpha = np.zeros((64, 64), np.uint8)
            cv2.ellipse(alpha, (32, 40), (18, 26), 0, 0, 360, 255, -1)
            alpha = cv2.GaussianBlur(alpha, (0, 0), 3)
            comp = real.copy()
            comp[alpha > 0] = (comp[alpha > 0] * 0.6).astype(np.uint8)
            _write_rgb(real_root / name, real)
            # The matte at half resolution: FFHQH's loader resizes it to the image.
            small = cv2.resize(alpha, (32, 32), interpolation=cv2.INTER_AREA)
            _write_grey(root / "alpha" / name, small)
            # One composite stored as JPEG although the list says .png: found by its stem.
            comp_name = name if i != 1 else name.replace(".png", ".jpg")
            _write_rgb(root / "comp" / comp_name, comp)
        (root / f"{split}_split.txt").write_text("\n".join(names) + "\n")
    return splits


def test_ffhqh_layout(tmp_path):
    root, real_root = tmp_path / "ffhqh", tmp_path / "ffhq_images"
    splits = _make_ffhqh(root, real_root)
    with pytest.raises(ValueError, match="images1024x1024"):
        build_dataset(DataConfig(kind="ffhqh", root=str(root)), "train")
    cfg = DataConfig(kind="ffhqh", root=str(root), real_root=str(real_root), size=None)
    for split, names in splits.items():
        ds = build_dataset(cfg, split)
        assert isinstance(ds, FFHQHDataset)
        assert ds.names == names and ds.skipped == []
        for i in range(len(ds)):
            item = ds[i]
            assert item["subset"] == "ffhqh" and item["name"] == names[i]
            assert item["real"].shape == (3, 64, 64) and item["mask"].shape == (1, 64, 64)
            assert _is_binary(item["mask"])
            frac = item["mask"].mean().item()
            assert 0.2 < frac < 0.5
    test = build_dataset(cfg, "test")
    np.testing.assert_array_equal((test[0]["real"] * 255).round().byte().permute(1, 2, 0).numpy(),
                                  _read_rgb(real_root / "00004.png"))
    sized = build_dataset(DataConfig(kind="ffhqh", root=str(root), real_root=str(real_root),
                                     size=32), "train")
    assert sized[1]["composite"].shape == (3, 32, 32) and _is_binary(sized[1]["mask"])

    (real_root / "00005.png").unlink()
    ds = build_dataset(cfg, "test")
    assert ds.names == ["00004.png"]
    assert ds.skipped == [(str(real_root / "00005.png"), "file not found")]


# --------------------------------------------------------------------------- synthetic

_PHOTO_NAMES = [f"{d}/photo{i}.{ext}" for d, ext in (("indoor", "jpg"), ("outdoor", "png"))
                for i in range(6)]


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos")
    for i, name in enumerate(_PHOTO_NAMES):
        _write_rgb(root / name, _photo(i, 60 + 4 * i, 80))
    return root


def _synth_cfg(root: Path, **kw) -> DataConfig:
    base = dict(kind="synthetic", root=str(root), size=48, val_fraction=0.25, test_fraction=0.25,
                samples_per_image=3, seed=7)
    base.update(kw)
    return DataConfig(**base)


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in ("composite", "mask", "real")) and \
        a["name"] == b["name"]


def test_synthetic_deterministic_and_epochs(photo_dir):
    cfg = _synth_cfg(photo_dir)
    a, b = build_dataset(cfg, "train"), build_dataset(cfg, "train")
    assert isinstance(a, SyntheticDataset) and len(a) == 3 * len(a.photos)
    for i in (0, 4, len(a) - 1):
        assert _same(a[i], b[i])
        assert _same(a[i], a[i])
    first = [a[i] for i in range(4)]
    a.set_epoch(1)
    second = [a[i] for i in range(4)]
    assert all(not torch.equal(x["composite"], y["composite"]) for x, y in zip(first, second))
    assert all(x["name"] == y["name"] for x, y in zip(first, second))
    a.set_epoch(0)
    assert all(_same(x, a[i]) for i, x in enumerate(first))
    # Another seed, other samples.
    other = build_dataset(_synth_cfg(photo_dir, seed=8), "train")
    assert not torch.equal(other[0]["mask"], first[0]["mask"])
    # Val and test do not change with the epoch.
    val = build_dataset(cfg, "val")
    v0 = val[0]
    val.set_epoch(5)
    assert _same(v0, val[0])


def test_synthetic_splits_by_source_image(photo_dir):
    cfg = _synth_cfg(photo_dir)
    sources = {}
    for split in ("train", "val", "test"):
        ds = build_dataset(cfg, split)
        assert len(ds) > 0
        names = {ds[i]["name"] for i in range(len(ds))}
        sources[split] = {n.rsplit("#", 1)[0] for n in names}
        assert sources[split] == set(ds.photos)
    assert not sources["train"] & sources["val"]
    assert not sources["train"] & sources["test"]
    assert not sources["val"] & sources["test"]
    assert sources["train"] | sources["val"] | sources["test"] == set(_PHOTO_NAMES)
    # Independent of the seed and of the samples per photo.
    again = build_dataset(_synth_cfg(photo_dir, seed=99, samples_per_image=1), "test")
    assert set(again.photos) == sources["test"]


def test_synthetic_composite_keeps_background_changes_foreground(photo_dir):
    ds = build_dataset(_synth_cfg(photo_dir, samples_per_image=4), "train")
    changed = 0
    for i in range(len(ds)):
        item = ds[i]
        comp, mask, real = item["composite"], item["mask"], item["real"]
        assert comp.shape == (3, 48, 48) and mask.shape == (1, 48, 48) and real.shape == comp.shape
        assert comp.dtype == mask.dtype == real.dtype == torch.float32
        assert _is_binary(mask) and item["subset"] == "synthetic"
        assert 0 <= comp.min() and comp.max() <= 1
        frac = mask.mean().item()
        assert MIN_FOREGROUND - 0.02 <= frac <= MAX_FOREGROUND + 0.02
        bg = (mask == 0).expand_as(comp)
        assert torch.equal(comp[bg], real[bg])
        fg = (mask == 1).expand_as(comp)
        changed += (comp[fg] - real[fg]).abs().mean().item() > 1 / 255
    assert changed >= 0.8 * len(ds)


def test_synthetic_native_size(photo_dir):
    ds = build_dataset(_synth_cfg(photo_dir, size=None, samples_per_image=1), "test")
    for i in range(len(ds)):
        item = ds[i]
        h, w = _read_rgb(photo_dir / item["name"].rsplit("#", 1)[0]).shape[:2]
        assert item["composite"].shape == (3, h, w) and item["mask"].shape == (1, h, w)
        assert _is_binary(item["mask"])


def test_synthetic_folder_masks(tmp_path):
    root = tmp_path / "photos"
    for i in range(8):
        _write_rgb(root / f"p{i}.jpg", _photo(50 + i, 40, 56))
    masks = root / "masks"  # inside the photo folder: must not be taken for photos
    masks.mkdir()
    for i in range(7):  # p7 has no mask
        m = np.zeros((40, 56), np.uint8)
        m[10:35, 5 + i:30 + i] = 255
        assert cv2.imwrite(str(masks / f"p{i}.png"), m)
    cfg = DataConfig(kind="synthetic", root=str(root), masks=f"folder:{masks}", size=None,
                     val_fraction=0.0, test_fraction=0.0, samples_per_image=1)
    ds = build_dataset(cfg, "train")
    assert sorted(ds.photos) == [f"p{i}.jpg" for i in range(7)]
    assert ds.skipped == [(str(root / "p7.jpg"), f"no mask file for it in {masks}")]
    for i in range(len(ds)):
        item = ds[i]
        stem = item["name"].split(".")[0]
        want = cv2.imread(str(masks / f"{stem}.png"), cv2.IMREAD_GRAYSCALE) > 127
        got = item["mask"][0].bool().numpy()
        # Train may flip left-right; the mask goes with the image either way.
        assert np.array_equal(got, want) or np.array_equal(got, want[:, ::-1])


def test_mediapipe_masks_need_the_segmenter(photo_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "vcam.segmenter", None)
    with pytest.raises(ImportError, match="vcam.segmenter"):
        build_dataset(_synth_cfg(photo_dir, masks="mediapipe"), "train")


def test_mediapipe_masks_fall_back_without_a_person(photo_dir):
    try:
        from vcam.segmenter import DEFAULT_MODEL_PATH
    except ImportError as exc:
        pytest.skip(f"vcam.segmenter not importable: {exc}")
    if not Path(DEFAULT_MODEL_PATH).is_file():
        pytest.skip("segmentation model not present")
    ds = build_dataset(_synth_cfg(photo_dir, masks="mediapipe", samples_per_image=1), "test")
    try:
        item = ds[0]
    finally:
        ds._masker.close()
    # Smooth colour fields hold no person: a drawn mask stands in.
    frac = item["mask"].mean().item()
    assert _is_binary(item["mask"]) and MIN_FOREGROUND <= frac <= MAX_FOREGROUND


def test_set_epoch_reaches_persistent_workers(photo_dir):
    ds = build_dataset(_synth_cfg(photo_dir, samples_per_image=1), "train")
    expected = []
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        expected.append(torch.stack([ds[i]["composite"] for i in range(len(ds))]))
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), num_workers=1,
                                         persistent_workers=True)
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        (batch,) = list(loader)
        assert torch.equal(batch["composite"], expected[epoch])


def test_synth_mask_fraction_and_determinism():
    for seed in range(20):
        m = synth_mask(40, 64, torch.Generator().manual_seed(seed))
        assert m.shape == (40, 64) and m.dtype == np.float32
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert MIN_FOREGROUND <= m.mean() <= MAX_FOREGROUND
        again = synth_mask(40, 64, torch.Generator().manual_seed(seed))
        assert np.array_equal(m, again)


def test_fit_to_size_same_crop_for_all():
    img = np.arange(30 * 50 * 3, dtype=np.uint8).reshape(30, 50, 3)
    mask = np.zeros((30, 50), np.float32)
    mask[:, :25] = 1
    c_img, c_mask = fit_to_size([img, mask], None, None)
    assert c_img.shape == (30, 50, 3)
    c_img, c_mask = fit_to_size([img, mask], 30, None)  # centre crop, no resize
    np.testing.assert_array_equal(c_img, img[:, 10:40])
    np.testing.assert_array_equal(c_mask, mask[:, 10:40])


# --------------------------------------------------------------------------- DataConfig

@pytest.mark.parametrize("key, value", [
    ("kind", "coco"), ("masks", "magic"), ("masks", "folder:"), ("size", 0), ("size", 4),
    ("val_fraction", 1.5), ("test_fraction", -0.1), ("samples_per_image", 0),
    ("on_bad_file", "ignore"),
])
def test_dataconfig_refuses_bad_values(key, value):
    with pytest.raises(ValueError, match=f"DataConfig.{key}"):
        DataConfig(**{key: value})


def test_dataconfig_types_and_splits(tmp_path):
    with pytest.raises(TypeError, match="DataConfig.size"):
        DataConfig(size="256")
    with pytest.raises(ValueError, match="DataConfig.val_fraction"):
        DataConfig(val_fraction=0.6, test_fraction=0.5)
    assert DataConfig(subsets="HCOCO, HFlickr").subsets == ("HCOCO", "HFlickr")
    with pytest.raises(ValueError, match="split"):
        build_dataset(DataConfig(root=str(tmp_path)), "dev")
    with pytest.raises(ValueError, match="root"):
        build_dataset(DataConfig(), "train")
    with pytest.raises(ValueError, match="no photos"):
        build_dataset(DataConfig(root=str(tmp_path)), "train")


# --------------------------------------------------------------------------- augmentations

def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(seed)


def test_jitter_factor_ranges():
    p = augment.jitter_factors(4000, _gen())
    for key, lo, hi in (("brightness", 0.5, 1.5), ("contrast", 0.6, 1.4),
                        ("saturation", 0.94, 1.06), ("hue", -0.05, 0.05)):
        v = p[key]
        assert lo <= v.min() and v.max() <= hi
        assert v.min() < lo + 0.02 * (hi - lo) and v.max() > hi - 0.02 * (hi - lo)
    assert torch.equal(p["order"].sort(dim=1).values, torch.arange(4).expand(4000, 4))
    assert len({tuple(o) for o in p["order"].tolist()}) == 24


def test_brightness_jitter_range_on_images():
    grey = torch.full((256, 3, 4, 4), 0.5, device=DEVICE)
    out = augment.color_jitter(grey, _gen(), brightness=0.5, contrast=0, saturation=0, hue=0)
    factors = out[:, 0, 0, 0] / 0.5
    assert factors.min() >= 0.5 - 1e-5 and factors.max() <= 1.5 + 1e-5
    assert factors.min() < 0.6 and factors.max() > 1.4
    # One factor per image of the batch, the same for every pixel and channel.
    assert torch.allclose(out, out[:, :1, :1, :1].expand_as(out))


def test_hue_shift_range():
    base = torch.tensor([0.9, 0.3, 0.2], device=DEVICE).view(1, 3, 1, 1).expand(300, 3, 2, 2)
    out = augment.color_jitter(base, _gen(1), brightness=0, contrast=0, saturation=0, hue=0.05)
    h_in = augment.rgb_to_hsv(base)[:, 0, 0, 0]
    h_out = augment.rgb_to_hsv(out)[:, 0, 0, 0]
    shift = torch.remainder(h_out - h_in + 0.5, 1.0) - 0.5
    assert shift.abs().max() <= 0.05 + 1e-4
    assert shift.min() < -0.04 and shift.max() > 0.04
    # Hue only: saturation and value are kept.
    hsv_in, hsv_out = augment.rgb_to_hsv(base), augment.rgb_to_hsv(out)
    assert torch.allclose(hsv_in[:, 1:], hsv_out[:, 1:], atol=1e-4)


def test_hsv_round_trip_and_known_values():
    x = torch.rand(2, 3, 8, 8, generator=_gen(2)).to(DEVICE)
    assert torch.allclose(augment.hsv_to_rgb(augment.rgb_to_hsv(x)), x, atol=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0], device=DEVICE).view(3, 1, 1)
    assert torch.allclose(augment.adjust_hue(red, 1 / 3).flatten(),
                          torch.tensor([0.0, 1.0, 0.0], device=DEVICE), atol=1e-6)


def test_posterize_keeps_top_six_bits():
    x = torch.rand(2, 3, 16, 16, generator=_gen(3)).to(DEVICE)
    out = augment.posterize(x, 6)
    q = (out * 255).round().to(torch.int32)
    assert torch.all(q % 4 == 0)
    assert torch.all((x * 255).round() - q < 4)
    p = augment.random_posterize(x, _gen(), bits=6, p=1.0)
    assert torch.equal(p, out)
    assert torch.equal(augment.random_posterize(x, _gen(), p=0.0), x)


def test_sharpness_and_autocontrast_semantics():
    x = torch.rand(3, 12, 12, generator=_gen(4)).to(DEVICE)
    assert torch.allclose(augment.adjust_sharpness(x, 1.0), x)
    s = augment.adjust_sharpness(x, 4.0)
    # The one-pixel border is kept.
    assert torch.allclose(s[:, 0], x[:, 0], atol=1e-6)
    assert torch.allclose(s[:, :, -1], x[:, :, -1], atol=1e-6)
    assert s[:, 1:-1, 1:-1].std() > x[:, 1:-1, 1:-1].std()
    dull = 0.3 + 0.2 * x
    a = augment.autocontrast(dull)
    assert torch.allclose(a.amin(dim=(1, 2)), torch.zeros(3, device=DEVICE), atol=1e-6)
    assert torch.allclose(a.amax(dim=(1, 2)), torch.ones(3, device=DEVICE), atol=1e-6)
    flat = torch.full((3, 4, 4), 0.4, device=DEVICE)
    assert torch.equal(augment.autocontrast(flat), flat)


def test_augment_foreground_batched_range_and_reproducible():
    x = torch.rand(6, 3, 20, 20, generator=_gen(5)).to(DEVICE)
    a = augment.augment_foreground(x, _gen(11))
    b = augment.augment_foreground(x, _gen(11))
    assert a.shape == x.shape and a.dtype == x.dtype and a.device == x.device
    assert torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    assert not torch.equal(a, x)
    # Parameters are drawn per image: identical inputs come out differently.
    same = x[:1].expand(6, -1, -1, -1).contiguous()
    c = augment.augment_foreground(same, _gen(12))
    assert len({round(float(t.sum()), 3) for t in c}) > 1
    single = augment.augment_foreground(x[0], _gen(13))
    assert single.shape == (3, 20, 20)
    with pytest.raises(ValueError, match="shape"):
        augment.augment_foreground(torch.rand(4, 20, 20), _gen())
    with pytest.raises(TypeError, match="float"):
        augment.augment_foreground(torch.zeros(3, 4, 4, dtype=torch.uint8), _gen())


# --------------------------------------------------------------------------- FFHQH writer

def test_make_ffhqh_round_trip(photo_dir, tmp_path, capsys):
    out = tmp_path / "set"
    argv = ["--photos", str(photo_dir), "--out", str(out), "--size", "40",
            "--samples-per-image", "2", "--val-fraction", "0.25", "--test-fraction", "0.25",
            "--seed", "3"]
    assert make_ffhqh_main(argv) == 0
    assert "items written" in capsys.readouterr().out
    src_cfg = _synth_cfg(photo_dir, size=40, samples_per_image=2, seed=3)
    for split in ("train", "val", "test"):
        names = (out / f"{split}_split.txt").read_text().split()
        src = build_dataset(src_cfg, split)
        assert len(names) == len(src) > 0
        back = build_dataset(DataConfig(kind="ffhqh", root=str(out), size=None), split)
        assert back.names == names and back.skipped == []
        if split == "train":
            continue  # train items may come back flipped
        for i in range(len(back)):
            got, want = back[i], src[i]
            for key in ("composite", "mask", "real"):
                assert torch.allclose(got[key], want[key], atol=0.5 / 255), (split, i, key)
    for sub in ("comp", "alpha", "images1024x1024"):
        assert len(list((out / sub).iterdir())) == sum(
            len((out / f"{s}_split.txt").read_text().split()) for s in ("train", "val", "test"))


# --------------------------------------------------------------------------- corpus

def test_corpus_filters_and_licences():
    flat = np.full((300, 300, 3), 128, np.uint8)
    assert "grey" in reject_reason(flat)
    assert "small" in reject_reason(_photo(0, 100, 120))
    assert reject_reason(_photo(1, 300, 400)) is None
    text = ("Files: *\nCopyright: 2000, Someone\nLicense: BSD-3-Clause\n\n"
            "Files: nature/Dune.jpg\n       nature/Storm.jpg\n"
            "Copyright: 2008, A\n           2009, B\nLicense: GPL-2+\n Long text.\n")
    stanzas = copyright_stanzas(text)
    assert licence_for(stanzas, "nature/Storm.jpg") == "GPL-2+; (c) 2008, A / 2009, B"
    assert licence_for(stanzas, "other.png") == "BSD-3-Clause; (c) 2000, Someone"


def test_corpus_skimage_reproducible(tmp_path, monkeypatch):
    """scikit-image gives four scenes and one person (the astronaut); no network: the matte and
    the face detector are stand-ins."""
    pytest.importorskip("skimage")
    from train.corpus.people import PeopleTools

    def matte(self, rgb):
        alpha = np.zeros(rgb.shape[:2], np.float32)
        alpha[rgb.shape[0] // 4:, rgb.shape[1] // 4:-rgb.shape[1] // 4] = 1.0
        return alpha, "rvm"

    monkeypatch.setattr(PeopleTools, "matte", matte)
    monkeypatch.setattr(PeopleTools, "faces", lambda self, rgb: [(180, 60, 100, 110)])
    a, b = tmp_path / "a", tmp_path / "b"
    want = {"skimage": {"scene": 4, "person": 1, "object": 0}}
    assert build_corpus(a, ["skimage"], max_side=256) == want
    assert build_corpus(b, ["skimage"], max_side=256) == want
    files = sorted(p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file())
    assert {"MANIFEST.tsv", "scenes/skimage__chelsea.png", "people/skimage__astronaut.jpg",
            "people/masks/skimage__astronaut.png"} <= set(files)
    assert not any(f.startswith("scenes/") and "astronaut" in f for f in files)
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes()
    lines = (a / "MANIFEST.tsv").read_text().splitlines()
    assert lines[0].split("\t") == ["name", "kind", "split", "group", "people", "mask",
                                     "mask_source", "faces", "source", "original", "licence",
                                     "sha256"]
    assert [ln.split("\t")[0] for ln in lines[1:]] == sorted(ln.split("\t")[0] for ln in lines[1:])
    astronaut = cv2.imread(str(a / "people/skimage__astronaut.jpg"))
    assert max(astronaut.shape[:2]) == 256
    assert cv2.imread(str(a / "people/masks/skimage__astronaut.png"), cv2.IMREAD_UNCHANGED).shape \
        == astronaut.shape[:2]
    row = next(ln.split("\t") for ln in lines if ln.startswith("people/skimage__astronaut"))
    assert row[1:5] == ["person", "test", "astronaut", "1"]
    assert row[7] == "90,30,50,55"  # the face box, scaled with the picture (512 -> 256)
    assert str(tmp_path) not in (a / "MANIFEST.tsv").read_text()
