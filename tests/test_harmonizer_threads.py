"""Harmonizer under concurrent ``reset()``, ``close()`` and frame calls (the network thread).

The camera calls frames from its processing thread while the panel's worker resets the
harmoniser (a new background) or closes it (a new model, the effect toggled off). None of these
may block forever, and a frame in flight gets a picture, never an exception. Guards: every
thread is joined with a generous timeout and the test fails if one is still alive (a hang);
nothing asserts how long anything took.
"""
from __future__ import annotations

import itertools
import logging
import random
import threading

import numpy as np
import pytest
import torch

import phnet
from phnet.latest_worker import LatestWorker
from vcam.config import HarmoniseConfig
from vcam.harmonise_stage import HarmoniseStage

HANG = 60.0  # seconds: only ever reached when a call hangs


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = phnet.build("nano")
    with torch.no_grad():
        torch.nn.init.normal_(model.decoder[-1].conv.weight, std=0.05)
    return phnet.save(model, tmp_path_factory.mktemp("ckpt") / "nano.safetensors")


@pytest.fixture(scope="module")
def onnx_graph(checkpoint):
    """The same network as its streaming ONNX graph: the camera's ONNX Runtime path."""
    from phnet.export import export_onnx

    path = checkpoint.with_suffix(".onnx")
    export_onnx(phnet.load(checkpoint), path)
    return path


