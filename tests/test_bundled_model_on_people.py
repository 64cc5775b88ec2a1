"""The camera's harmonisers on a real person, as the camera runs them (the light transfer, the
default; the bundled PHNet on ONNX Runtime; a real MediaPipe mask; the photo as the captured
frame): a person who needs no correction comes out unchanged, and over every bundled background
their skin keeps its own colour (the green face the first model painted)."""
import cv2
import numpy as np
import pytest

import phnet
from phnet.light import LUMA, LightTransfer, relight, srgb_to_linear
from vcam.images import BACKGROUND_PATHS, PORTRAIT_PATH, cover_crop, read_rgb
from vcam.segmenter import Segmenter


@pytest.fixture(scope="module")
def person():
    photo = read_rgb(PORTRAIT_PATH)
    with Segmenter() as seg:
        low = seg(photo, 0)  # at the model's resolution, as the camera's refiner receives it
    mask = np.clip(cv2.resize(low, photo.shape[1::-1], interpolation=cv2.INTER_LINEAR), 0, 1)
    assert mask.mean() > 0.1  # the astronaut is found
    return photo, mask


@pytest.fixture(scope="module", params=["light", "phnet"])
def harmoniser(request):
    h = LightTransfer() if request.param == "light" else phnet.Harmonizer.load(backend="onnxruntime")
    yield h
    getattr(h, "close", lambda: None)()


def test_a_person_who_needs_nothing_comes_out_nearly_unchanged(person, harmoniser):
    photo, mask = person
    harmoniser.reset()
    out = harmoniser(photo, mask, captured=photo)
    m = mask > 0.5
    err = (out.astype(np.float64) - photo.astype(np.float64))[m]
    if isinstance(harmoniser, LightTransfer):
        assert np.array_equal(out, photo)  # over their own room: exactly as captured
    # 1/20 of the composite's relight error on the held-out sources is 13 to 40 (models/README.md).
    assert (err**2).mean() < 40, (err**2).mean()


@pytest.mark.parametrize("name", sorted(BACKGROUND_PATHS))
def test_skin_keeps_its_colour_over_every_bundled_background(person, harmoniser, name):
    photo, mask = person
    h, w = mask.shape
    bg = cover_crop(read_rgb(BACKGROUND_PATHS[name]), (w, h)).astype(np.float32)
    a = mask[..., None]
    comp = np.clip(np.rint(bg + a * (photo.astype(np.float32) - bg)), 0, 255).astype(np.uint8)
    harmoniser.reset()
    out = harmoniser(comp, mask, captured=photo)
    core = mask >= 0.95
    # A change of light may brighten or darken the person (a stop at most), and 8-bit Lab's a
    # and b shrink with lightness: compare the skin with the photo brought to the output's
    # brightness by exposure alone, so only a change of colour counts.
    lin = lambda x: srgb_to_linear(x.astype(np.float32) / 255)[core]  # noqa: E731
    ev = np.log2((lin(out) @ LUMA).mean() / (lin(photo) @ LUMA).mean())
    same_light = np.rint(relight(photo.astype(np.float32) / 255, np.full(3, ev)) * 255).astype(np.uint8)
    assert abs(ev) <= 1.05, (name, ev)
    lab0 = cv2.cvtColor(same_light, cv2.COLOR_RGB2LAB).astype(np.float64)[core].mean(0)
    lab1 = cv2.cvtColor(out, cv2.COLOR_RGB2LAB).astype(np.float64)[core].mean(0)
    da, db = lab1[1] - lab0[1], lab1[2] - lab0[2]
    assert abs(da) <= 6 and abs(db) <= 6, (name, da, db)
