"""The classical light transfer (phnet.light): what a user relies on when the camera moves them
from their room's light to the scene's."""
import cv2
import numpy as np
import pytest
from skimage import data

from phnet import light as L


def _person():
    """The astronaut at 256x256 with a person-shaped mask (an ellipse: no segmenter needed)."""
    img = cv2.resize(data.astronaut(), (256, 256), interpolation=cv2.INTER_AREA)
    mask = np.zeros((256, 256), np.float32)
    cv2.ellipse(mask, (110, 150), (70, 110), 0, 0, 360, 1.0, -1)
    return img, cv2.GaussianBlur(mask, (0, 0), 2)


def _f(x):
    return x.astype(np.float32) / 255


def _u8(x):
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def test_srgb_round_trip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    assert np.abs(L.linear_to_srgb(L.srgb_to_linear(x)) - x).max() < 1e-5


def test_own_room_is_left_exactly_as_captured():
    img, mask = _person()
    change = L.light_change(_f(img), mask, _f(img))
    assert np.all(change == 0.0)
    assert L.LightTransfer()(img, mask, img) is img


def test_a_relit_room_is_measured_and_undone_within_a_few_levels():
    img, mask = _person()
    true = np.array([0.6, 0.5, 0.2])  # brighter, a little warmer
    relit = _u8(L.relight(_f(img), true))
    comp = _u8(_f(img) * mask[..., None] + _f(relit) * (1 - mask[..., None]))
    change = L.light_change(_f(comp), mask, _f(img), L.LightConfig(max_warm_ev=2, max_tint_ev=2))
    assert np.abs(change - true).max() < 0.05
    out = L.LightTransfer(L.LightConfig(max_warm_ev=2, max_tint_ev=2))(comp, mask, img)
    person = mask > 0.5
    err_before = np.abs(comp.astype(float) - relit)[person].mean()
    err_after = np.abs(out.astype(float) - relit)[person].mean()
    assert err_after < 0.1 * err_before


def test_every_change_is_capped_whatever_the_backgrounds():
    cfg = L.LightConfig(max_ev=1.0, max_warm_ev=0.2, max_tint_ev=0.05)
    for raw in ([5.0, 5.0, 5.0], [-4.0, 3.0, -4.0], [3.0, -2.0, -6.0]):
        c = L.cap_change(np.array(raw), cfg)
        exposure = np.log2(L.LUMA @ np.exp2(c))
        assert abs(exposure) <= 1.0 + 0.05
        balance = c - c.mean()
        assert np.abs(balance).max() <= 0.2 + 0.05 + 0.05


def test_a_white_room_behind_a_person_cannot_darken_them_beyond_the_cap():
    img, mask = _person()
    white = np.full_like(img, 250)  # a bright wall: 250 is below the clip level, so it counts
    room = _u8(_f(img) * mask[..., None] + _f(white) * (1 - mask[..., None]))
    dark_scene = np.full_like(img, 20)
    comp = _u8(_f(img) * mask[..., None] + _f(dark_scene) * (1 - mask[..., None]))
    out = L.LightTransfer()(comp, mask, room)
    person = mask > 0.9
    ratio = L.srgb_to_linear(_f(out))[person].mean() / L.srgb_to_linear(_f(comp))[person].mean()
    assert 0.45 < ratio < 0.55  # one stop at most


def test_clipped_pixels_do_not_bias_the_estimate():
    img, mask = _person()
    up = np.array([1.0, 1.0, 1.0])
    relit = _u8(L.relight(_f(img), up))  # one stop up: the bright sky clips
    comp = _u8(_f(img) * mask[..., None] + _f(relit) * (1 - mask[..., None]))
    change = L.light_change(_f(comp), mask, _f(img))
    assert np.abs(change - up).max() < 0.1


def test_no_background_means_no_change():
    img, _ = _person()
    full = np.ones((256, 256), np.float32)
    assert np.all(L.light_change(_f(img), full, _f(img[::-1])) == 0.0)


def test_tracker_smooths_and_caps_each_step():
    t = L.LightTracker(momentum=0.5, max_step_ev=0.1)
    first = t.update(np.array([0.2, 0.2, 0.2]))
    assert np.allclose(first, 0.2)
    second = t.update(np.array([1.0, 1.0, 1.0]))
    assert np.allclose(second, 0.3)  # half the way is 0.4, capped at 0.1 per step
    t.reset()
    assert np.allclose(t.update(np.zeros(3)), 0.0)


