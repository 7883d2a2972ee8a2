"""The reads of a model (drlkit.reads): the denoiser read (the score net's pooled block
activations), the combined "best" read, their options, errors, and every entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import synthetic_dataset, tiny_model
from PIL import Image
from test_cli import CARD

from drlkit.checkpoint import save_model
from drlkit.cli import cli
from drlkit.evaluation import evaluate_model, random_encoder
from drlkit.reads import DENOISER_DEFAULTS, Z_TIMES, denoiser_read, parse_layers
from drlkit.scorenet import ResBlock
from drlkit.transformer import DRLTransformer


def perturbed(model):
    """A tiny model with no zero-initialised layer left (a fresh score net's blocks are the
    identity, so z would not reach their outputs)."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


@pytest.fixture(scope="module")
def model():
    return perturbed(tiny_model())


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, (9, 16, 16), dtype=np.uint8)


def test_taps_are_the_residual_block_outputs_and_stop_early(model):
    net = model.score_net
    seen = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: seen.append(out))
             for m in net.modules() if isinstance(m, ResBlock)]
    x, c = torch.randn(3, 1, 16, 16), torch.zeros(3)
    with torch.no_grad():
        net(x, c, None)
        full = list(seen)
        seen.clear()
        tapped = net(x, c, None, taps=list(range(len(net.block_groups))))
        # tiny preset: 1 block a level on the way down (2 levels), 2 in the middle, 2 a level up
        assert net.block_groups == ["down"] * 2 + ["mid"] * 2 + ["up"] * 4
        assert len(full) == len(tapped) == 8
    for a, b in zip(full, tapped, strict=True):
        torch.testing.assert_close(a, b)
    assert [h.shape[1] for h in tapped] == net.block_widths
    seen.clear()
    with torch.no_grad():
        first = net(x, c, None, taps=[0])
    assert len(first) == 1 and len(seen) == 1  # no block after the last tap ran
    for h in hooks:
        h.remove()


def test_denoiser_read_shape_default_t_and_batch_invariance(model, images):
    d = model.feature_dim("denoiser")
    assert d == sum(model.score_net.block_widths)
    one = model.encode(images, features="denoiser", batch_size=1)
    assert one.shape == (9, d)
    np.testing.assert_allclose(model.encode(images, features="denoiser", batch_size=4), one,
                               atol=1e-5)
    np.testing.assert_allclose(model.encode(images[3:5], features="denoiser"), one[3:5], atol=1e-5)
    # t omitted: the denoiser's own recommended t (DENOISER_DEFAULTS without a card), not z's
    t = DENOISER_DEFAULTS["t"]
    assert t != model.recommended_t
    np.testing.assert_allclose(model.encode(images, t=t, features="denoiser"), one, atol=1e-6)
    assert not np.allclose(model.encode(images, t=0.9, features="denoiser"), one, atol=1e-3)
    assert model.encode(images, t=[0.02, 0.3], features="denoiser").shape == (9, 2, d)


def test_denoiser_read_is_the_pooled_blocks_of_the_clean_image(model, images):
    """The read is the score net's block outputs on x0 (not noised), preconditioned as in
    training, averaged over space; give_z conditions the score net on the image's own z."""
    x = torch.tensor(images, dtype=torch.float32)[:, None] / 255 * 2 - 1
    t = torch.full((9,), 0.1)
    p = model.precond
    with torch.no_grad():
        blocks = model.score_net(p.backbone_input(x, t), p.c_noise(t), None,
                                 taps=list(range(8)))
    expected = torch.cat([b.mean(dim=(2, 3)) for b in blocks], 1).numpy()
    np.testing.assert_allclose(model.encode(images, t=0.1, features="denoiser"), expected,
                               atol=1e-5)
    with_z = model.encode(images, t=0.1, features="denoiser", give_z=True)
    assert with_z.shape == expected.shape and not np.allclose(with_z, expected, atol=1e-4)


