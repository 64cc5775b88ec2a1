"""The streaming ONNX graph agrees with PyTorch, frame by frame, with state."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import phnet
from conftest import portrait_mask
from phnet.export import compare_with_torch, export_onnx, main, state_input_names


@pytest.fixture(scope="module")
def lite():
    model = phnet.build("lite").eval()
    with torch.no_grad():  # move PN parameters off their initial values
        for name, p in model.named_parameters():
            if any(k in name for k in ("alpha", "beta", "gamma", ".w0", ".w1", ".w2")):
                p.add_(0.3 * torch.randn_like(p))
            if any(k in name for k in ("pfe.proj", "decoder.5.conv")):  # zero at initialisation
                p.add_(0.05 * torch.randn_like(p))
    return model, export_onnx(model)


def test_graph_names_and_checker(lite):
    model, data = lite
    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto)
    names = [i.name for i in proto.graph.input]
    assert names == ["image", "mask", "momentum", *state_input_names(model)]
    assert proto.graph.output[0].name == "output"
    props = {p.key: p.value for p in proto.metadata_props}
    assert phnet.PHNetConfig.from_json(props["phnet.config"]) == model.config


def test_onnx_runtime_matches_pytorch_over_five_frames_with_state(lite):
    model, data = lite
    assert compare_with_torch(model, data, size=(192, 256), frames=5, momentum=0.3) < 1e-4


def test_dynamic_height_and_width(lite):
    model, data = lite
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    empty = [t.numpy() for b in model.state_spec() for t in model.empty_state()[b]]
    for h, w in [(64, 64), (120, 200), (256, 96)]:
        image = torch.rand(1, 3, h, w)
        mask = portrait_mask(h, w)
        feed = {"image": image.numpy(), "mask": mask.numpy(), "momentum": np.ones(2, np.float32)}
        feed.update(zip(state_input_names(model), empty))
        out = session.run(None, feed)[0]
        with torch.no_grad():
            ref = model(image, mask).image.numpy()
        assert out.shape == (1, 3, h, w)
        assert np.abs(out - ref).max() < 1e-4


def test_command_line_export_and_check(tmp_path, capsys):
    path = phnet.save(phnet.build("nano"), tmp_path / "nano.safetensors")
    assert main([str(path), "-o", str(tmp_path / "nano.onnx")]) == 0
    assert (tmp_path / "nano.onnx").is_file()
    assert "max abs diff" in capsys.readouterr().out


def test_command_line_names_a_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nope")
    assert main([str(bad)]) == 2
    assert "bad.safetensors" in capsys.readouterr().err


@pytest.mark.slow
def test_paper_exports_to_the_streaming_graph_with_its_state(tmp_path):
    """The paper's network (Fig. 3's form, ~39.9 M parameters) as the same streaming graph."""
    model = phnet.build("paper").eval()
    assert abs(sum(p.numel() for p in model.parameters()) - 39.9e6) / 39.9e6 < 0.01
    data = export_onnx(model, tmp_path / "paper.onnx")
    names = [i.name for i in onnx.load_from_string(data).graph.input]
    assert names == ["image", "mask", "momentum", *state_input_names(model)]
    assert compare_with_torch(model, data, size=(64, 96), frames=2, momentum=0.3) < 1e-3
