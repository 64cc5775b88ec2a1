"""``phnet-eval --heldout``: harmonisers judged as the camera runs them on held-out sources."""
import json

import numpy as np
import pytest

from tiny_corpus import make_tiny_corpus
from train.eval.cases import TESTS, make_cases, make_clip
from train.eval.evaluate import eval_main
from train.eval.heldout import HELD_OUT_SOURCES, load_heldout
from train.eval.outofsource import Composite, build_methods, check_targets, evaluate_heldout


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_tiny_corpus(tmp_path_factory.mktemp("corpus"),
                            sources={"people/t__bob.jpg": "held-a", "people/t__dan.jpg": "held-b",
                                     "people/t__band-p1.jpg": "held-b"})


def test_held_out_people_come_from_the_named_sources_whatever_their_split(corpus):
    people = load_heldout(corpus, ("held-a", "held-b"))
    assert {p.name for p in people} == {"people/t__bob.jpg", "people/t__dan.jpg",
                                        "people/t__band-p1.jpg"}
    assert {p.source for p in people} == {"held-a", "held-b"}
    with pytest.raises(ValueError, match="no person photos of source"):
        load_heldout(corpus, ("held-a", "nowhere"))


def test_the_shipped_recipe_never_trains_on_the_held_out_sources():
    from train.config import load_config

    cfg = load_config("train/configs/lite-relight.toml")
    assert set(HELD_OUT_SOURCES) <= set(cfg.data.exclude_sources)


def test_cases_are_fixed_per_photo_and_identity_needs_nothing(corpus):
    person = load_heldout(corpus, ("held-a",))[0]
    a, b = make_cases(person, draws=1), make_cases(person, draws=1)
    assert [c.test for c in a] == [c.test for c in b]
    assert {c.test for c in a} == set(TESTS)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.composite, y.composite)
    identity = next(c for c in a if c.test == "identity")
    np.testing.assert_array_equal(identity.composite, identity.truth)
    np.testing.assert_array_equal(identity.captured, identity.composite)
    clip = make_clip(person, frames=4)
    assert len(clip.composites) == len(clip.captured) == len(clip.truths) == 4


def test_light_transfer_leaves_identity_alone_and_undoes_most_of_a_relight(corpus):
    people = load_heldout(corpus, ("held-a", "held-b"))
    methods = build_methods(["composite", "light"], [])
    res = evaluate_heldout(methods, people, {}, draws=1, clip_frames=4)
    rows = {(r["person"], r["test"], r["method"]): r["fmse"] for r in res.cases}
    for p in people:
        assert rows[(p.name, "identity", "light")] == 0.0
        assert rows[(p.name, "relight", "light")] < 0.5 * rows[(p.name, "relight", "composite")]
    targets = {t.target.split(" ")[0]: t for t in check_targets(res) if t.method == "light"}
    assert targets["identity"].met and targets["relight"].met
    assert not targets["recolour"].met  # the light transfer never touches a recoloured person


def test_phnet_eval_heldout_writes_per_source_tables_and_targets(corpus, tmp_path):
    md, js = tmp_path / "h.md", tmp_path / "h.json"
    status = eval_main(["--heldout", "--data-root", str(corpus), "--sources", "held-a,held-b",
                        "--methods", "composite,light", "--draws", "1", "--clip-frames", "3",
                        "--scenes", "1", "--no-progress", "--markdown", str(md), "--json", str(js),
                        "--grid", str(tmp_path / "g.png")])
    assert status == 0
    text = md.read_text()
    for heading in ("## identity", "## relight", "## recolour", "## blur", "relight clips: flicker",
                    "New backgrounds", "## Targets", "held-a", "held-b", "worst"):
        assert heading in text
    data = json.loads(js.read_text())
    assert data["summary"]["tests"]["identity"]["light"]["worst"] == 0.0
    assert (tmp_path / "g.png").is_file()


def test_phnet_eval_heldout_refuses_an_unknown_source(corpus, capsys):
    assert eval_main(["--heldout", "--data-root", str(corpus), "--sources", "nowhere",
                      "--methods", "composite", "--no-progress"]) == 2


def test_composite_method_returns_its_input():
    x = np.zeros((8, 8, 3), np.uint8)
    assert Composite()(x, np.zeros((8, 8), np.float32)) is x