def test_layers_and_pool_options(model, images):
    groups, widths = model.score_net.block_groups, model.score_net.block_widths
    down = [i for i, g in enumerate(groups) if g == "down"]
    assert parse_layers("down", groups) == down
    assert parse_layers("up,0", groups) == sorted({0, *[i for i, g in enumerate(groups) if g == "up"]})
    assert parse_layers([5, "mid"], groups) == sorted({5, *[i for i, g in enumerate(groups)
                                                            if g == "mid"]})
    full = model.encode(images, features="denoiser")
    part = model.encode(images, features="denoiser", layers="down")
    assert part.shape == (9, sum(widths[i] for i in down))
    np.testing.assert_allclose(part, full[:, :part.shape[1]], atol=1e-6)  # down blocks come first
    grid = model.encode(images, features="denoiser", pool="grid2")
    assert grid.shape == (9, 4 * full.shape[1]) == (9, model.feature_dim("denoiser", pool="grid2"))
    # the 2 x 2 grid's four averages average to the global one
    np.testing.assert_allclose(grid[:, :4 * widths[0]].reshape(9, widths[0], 4).mean(2),
                               full[:, :widths[0]], atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"features": "denoised"}, "features must be one of z, pooled, denoiser, best"),
    ({"features": "denoiser", "layers": "dwn"}, "layers: unknown entry 'dwn'"),
    ({"features": "denoiser", "layers": "99"}, "block numbers 0-7"),
    ({"features": "denoiser", "layers": ""}, "unknown entry ''"),
    ({"features": "denoiser", "pool": "max"}, "pool must be one of avg, grid2"),
    ({"features": "denoiser", "t": 1.5}, r"t: expected values in \[0, 1\]"),
    ({"features": "z", "layers": "down"}, "options of the denoiser read"),
    ({"features": "best", "t": 0.5}, "pass no t"),
])
def test_bad_reads_are_one_line_value_errors(model, images, kwargs, match):
    with pytest.raises(ValueError, match=match) as e:
        model.encode(images, **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("objective", ["ae", "vae", "simclr"])
def test_baselines_without_a_score_net_refuse_the_denoiser_read(objective, images):
    baseline = tiny_model(objective=objective, t_conditioned=False,
                          probabilistic=objective == "vae")
    with pytest.raises(ValueError, match="has none; its features are z, pooled, best"):
        baseline.encode(images, features="denoiser")
    with pytest.raises(ValueError, match="has none"):
        baseline.feature_dim("denoiser")
    # their best read is their code
    np.testing.assert_array_equal(baseline.encode(images, features="best"), baseline.encode(images))


def test_best_read_is_its_parts_concatenated(model, images):
    best = model.encode(images, features="best")
    den = model.encode(images, features="denoiser")
    z = model.encode(images, t=list(Z_TIMES)).reshape(9, -1)
    np.testing.assert_allclose(best, np.concatenate([den, z], 1), atol=1e-5)
    assert best.shape == (9, model.feature_dim("best"))


def test_the_card_sets_the_reads(images):
    m = tiny_model()
    m.card = {"reads": {"denoiser": {"t": 0.2, "layers": "up", "pool": "avg", "give_z": False},
                        "best": {"parts": [{"features": "denoiser", "t": [0.2]},
                                           {"features": "pooled", "t": [0.5]}]}}}
    read = denoiser_read(m)
    assert read.t == 0.2 and read.layers == tuple(parse_layers("up", m.score_net.block_groups))
    np.testing.assert_allclose(m.encode(images, features="denoiser"),
                               m.encode(images, t=0.2, features="denoiser", layers="up"), atol=1e-6)
    best = m.encode(images, features="best")
    np.testing.assert_allclose(best, np.concatenate([m.encode(images, features="denoiser"),
                                                     m.encode(images, t=0.5, features="pooled")], 1),
                               atol=1e-5)
    # the random-init control is read the same way
    rnd = random_encoder(m)
    assert rnd.feature_dim("best") == m.feature_dim("best")
    assert denoiser_read(rnd) == read


def test_transformer_takes_every_read(model, images):
    for features in ("denoiser", "best"):
        tr = DRLTransformer(model=model, features=features).fit(images)
        out = tr.transform(images)
        assert out.shape == (9, model.feature_dim(features))
        assert tr.get_feature_names_out().shape == (out.shape[1],)
    tr = DRLTransformer(model=model, features="denoiser", layers="down", t=[0.02, 0.1]).fit(images)
    assert tr.transform(images).shape == (9, 2 * model.feature_dim("denoiser", layers="down"))
    with pytest.raises(ValueError, match="features must be one of"):
        DRLTransformer(model=model, features="dino").fit(images)


def test_cli_encode_and_eval_take_the_denoiser_and_best_reads(tmp_path, data_root):
    model_path = tmp_path / "tiny.safetensors"
    m = tiny_model()
    save_model(m, model_path, CARD)
    img = tmp_path / "x.png"
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16), dtype=np.uint8)
    Image.fromarray(pixels).save(img)
    runner = CliRunner()
    out = tmp_path / "f.npz"
    r = runner.invoke(cli, ["encode", str(img), "--model", str(model_path), "--features",
                            "denoiser", "--layers", "down", "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    saved = np.load(out)
    np.testing.assert_allclose(saved["codes"], m.encode(pixels, features="denoiser", layers="down"),
                               atol=1e-5)
    assert float(saved["t"]) == DENOISER_DEFAULTS["t"]
    r = runner.invoke(cli, ["encode", str(img), "--model", str(model_path), "--features", "best",
                            "--out", str(tmp_path / "b.npy"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "b.npy").shape == (1, m.feature_dim("best"))
    for args, match in [(["--features", "z", "--layers", "down"], "options of the denoiser read"),
                        (["--features", "denoiser", "--layers", "side"], "unknown entry 'side'"),
                        (["--features", "denoiser", "--t", "2"], "times must lie in [0, 1]")]:
        r = runner.invoke(cli, ["encode", str(img), "--model", str(model_path), "--out",
                                str(tmp_path / "e.npy"), *args])
        assert r.exit_code != 0 and match in r.output and "Traceback" not in r.output, r.output
    report = tmp_path / "r.json"
    r = runner.invoke(cli, ["eval", str(model_path), "--dataset", "mnist", "--data-root",
                            str(data_root), "--features", "denoiser", "--metrics", "linear_probe",
                            "--max-train", "200", "--max-test", "100", "--baselines", "random",
                            "--report", str(report), "--quiet"])
    assert r.exit_code == 0, r.output
    rep = json.loads(report.read_text())
    assert rep["features"] == "denoiser" and rep["t"] == [DENOISER_DEFAULTS["t"]]  # not z's grid
    assert rep["read"] == {"layers": list(range(8)), "pool": "avg", "give_z": False}
    assert set(rep["representations"]) == {"model", "random_encoder"}
    r = runner.invoke(cli, ["eval", str(model_path), "--dataset", "mnist", "--data-root",
                            str(data_root), "--features", "best", "--t", "0.5"])
    assert r.exit_code != 0 and "leave out --t" in r.output


def test_evaluate_model_scores_the_best_read_as_one_code(model):
    data = synthetic_dataset(80, size=16)
    rep = evaluate_model(model, data, data, [0.5], ["linear_probe"], ["random"], features="best")
    assert rep["t"] is None and rep["read"]["parts"][0]["features"] == "denoiser"
    assert rep["representations"]["model"]["best"]["linear"]["t"] is None


def test_card_reads_round_trip_through_the_file(tmp_path, images):
    from drlkit.checkpoint import read_header, update_card
    from drlkit.registry import load

    path = tmp_path / "m.safetensors"
    m = tiny_model()
    save_model(m, path, CARD)
    assert "reads" not in read_header(path)  # older files have none: the defaults apply
    reads = {"denoiser": {"t": 0.1, "layers": "down", "pool": "avg", "give_z": False},
             "best": {"parts": [{"features": "denoiser", "t": [0.1]}]}}
    update_card(path, reads=reads)
    assert read_header(path)["reads"] == reads
    loaded = load(path)
    assert denoiser_read(loaded).t == 0.1
    np.testing.assert_allclose(loaded.encode(images, features="best"),
                               m.encode(images, t=0.1, features="denoiser", layers="down"),
                               atol=1e-6)
    r = CliRunner().invoke(cli, ["info", str(path)])
    assert r.exit_code == 0 and "reads:" in r.output and "denoiser" in r.output