def test_a_background_fading_through_black_holds_the_person_where_they_were():
    # A video background with black frames between scenes: no light to estimate there. Before,
    # each such frame pulled the person 0.1 EV back towards "no change", and the next scene
    # pushed them out again: a visible pumping of the face at every cut.
    img, mask = _person()
    dark = (img.astype(np.float32) * 0.35).astype(np.uint8)  # a dim scene: about -1.5 EV
    m3 = mask[..., None]

    def over(bg):
        return np.clip(np.rint(m3 * img + (1 - m3) * bg), 0, 255).astype(np.uint8)

    harmoniser = L.LightTransfer(momentum=1.0)
    face = (slice(60, 120), slice(90, 130))
    moved = [harmoniser(over(dark), mask, img)[face].mean() for _ in range(3)]
    black = [harmoniser(over(np.zeros_like(img)), mask, img)[face].mean() for _ in range(8)]
    assert moved[-1] < img[face].mean() - 20  # darkened to the dim scene's light
    assert np.allclose(black, moved[-1], atol=0.5)  # held through the black frames
    assert L.estimate_change(_f(np.zeros_like(img)), mask, _f(img)) is None
    assert np.all(L.light_change(_f(np.zeros_like(img)), mask, _f(img)) == 0.0)


def test_tracker_holds_without_an_estimate():
    t = L.LightTracker(momentum=0.5, max_step_ev=0.1)
    assert np.allclose(t.update(None), 0.0) and t.change is None  # nothing yet: no change
    t.update(np.array([0.4, 0.4, 0.4]))
    assert np.allclose(t.update(None), 0.4)


def test_8_bit_frames_are_judged_exactly_as_their_float_copies():
    # The camera's path estimates on uint8 frames by lookup; the result must not differ.
    img, mask = _person()
    rng = np.random.default_rng(0)
    for _ in range(10):
        room = rng.integers(0, 256, img.shape, np.uint8)
        room[:40] = 255  # clipped rows: left out by the same rule
        scene = (rng.random(img.shape) * rng.random(3) * 255).astype(np.uint8)
        composite = _u8(mask[..., None] * _f(img) + (1 - mask[..., None]) * _f(scene))
        captured = _u8(mask[..., None] * _f(img) + (1 - mask[..., None]) * _f(room))
        as_float = lambda x: x.astype(np.float32) * np.float32(1 / 255.0)  # noqa: E731 - as before
        exact = L.estimate_change(as_float(composite), mask, as_float(captured))
        assert np.array_equal(L.estimate_change(composite, mask, captured), exact)


def test_lut_equals_the_per_pixel_move():
    img, _ = _person()
    change = np.array([0.4, 0.1, -0.3])
    direct = _u8(L.relight(_f(img), change, knee=0.8))
    table = cv2.LUT(img, L.change_lut(change, knee=0.8))
    assert np.abs(direct.astype(int) - table).max() <= 1


def test_light_transfer_refuses_a_captured_frame_of_another_size():
    img, mask = _person()
    with pytest.raises(ValueError, match="captured shape"):
        L.LightTransfer()(img, mask, img[:128])
    with pytest.raises(TypeError, match="captured"):
        L.LightTransfer()(img, mask, img.astype(np.float32))


def test_without_captured_the_light_transfer_passes_the_composite_through():
    img, mask = _person()
    assert L.LightTransfer()(img, mask) is img


@pytest.mark.parametrize("bad", [{"max_ev": -1.0}, {"strength": 2.0}, {"p": 0.0}])
def test_config_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        L.LightConfig(**bad)


@pytest.mark.parametrize("resolution", [0, -256])
def test_light_transfer_refuses_a_resolution_below_one(resolution):
    with pytest.raises(ValueError, match="resolution"):
        L.LightTransfer(resolution=resolution)


def test_a_colour_with_a_channel_at_zero_is_judged_like_its_neighbour():
    """The default colour background, (0, 120, 80), has no red: its light is not black, so the
    person is moved (capped) as over (1, 120, 80), not left alone."""
    img, mask = _person()
    changes = []
    for colour in ((0, 120, 80), (1, 120, 80)):
        comp = np.where(mask[..., None] > 0.5, img, np.array(colour, np.uint8)).astype(np.uint8)
        changes.append(L.light_change(_f(comp), mask, _f(img)))
    assert np.abs(changes[1]).max() > 0.5
    assert np.abs(changes[0] - changes[1]).max() < 0.01
    black = np.where(mask[..., None] > 0.5, img, 0).astype(np.uint8)
    assert np.all(L.light_change(_f(black), mask, _f(img)) == 0.0)  # a black scene: no light
