"""A PHNet trained with the captured frame as its light reference: the bound on its change, the
Harmonizer's use of ``captured``, export, and the trainer's network input."""
import numpy as np
import pytest
import torch

import phnet
from phnet import light as L
from phnet.export import export_onnx
from train.trainer import network_input


def _model(bound=0.03, prior=True, seed=0):
    torch.manual_seed(seed)
    model = phnet.build("lite", light_prior=prior, residual_bound=bound)
    with torch.no_grad():  # an untrained residual D6 returns its input: give it weights
        torch.nn.init.normal_(model.decoder[-1].conv.weight, std=0.5)
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return phnet.save(_model(), tmp_path_factory.mktemp("ckpt") / "lite-relight.safetensors")


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    room = np.clip(rng.normal(110, 30, (240, 320, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((240, 320), np.float32)
    mask[60:, 100:220] = 1.0
    return room, mask


def test_the_change_is_bounded_whatever_the_weights():
    model = _model(bound=0.03)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p))  # wild weights
        x = torch.rand(2, 3, 64, 64)
        out = model(x, torch.ones(2, 1, 64, 64))
    assert (out.raw - x).abs().max() <= 0.03 + 1e-6
    assert not torch.allclose(out.raw, x)


def test_bound_must_be_in_range():
    with pytest.raises(ValueError, match="residual_bound"):
        phnet.build("lite", residual_bound=1.5)


def test_old_configs_load_without_the_new_fields():
    cfg = phnet.PHNetConfig.from_json('{"name": "lite", "pn_placement": "figure", "pfe_input": "image"}')
    assert cfg.light_prior is False and cfg.residual_bound == 0.0


def test_harmonizer_moves_the_person_to_the_relit_rooms_light(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    assert h.info()["light_prior"]
    room, mask = _scene()
    bright = L.relight(room.astype(np.float32) / 255, np.array([0.8, 0.8, 0.8]))
    bright = np.rint(bright * 255).astype(np.uint8)
    comp = np.where(mask[..., None] > 0.5, room, bright).astype(np.uint8)
    with_room = h(comp, mask, captured=room)
    h.reset()
    without = h(comp, mask)
    person = mask > 0.5
    # The light prior brightens the person by ~0.8 EV; the network alone is bounded to ~8 levels.
    assert with_room[person].mean() > without[person].mean() + 20
    np.testing.assert_array_equal(with_room[~person], comp[~person])


def test_over_their_own_room_the_captured_frame_changes_nothing(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    room, mask = _scene(1)
    a = h(room, mask, captured=room)
    h.reset()
    b = h(room, mask)
    np.testing.assert_array_equal(a, b)


def test_a_model_without_the_prior_ignores_captured(tmp_path):
    ck = phnet.save(_model(prior=False), tmp_path / "plain.safetensors")
    h = phnet.Harmonizer.load(ck, device="cpu")
    room, mask = _scene(2)
    other = 255 - room
    a = h(room, mask, captured=other)
    h.reset()
    np.testing.assert_array_equal(a, h(room, mask))


def test_captured_must_match_the_composite(checkpoint):
    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    room, mask = _scene()
    with pytest.raises(ValueError, match="captured shape"):
        h(room, mask, captured=room[:100])


def test_onnx_graph_carries_the_prior_and_equals_pytorch(checkpoint, tmp_path):
    model = phnet.load(checkpoint)
    path = tmp_path / "m.onnx"
    export_onnx(model, path)
    ort = phnet.Harmonizer.load(path, backend="onnxruntime")
    pt = phnet.Harmonizer.load(checkpoint, backend="torch", device="cpu")
    assert ort.info()["light_prior"]
    room, mask = _scene(3)
    dim = np.rint(room * 0.6).astype(np.uint8)
    comp = np.where(mask[..., None] > 0.5, room, dim).astype(np.uint8)
    a, b = ort(comp, mask, captured=room), pt(comp, mask, captured=room)
    assert np.abs(a.astype(int) - b).max() <= 2


def test_trainer_feeds_the_light_moved_composite_to_a_prior_model():
    room, mask = _scene(4)
    comp = np.where(mask[..., None] > 0.5, room, np.rint(room * 0.5)).astype(np.uint8)
    t = lambda x: torch.from_numpy(x.astype(np.float32) / 255).permute(2, 0, 1)[None]  # noqa: E731
    batch = {"composite": t(comp), "mask": torch.from_numpy(mask)[None, None], "captured": t(room)}
    moved = network_input(_model(prior=True), batch)
    person = torch.from_numpy(mask > 0.5)
    assert moved[0][:, person].mean() < batch["composite"][0][:, person].mean() - 0.05
    assert torch.equal(network_input(_model(prior=False), batch), batch["composite"])


def test_tensor_path_moves_the_person_as_the_frame_path_does(checkpoint):
    """The GPU's tensor path (here on CPU tensors) takes the captured frame too."""
    import cv2

    h = phnet.Harmonizer.load(checkpoint, device="cpu")
    room, mask = _scene(5)
    room = cv2.GaussianBlur(room, (0, 0), 4)
    comp = np.where(mask[..., None] > 0.5, room, np.rint(room * 0.6)).astype(np.uint8)
    fast = h(comp, mask, captured=room)
    h.reset()
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    ref = h._harmonise_full(t(comp), torch.from_numpy(mask)[None, None], t(room))
    ref = ref[0].permute(1, 2, 0).mul(255).round().clamp(0, 255).byte().numpy()
    diff = np.abs(fast.astype(int) - ref.astype(int))
    assert diff.max() <= 4 and diff.mean() < 0.2
    assert fast[mask > 0.5].mean() < comp[mask > 0.5].mean() - 10


def test_tensor_path_uploads_the_captured_frame_only_when_the_network_runs(checkpoint):
    """On a GPU the captured frame is a full-size upload: frames that reuse the colour model
    (``network_every`` > 1) must not pay for it."""
    h = phnet.Harmonizer.load(checkpoint, device="cpu", network_every=3)
    room, mask = _scene(5)
    comp = np.where(mask[..., None] > 0.5, room, np.rint(room * 0.6)).astype(np.uint8)
    t = lambda x: torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255  # noqa: E731
    uploads = []

    def captured():
        uploads.append(1)
        return t(room)

    for _ in range(6):
        h._harmonise_full(t(comp), torch.from_numpy(mask)[None, None], captured)
    assert len(uploads) == h.network_runs == 2
