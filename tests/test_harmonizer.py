"""Harmonizer: the frame-level contract the camera and the evaluation rely on."""
import numpy as np
import pytest
import torch

import phnet
from phnet.harmonizer import default_model, work_size


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = phnet.build("lite")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "w0" in name or "w1" in name:
                p.fill_(0.7)
        # The residual D6 starts at zero (an untrained lite returns its input): give it weights.
        torch.nn.init.normal_(model.decoder[-1].conv.weight, std=0.05)
    return phnet.save(model, tmp_path_factory.mktemp("ckpt") / "lite.safetensors")


def frame_and_mask(h=480, w=640, seed=0):
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.float32)
    mask[h // 5 :, w // 4 : 3 * w // 4] = 1.0
    mask[h // 5 - 6 : h // 5, w // 4 : 3 * w // 4] = 0.5  # a soft edge
    return frame, mask


def test_full_frame_in_same_size_out_background_untouched(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    frame, mask = frame_and_mask()
    out = h(frame, mask)
    assert out.shape == (480, 640, 3) and out.dtype == np.uint8
    assert np.array_equal(out[mask == 0], frame[mask == 0])
    assert not np.array_equal(out[mask == 1], frame[mask == 1])


def test_odd_frame_sizes_work(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu", resolution=128)
    frame, mask = frame_and_mask(237, 351)
    assert h(frame, mask).shape == (237, 351, 3)


def test_work_size_keeps_aspect_in_multiples_of_8():
    assert work_size(480, 640, 256) == (192, 256)
    assert work_size(1080, 1920, 512) == (288, 512)
    assert work_size(100, 60, 256) == (96, 64)


def test_video_state_is_carried_and_reset_clears_it(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu", momentum=0.2)
    first, mask = frame_and_mask(seed=1)
    second, _ = frame_and_mask(seed=2)
    fresh = h(second, mask)
    h.reset()
    h(first, mask)
    carried = h(second, mask)
    assert not np.array_equal(carried, fresh)
    h.reset()
    assert np.array_equal(h(second, mask), fresh)


def test_onnx_runtime_backend_agrees_with_pytorch(checkpoint):
    frame, mask = frame_and_mask()
    a = phnet.Harmonizer.load(checkpoint, device="cpu", backend="torch")
    b = phnet.Harmonizer.load(checkpoint, device="cpu", backend="onnxruntime")
    assert b.info()["backend"] == "onnxruntime" and b.info()["device"] == "cpu"
    for _ in range(3):  # with state
        diff = np.abs(a(frame, mask).astype(int) - b(frame, mask).astype(int))
        assert diff.max() <= 1


def test_onnx_file_loads_with_its_config(checkpoint, tmp_path):
    from phnet.export import export_onnx

    path = tmp_path / "lite.onnx"
    export_onnx(phnet.load(checkpoint), path)
    h = phnet.Harmonizer.load(path, device="cpu")
    assert h.info()["config"] == "lite" and h.resolution == 256
    with pytest.raises(ValueError, match="onnxruntime"):
        phnet.Harmonizer.load(path, backend="torch")


def test_empty_mask_returns_the_composite(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    frame, _ = frame_and_mask()
    out = h(frame, np.zeros(frame.shape[:2], np.float32))
    assert np.array_equal(out, frame)


def test_bad_inputs_name_what_was_expected(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    frame, mask = frame_and_mask()
    with pytest.raises(TypeError, match="composite"):
        h(frame.astype(np.float32), mask)
    with pytest.raises(TypeError, match="mask"):
        h(frame, mask.astype(np.float64))
    with pytest.raises(ValueError, match=r"\(480, 641\)"):
        h(frame, np.zeros((480, 641), np.float32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        h(frame, mask * 2)


def test_info_reports_what_runs(checkpoint):
    info = phnet.Harmonizer.load(checkpoint, device="cpu").info()
    assert info["method"] == "phnet" and info["backend"] == "torch"
    assert info["device"] == "cpu" and info["dtype"] == "float32"


def test_no_bundled_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="phnet-lite.safetensors"):
        default_model("cpu", "torch", tmp_path)
    with pytest.raises(FileNotFoundError, match="phnet-lite.onnx"):
        default_model("cpu", "onnxruntime", tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_cuda_requested_without_a_gpu_is_refused(checkpoint):
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        phnet.Harmonizer.load(checkpoint, device="cuda")


def test_batch_path_matches_the_network(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    images = torch.rand(2, 3, 64, 64)
    masks = torch.zeros(2, 1, 64, 64)
    masks[..., 16:, 16:48] = 1
    with torch.no_grad():
        ref = phnet.load(checkpoint)(images, masks).image
    assert torch.allclose(h.harmonize_batch(images, masks), ref, atol=1e-6)


def test_network_every_k_frames_reuses_the_colour_model(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu", network_every=3)
    calls = []

    class Counting:
        def __init__(self, runner):
            self.runner, self.device = runner, runner.device

        def __call__(self, *args):
            calls.append(1)
            return self.runner(*args)

    h.runner = Counting(h.runner)
    frame, mask = frame_and_mask()
    outs = [h(frame, mask) for _ in range(7)]
    assert len(calls) == 3  # frames 1, 4 and 7
    assert h.network_runs == 3
    assert np.array_equal(outs[1], outs[0])  # same frame, same colour model
    assert np.array_equal(outs[1][mask == 0], frame[mask == 0])
    h.reset()
    h(frame, mask)
    assert len(calls) == 4  # a reset refits at once
    with pytest.raises(ValueError, match="network_every"):
        phnet.Harmonizer.load(checkpoint, device="cpu", network_every=0)


def test_half_precision_path_agrees_with_float32(checkpoint):
    """The CUDA runner runs in float16 with float32 PN statistics; the same path on the CPU."""
    from phnet.runners import TorchRunner

    model = phnet.load(checkpoint)
    full = phnet.Harmonizer(TorchRunner(model, torch.device("cpu")), model.config, 256)
    half = phnet.Harmonizer(TorchRunner(phnet.load(checkpoint), torch.device("cpu"), half=True),
                            model.config, 256)
    assert half.info()["dtype"] == "float16"
    frame, mask = frame_and_mask()
    for _ in range(2):  # with state
        diff = np.abs(full(frame, mask).astype(int) - half(frame, mask).astype(int))
        assert diff.mean() < 1.0 and diff.max() <= 12


def test_network_thread_applies_the_latest_colour_model_without_waiting(checkpoint):
    import threading

    h = phnet.Harmonizer.load(checkpoint, device="cpu", network_thread=True)
    threads = []

    class Recording:
        def __init__(self, runner):
            self.runner, self.device = runner, runner.device

        def __call__(self, *args):
            threads.append(threading.current_thread().name)
            return self.runner(*args)

        def info(self):
            return self.runner.info()

    h.runner = Recording(h.runner)
    try:
        frame, mask = frame_and_mask()
        outs = [h(frame, mask) for _ in range(5)]
        assert h.info()["network_thread"] is True
        assert threads and set(threads) == {"phnet-network"}  # never on the caller's thread
        for out in outs:
            assert out.shape == frame.shape and np.array_equal(out[mask == 0], frame[mask == 0])
        h.reset()
        assert h.models.read()[1] is None
        assert h(frame, mask).shape == frame.shape  # the first frame after a reset waits for one
    finally:
        h.close()
        h.close()  # idempotent


def test_network_thread_reports_errors_to_the_caller(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu", network_thread=True)

    def broken(*args):
        raise RuntimeError("network exploded")

    broken.device = h.runner.device
    h.runner = broken
    frame, mask = frame_and_mask()
    try:
        with pytest.raises(RuntimeError, match="network exploded"):
            h(frame, mask)
    finally:
        h.close()


def test_a_mask_with_nan_is_refused(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    frame, mask = frame_and_mask()
    mask[10, 10] = np.nan
    with pytest.raises(ValueError, match="finite"):
        h(frame, mask)


def test_cpu_frame_path_agrees_with_the_tensor_path(checkpoint):
    """Frames on the CPU take the NumPy/OpenCV path (OpenCV downscaling, colour model upsampled
    once, applied in the mask's box); on a camera-like (smooth) frame it must give what the
    tensor path gives, to a few grey levels (the two downscalers weigh pixels differently)."""
    import cv2

    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    frame, mask = frame_and_mask(360, 500)
    frame = cv2.GaussianBlur(frame, (0, 0), 4)
    fast = h(frame, mask)
    h.reset()
    comp = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
    ref = h._harmonise_full(comp, torch.from_numpy(mask)[None, None])
    ref = ref[0].permute(1, 2, 0).mul(255).round().clamp(0, 255).byte().numpy()
    diff = np.abs(fast.astype(int) - ref.astype(int))
    assert diff.max() <= 3 and diff.mean() < 0.05
    assert not np.array_equal(fast[mask == 1], frame[mask == 1])
    assert np.array_equal(fast[mask == 0], frame[mask == 0])


@pytest.mark.slow
def test_compiled_network_agrees_with_eager(checkpoint):
    """torch.compile (CUDA graphs on a GPU) must not change the pictures; checked on the CPU."""
    frame, mask = frame_and_mask(96, 128)
    eager = phnet.Harmonizer.load(checkpoint, device="cpu")
    compiled = phnet.Harmonizer.load(checkpoint, device="cpu", compile=True)
    assert compiled.info()["compiled"] is True
    for _ in range(2):  # the first frame without state, the second with it
        diff = np.abs(eager(frame, mask).astype(int) - compiled(frame, mask).astype(int))
        assert diff.max() <= 1


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")  # torch.compile's import
def test_compile_needs_the_pytorch_backend(checkpoint):
    with pytest.raises(ValueError, match="PyTorch backend"):
        phnet.Harmonizer.load(checkpoint, device="cpu", backend="onnxruntime", compile=True)
    # The bundled model with compile=True: its checkpoint on PyTorch (compiled on first call).
    assert phnet.Harmonizer.load(device="cpu", compile=True).info()["backend"] == "torch"


@pytest.mark.parametrize("make", ["harmonizer", "colortransfer"])
def test_an_empty_image_and_a_nan_are_named_as_such(checkpoint, make):
    # Failed before: a 0x0 image raised NumPy's "zero-size array to reduction operation minimum
    # which has no identity"; one NaN in a mask was reported as "got [nan, nan]".
    from phnet.colortransfer import ColorTransfer

    h = (phnet.Harmonizer.load(checkpoint, device="cpu") if make == "harmonizer"
         else ColorTransfer())
    with pytest.raises(ValueError, match=r"composite must be RGB HxWx3 with H, W > 0, got "
                                         r"shape \(0, 0, 3\)"):
        h(np.zeros((0, 0, 3), np.uint8), np.zeros((0, 0), np.float32))
    frame, mask = frame_and_mask()
    mask[10, 12] = np.nan
    with pytest.raises(ValueError) as info:
        h(frame, mask)
    assert str(info.value) == ("mask values must be finite and lie in [0, 1], got 1 non-finite "
                               "value (the first, nan, at row 10, column 12)")
    mask[10, 12] = 1.5
    with pytest.raises(ValueError, match=r"got values in \[0, 1.5\]"):
        h(frame, mask)


def test_the_camera_stages_refuse_an_empty_frame_in_words():
    # Failed before: composite() on a 0x0 frame killed the process (SIGFPE in OpenCV).
    from vcam.compositor import composite

    empty = np.zeros((0, 0, 3), np.uint8)
    with pytest.raises(ValueError, match=r"H, W > 0"):
        composite(empty, empty, np.zeros((0, 0), np.float32))
