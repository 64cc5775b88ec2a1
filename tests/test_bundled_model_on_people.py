"""The bundled harmoniser on a real person, as the camera runs it (ONNX Runtime, real MediaPipe
mask): a person who needs no correction comes out nearly unchanged, and over every bundled
background their skin keeps its own colour (the green face the first model painted)."""
import cv2
import numpy as np
import pytest

import phnet
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


@pytest.fixture(scope="module")
def harmoniser():
    h = phnet.Harmonizer.load(backend="onnxruntime")
    yield h
    h.close()


def test_a_person_who_needs_nothing_comes_out_nearly_unchanged(person, harmoniser):
    photo, mask = person
    harmoniser.reset()
    out = harmoniser(photo, mask)
    m = mask > 0.5
    err = (out.astype(np.float64) - photo.astype(np.float64))[m]
    # A tenth of the composite's recolour fMSE on the held-out people (models/README.md) is 133.
    assert (err**2).mean() < 60, (err**2).mean()


@pytest.mark.parametrize("name", sorted(BACKGROUND_PATHS))
def test_skin_keeps_its_colour_over_every_bundled_background(person, harmoniser, name):
    photo, mask = person
    h, w = mask.shape
    bg = cover_crop(read_rgb(BACKGROUND_PATHS[name]), (w, h)).astype(np.float32)
    a = mask[..., None]
    comp = np.clip(np.rint(bg + a * (photo.astype(np.float32) - bg)), 0, 255).astype(np.uint8)
    harmoniser.reset()
    out = harmoniser(comp, mask)
    core = mask >= 0.95
    lab0 = cv2.cvtColor(photo, cv2.COLOR_RGB2LAB).astype(np.float64)[core].mean(0)
    lab1 = cv2.cvtColor(out, cv2.COLOR_RGB2LAB).astype(np.float64)[core].mean(0)
    da, db = lab1[1] - lab0[1], lab1[2] - lab0[2]
    assert abs(da) <= 6 and abs(db) <= 6, (name, da, db)
