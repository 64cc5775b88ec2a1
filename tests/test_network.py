"""PHNet's shape contract, size, robustness to masks, temporal state and trainability."""
import pytest
import torch

import phnet
from phnet.pn import PatchNorm
from conftest import DEVICE, portrait_mask
from phnet.bench import count_macs


def test_paper_config_has_the_papers_parameter_count():
    n = sum(p.numel() for p in phnet.build("paper").parameters())
    assert abs(n - 39.9e6) / 39.9e6 < 0.01, n


def test_lite_costs_at_most_a_tenth_of_paper_at_256():
    paper = count_macs(phnet.build("paper"), 256, 256)
    lite = count_macs(phnet.build("lite"), 256, 256)
    assert 45e9 < paper < 53e9  # docs/ARCHITECTURE.md: 49.3 GMACs at 256x256
    assert lite <= paper / 10


@pytest.mark.parametrize("h,w", [(100, 64), (64, 60), (4, 8), (0, 8), (8, 8)])
def test_sizes_not_multiple_of_8_are_rejected_naming_them(h, w):
    model = phnet.build("nano").eval()
    with pytest.raises(ValueError, match=f"H={h}, W={w}"):
        model(torch.rand(1, 3, h, w), torch.ones(1, 1, h, w))


def test_mask_shape_mismatch_is_rejected():
    model = phnet.build("nano").eval()
    with pytest.raises(ValueError, match="mask"):
        model(torch.rand(1, 3, 64, 64), torch.ones(1, 1, 32, 64))