def frame_and_mask(h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[h // 4 :, w // 4 : 3 * w // 4] = 1.0
    return frame, mask


class GatedRunner:
    """Wraps a runner; on the network thread it waits for ``gate`` (the test's hand on the
    network), on any other thread it runs at once."""

    def __init__(self, runner):
        self.runner, self.device = runner, runner.device
        self.gate = threading.Event()
        self.entered = threading.Event()

    def __call__(self, *args):
        if threading.current_thread().name == "phnet-network":
            self.entered.set()
            self.gate.wait(HANG)
        return self.runner(*args)

    def info(self):
        return self.runner.info()


def threaded(checkpoint, **kwargs) -> phnet.Harmonizer:
    return phnet.Harmonizer.load(checkpoint, device="cpu", resolution=64, network_thread=True,
                                 **kwargs)


def wait_until(condition) -> None:
    event = threading.Event()
    for _ in range(int(HANG * 100)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("the condition never came true")


def call_in_thread(fn, *args):
    """Runs ``fn(*args)`` on a daemon thread; returns (thread, box) where box gets the result or
    the exception."""
    box: dict = {}

    def run():
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def test_reset_while_the_first_frame_waits_for_the_network_does_not_hang(checkpoint):
    # Failed before: the frame waited in LatestWorker.result(wait=True) for a result that
    # reset()'s clear() had made stale, forever.
    h = threaded(checkpoint)
    gated = h.runner = GatedRunner(h.runner)
    frame, mask = frame_and_mask()
    try:
        thread, box = call_in_thread(h, frame, mask)
        assert gated.entered.wait(HANG)  # the network thread runs this frame's network
        h.reset()
        gated.gate.set()
        thread.join(HANG)
        assert not thread.is_alive(), "the frame call hung after a reset()"
        assert "error" not in box, box.get("error")
        out = box["result"]
        assert out.shape == frame.shape and np.array_equal(out[mask == 0], frame[mask == 0])
    finally:
        gated.gate.set()
        h.close()


def test_close_while_a_frame_waits_for_the_network_gives_a_picture(checkpoint):
    # Failed before: result(wait=True) returned None once the worker closed, and the frame
    # raised "coeffs must be a (1, 12, h, w) tensor, got NoneType".
    h = threaded(checkpoint)
    gated = h.runner = GatedRunner(h.runner)
    frame, mask = frame_and_mask()
    try:
        thread, box = call_in_thread(h, frame, mask)
        assert gated.entered.wait(HANG)
        closer, _ = call_in_thread(h.close)
        wait_until(lambda: h._worker._closed)
        gated.gate.set()  # the network run under way ends; close() and the frame go on
        thread.join(HANG)
        closer.join(HANG)
        assert not thread.is_alive(), "the frame call hung after close()"
        assert not closer.is_alive(), "close() hung"
        assert "error" not in box, box.get("error")
        assert box["result"].shape == frame.shape
        # After close() frames still work, with the network in the frame's path.
        assert h(frame, mask).shape == frame.shape
    finally:
        gated.gate.set()
        h.close()


def test_a_stage_swapping_harmonisers_never_fails_a_frame_in_flight(checkpoint, caplog):
    # The panel's Ctrl+E: a new harmoniser is swapped in and the old one closed while the
    # processing thread is inside the old one. Failed before: the frame raised, the stage logged
    # an ERROR traceback and sent the frame unharmonised.
    h = threaded(checkpoint)
    gated = h.runner = GatedRunner(h.runner)
    config = HarmoniseConfig(model=str(checkpoint), device="cpu", resolution=64,
                             network_thread="on")
    stage = HarmoniseStage(config, harmoniser=h)
    frame, mask = frame_and_mask()
    try:
        with caplog.at_level(logging.ERROR, logger="vcam.harmonise_stage"):
            thread, box = call_in_thread(stage, frame, mask)
            assert gated.entered.wait(HANG)
            setter, _ = call_in_thread(stage.set_config, HarmoniseConfig(mode="off"))
            wait_until(lambda: h._worker._closed)  # swapped out and being closed
            gated.gate.set()
            thread.join(HANG)
            setter.join(HANG)
        assert not thread.is_alive() and not setter.is_alive()
        assert "error" not in box, box.get("error")
        assert stage.info()["failed_frames"] == 0
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # The frame got the old harmoniser's picture, not the composite passed through.
        assert not np.array_equal(box["result"][mask == 1], frame[mask == 1])
    finally:
        gated.gate.set()
        stage.close()
        h.close()


CALLS = ("frame", "reset", "close")


@pytest.mark.parametrize("pair", list(itertools.combinations_with_replacement(CALLS, 2)),
                         ids="+".join)
@pytest.mark.parametrize("network_thread", [True, False], ids=["thread", "in-path"])
@pytest.mark.parametrize("model", ["checkpoint", "onnx_graph"], ids=["torch", "onnxruntime"])
def test_stress_each_pair_of_calls_from_two_threads(request, model, pair, network_thread):
    """Two threads hammer one harmoniser with a pair of calls (a few hundred calls, a few
    seconds); every frame call returns a picture with the background untouched, no call
    raises, no call hangs. On both backends."""
    checkpoint = request.getfixturevalue(model)
    frame, mask = frame_and_mask()
    rounds, calls_per_round = 6, 12
    errors: list[BaseException] = []
    outputs: list[np.ndarray] = []
    lock = threading.Lock()

    def drive(kind: str, h: phnet.Harmonizer, seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(calls_per_round):
            try:
                if kind == "frame":
                    out = h(frame, mask)
                    with lock:
                        outputs.append(out)
                elif kind == "reset":
                    h.reset()
                else:
                    h.close()
            except BaseException as exc:  # noqa: BLE001
                with lock:
                    errors.append(exc)
            if rng.random() < 0.5:
                threading.Event().wait(rng.random() * 0.005)

    for r in range(rounds):
        h = phnet.Harmonizer.load(checkpoint, device="cpu", resolution=64,
                                  network_thread=network_thread, network_every=2)
        assert h.info()["backend"] == ("onnxruntime" if model == "onnx_graph" else "torch")
        threads = [threading.Thread(target=drive, args=(kind, h, 10 * r + i), daemon=True)
                   for i, kind in enumerate(pair)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG)
        assert not any(t.is_alive() for t in threads), f"{pair} hung"
        h.close()
    assert not errors, errors[:3]
    if "frame" in pair:
        assert outputs
    for out in outputs:
        assert out.shape == frame.shape and np.array_equal(out[mask == 0], frame[mask == 0])


def test_latest_worker_result_wait_returns_when_the_job_is_cleared():
    # Failed before: result(wait=True) without a timeout waited for the job clear() dropped.
    gate = threading.Event()
    w = LatestWorker(lambda generation, x: (gate.wait(HANG), x)[1])
    try:
        w.offer("old")
        thread, box = call_in_thread(w.result, True)
        w.clear()
        gate.set()
        thread.join(HANG)
        assert not thread.is_alive(), "result(wait=True) hung after clear()"
        assert box == {"result": None}
    finally:
        gate.set()
        w.close()
