"""The network thread's bounded rate: a few runs a second, at once when the scene changes."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

import phnet
from phnet.network_rate import NetworkRate, frame_signature
from vcam.config import HarmoniseConfig


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def scene(h=96, w=128, level=120, person=0.5):
    frame = np.full((h, w, 3), level, np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[:, : int(w * person)] = 1.0
    return frame, mask


def test_signature_is_the_mean_colour_and_the_person_share():
    frame, mask = scene(level=80, person=0.25)
    assert np.allclose(frame_signature(frame, mask), [80, 80, 80, 0.25], atol=0.02)


def test_a_steady_scene_runs_at_the_rate_and_a_change_runs_at_once():
    clock = Clock()
    rate = NetworkRate(2.0, clock=clock)
    frame, mask = scene()
    assert rate.due(frame, mask)  # the first frame of a video
    clock.t += 0.1
    assert not rate.due(frame, mask)
    clock.t += 0.45
    assert rate.due(frame, mask)  # 0.55 s later: the interval has passed
    clock.t += 0.05
    brighter, _ = scene(level=130)
    assert rate.due(brighter, mask)  # the light changed by 10 levels
    clock.t += 0.05
    _, moved = scene(person=0.6)
    assert rate.due(brighter, moved)  # the person now covers 10 % more of the frame
    clock.t += 0.05
    assert not rate.due(brighter, moved)
    rate.reset()
    assert rate.due(brighter, moved)  # a new video


def test_unbounded_and_bad_rates():
    frame, mask = scene()
    for unbounded in (None, 0.0):
        rate = NetworkRate(unbounded)
        assert rate.rate == 0.0 and all(rate.due(frame, mask) for _ in range(5))
    with pytest.raises(ValueError, match="network_rate"):
        NetworkRate(-1.0)
    with pytest.raises(ValueError, match="network_rate"):
        HarmoniseConfig(network_rate=-1)
    assert HarmoniseConfig().network_rate == 3.0


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return phnet.save(phnet.build("nano"), tmp_path_factory.mktemp("ckpt") / "nano.safetensors")


def _wait_for(condition, seconds=30.0):
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)
    return condition()


def test_the_network_thread_skips_steady_frames_and_follows_a_light_change(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu", network_thread=True, network_rate=0.2)
    try:
        assert h.info()["network_rate"] == pytest.approx(0.2)
        frame, mask = scene(level=100)
        for _ in range(20):
            h(frame, mask)
        assert h.network_runs == 1  # the first frame only: one run in 5 s at most
        brighter, _ = scene(level=160)
        h(brighter, mask)
        assert _wait_for(lambda: h.network_runs == 2)
    finally:
        h.close()