def _masks(h, w):
    one_pixel = torch.zeros(1, 1, h, w)
    one_pixel[..., h // 2, w // 2] = 1
    # The person covers everything but one cell of the 5x5 grid: one background patch left.
    all_but_one = torch.ones(1, 1, h, w)
    all_but_one[..., : h // 5, : w // 5] = 0
    return {
        "zero": torch.zeros(1, 1, h, w),
        "one": torch.ones(1, 1, h, w),
        "one_pixel": one_pixel,
        "all_but_one_patch": all_but_one,
        "portrait": portrait_mask(h, w),
        "soft": torch.rand(1, 1, h, w),
    }


@pytest.mark.parametrize("name", ["paper", "lite", "nano"])
def test_outputs_are_finite_for_every_kind_of_mask(name):
    model = phnet.build(name).eval().to(DEVICE)
    h, w = (40, 48) if name == "paper" else (80, 64)
    image = torch.rand(1, 3, h, w, device=DEVICE)
    for label, mask in _masks(h, w).items():
        with torch.no_grad():
            out = model(image, mask.to(DEVICE))
        assert torch.isfinite(out.image).all(), label
        assert torch.isfinite(out.raw).all(), label
        assert out.image.min() >= 0 and out.image.max() <= 1, label
        for block, s in out.state.items():
            assert all(torch.isfinite(t).all() for t in s), (label, block)


def test_background_is_kept_exactly():
    model = phnet.build("nano").eval()
    image = torch.rand(2, 3, 64, 64)
    mask = portrait_mask(64, 64).expand(2, 1, 64, 64)
    with torch.no_grad():
        out = model(image, mask)
    bg = mask.expand_as(image) == 0
    assert torch.equal(out.image[bg], image[bg])


def test_fully_convolutional_any_multiple_of_8():
    model = phnet.build("nano").eval()
    for h, w in [(8, 16), (24, 40), (96, 64)]:
        with torch.no_grad():
            out = model(torch.rand(1, 3, h, w), portrait_mask(h, w))
        assert out.image.shape == (1, 3, h, w)


class TestTemporalState:
    def setup_method(self):
        self.model = phnet.build("nano").eval()
        self.mask = portrait_mask(64, 64)

    def run(self, image, state, a):
        with torch.no_grad():
            return self.model(image, self.mask, state, a)

    def test_state_covers_every_pn_block_and_the_pfe(self):
        out = self.run(torch.rand(1, 3, 64, 64), None, 1.0)
        assert set(out.state) == {"pfe", "d4", "d5", "d6"} == set(self.model.state_spec())

    def test_momentum_one_equals_stateless_exactly(self):
        first = self.run(torch.rand(1, 3, 64, 64), None, 1.0)
        frame = torch.rand(1, 3, 64, 64)
        stateless = self.run(frame, None, 1.0)
        with_state = self.run(frame, first.state, 1.0)
        assert torch.equal(stateless.image, with_state.image)

    def test_empty_state_equals_no_state(self):
        frame = torch.rand(1, 3, 64, 64)
        assert torch.equal(
            self.run(frame, None, 0.3).image,
            self.run(frame, self.model.empty_state(), 0.3).image,
        )

    def test_smoothing_changes_output_and_a_constant_video_converges(self):
        a = torch.rand(1, 3, 64, 64)
        b = (a * 0.5 + 0.3).clamp(0, 1)  # a different exposure, same scene
        state = self.run(a, None, 1.0).state
        smoothed = self.run(b, state, 0.2)
        stateless = self.run(b, None, 1.0)
        assert not torch.allclose(smoothed.image, stateless.image)
        state = smoothed.state
        for _ in range(120):
            out = self.run(b, state, 0.2)
            state = out.state
        assert torch.allclose(out.image, stateless.image, atol=1e-5)

    def test_a_foreground_background_pair_smooths_only_the_background(self):
        first = self.run(torch.rand(1, 3, 64, 64), None, 1.0)
        frame = torch.rand(1, 3, 64, 64)
        now = self.run(frame, None, 1.0).state
        pair = self.run(frame, first.state, torch.tensor([1.0, 0.2])).state
        # The PFE sees the image itself (no earlier smoothing): its foreground slots (0, and the
        # foreground patches at the end) follow this frame, the background slots blend.
        s, fresh, old = pair["pfe"], now["pfe"], first.state["pfe"]
        p = self.model.pfe.grid ** 2
        fg = [0, *range(2 + p, 2 + 2 * p)]
        bg = list(range(1, 2 + p))
        assert torch.equal(s.mean[..., fg], fresh.mean[..., fg])
        both = (fresh.valid[:, bg] > 0) & (old.valid[:, bg] > 0)
        expected = 0.8 * old.mean[..., bg] + 0.2 * fresh.mean[..., bg]
        got = s.mean[..., bg]
        assert both.any()
        assert torch.allclose(got[both.unsqueeze(1).expand_as(got)],
                              expected[both.unsqueeze(1).expand_as(got)], atol=1e-6)

    def test_reset_by_dropping_the_state(self):
        frame = torch.rand(1, 3, 64, 64)
        state = self.run(torch.rand(1, 3, 64, 64), None, 1.0).state
        assert not torch.equal(self.run(frame, state, 0.5).image, self.run(frame, None, 0.5).image)


def test_every_parameter_gets_a_gradient():
    model = phnet.build("nano").train()
    image = torch.rand(2, 3, 64, 64)
    out = model(image, portrait_mask(64, 64).expand(2, 1, 64, 64))
    (out.raw - image).pow(2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        if name in ("pfe.w0", "pfe.w1"):
            continue  # behind q2's zero-initialised projection: they learn from the second step
        assert p.grad.abs().sum() > 0, name


def test_pfe_can_be_switched_off_for_training_stage_one():
    model = phnet.build("nano").eval()
    model.pfe_enabled = False
    out = model(torch.rand(1, 3, 64, 64), portrait_mask(64, 64))
    assert "pfe" not in out.state and "pfe" not in model.state_spec()


def test_unknown_config_lists_known_ones():
    with pytest.raises(ValueError, match="known"):
        phnet.build("huge")


def test_residual_network_starts_as_the_identity_and_learns_from_the_first_step():
    """The residual D6 predicts a change of the input's logits from zero: untrained, the network
    returns its input, and one optimiser step already moves the foreground."""
    model = phnet.PHNet(phnet.get_config("lite", colour_prior=False)).train()
    image, mask = torch.rand(2, 3, 64, 64), portrait_mask(64, 64).expand(2, 1, 64, 64)
    out = model(image, mask)
    assert torch.allclose(out.raw, image.clamp(1 / 512, 1 - 1 / 512), atol=1e-5)
    target = (image * 0.8).clamp(0, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    (out.raw - target).pow(2).mean().backward()
    opt.step()
    assert not torch.allclose(model(image, mask).raw, out.raw, atol=1e-4)


def test_residual_with_pn_on_the_output_logits_is_refused():
    with pytest.raises(ValueError, match="pn_layers"):
        phnet.get_config("lite", pn_placement="text", pn_layers=(4, 5, 6), pn_grids=(3, 4, 5))
    with pytest.raises(ValueError, match="colour_prior"):
        phnet.get_config("paper", colour_prior=True)
    with pytest.raises(ValueError, match="prior_gate"):
        phnet.get_config("lite", prior_gate=True)
    with pytest.raises(ValueError, match="pn_placement"):
        phnet.get_config("lite", pn_placement="fig")


def test_figure_placement_normalises_the_skips_and_never_the_output():
    """Fig. 3: D4-D6's PN blocks sit on the encoder skip features entering those layers (their
    widths are the encoder's), and no PN follows the ConvT there (nothing at all after D6's)."""
    model = phnet.build("lite")
    ch = model.config.channels
    assert model.state_spec()["d4"][0] == ch[2] and model.state_spec()["d6"][0] == ch[0]
    for k in (4, 5, 6):
        layer = model.decoder[k - 1]
        assert isinstance(layer.skip_norm, PatchNorm) and not isinstance(layer.norm, PatchNorm)
    assert isinstance(model.decoder[5].norm, torch.nn.Identity)  # the output logits: no norm
    text = phnet.build("lite", pn_placement="text", residual=False)
    assert text.decoder[5].skip_norm is None and isinstance(text.decoder[5].norm, PatchNorm)
    assert text.state_spec()["d6"][0] == 3  # the text's D6 PN normalises the 3 output logits


def test_checkpoints_from_before_the_placement_choice_load_in_their_own_form():
    import json

    old = json.loads(phnet.get_config("lite").to_json())
    del old["pn_placement"], old["pfe_input"], old["prior_gate"]
    old.update(pn_layers=[4, 5], pn_grids=[3, 4], colour_prior=True)
    cfg = phnet.PHNetConfig.from_json(json.dumps(old))
    assert (cfg.pn_placement, cfg.pfe_input) == ("text", "features")
    assert phnet.PHNetConfig.from_json(phnet.get_config("lite").to_json()) == phnet.get_config("lite")


def test_untrained_lite_leaves_a_person_alone():
    """The identity check starts passed: a residual D6 at zero, q2 at zero (SE as without the
    PFE) and no prior; the only change is the logit clamp (half a grey level at most)."""
    model = phnet.build("lite").eval()
    image, mask = torch.rand(1, 3, 64, 64), portrait_mask(64, 64)
    with torch.no_grad():
        out = model(image, mask)
    assert (out.image - image).abs().max() <= 1 / 512 + 1e-6


def test_a_gated_prior_starts_closed_and_can_open():
    model = phnet.build("lite", colour_prior=True, prior_gate=True).train()
    image, mask = torch.rand(2, 3, 64, 64), portrait_mask(64, 64).expand(2, 1, 64, 64)
    image = image * torch.where(mask > 0.5, 0.5, 1.0)  # a darker person: the prior would move them
    out = model(image, mask)
    assert (out.image - image).abs().max() < 0.01
    out.raw.mean().backward()
    assert model.prior_gate.bias.grad.abs().sum() > 0


def test_model_benchmark_reports_ratios_against_eager_fp32():
    from phnet.bench import bench_config, to_markdown

    rows = bench_config("nano", [64], repeats=1, threads=1)
    assert rows[0]["torch_cpu_ms"] > 0 and rows[0]["ort_cpu_ms"] > 0
    table = to_markdown(rows)
    assert "ORT / PyTorch speed-up" in table and "x |" in table
    gpu = dict(rows[0], torch_cuda_fp32_ms=4.0, torch_cuda_fp16_ms=1.0, torch_cuda_fp16_graphs_ms=0.5)
    assert "| 4.00 | 1.00 | 0.50 | 2000 | 8.00x |" in to_markdown([gpu])
    failed = dict(gpu, torch_cuda_fp16_graphs_ms=float("nan"))
    assert "| 4.00 | 1.00 | nan | 1000 | 4.00x |" in to_markdown([failed])


def test_harmonizer_benchmark_times_every_step(tmp_path):
    from phnet.bench import bench_harmonizer

    path = phnet.save(phnet.build("nano").eval(), tmp_path / "nano.safetensors")
    table = bench_harmonizer(str(path), [(96, 64)], repeats=1)
    assert "| upsample | apply |" in table and "| 96x64 |" in table


def test_graph_benchmark_times_graphs_against_the_first(tmp_path):
    from phnet.bench import bench_graphs
    from phnet.export import export_onnx

    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    export_onnx(phnet.build("nano").eval(), a)
    export_onnx(phnet.build("nano", pfe=False).eval(), b)
    table = bench_graphs([str(a), str(b)], [64], repeats=1, threads=1, rounds=1)
    assert "| a.onnx | 64x64 |" in table and table.splitlines()[2].endswith("| 1.00 |")
    assert "| b.onnx | 64x64 |" in table
