"""Issue 31's recipe options: augmented views for DRL, EDM's log-normal t-sampler, z's own
scale-and-shift in the score net, and the encoder's pooled features."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REPO, synthetic_dataset, tiny_model
from test_cli import CARD
from test_train import _tc

from drlkit.checkpoint import encoder_digest, load_model, read_header
from drlkit.cli import cli
from drlkit.config import ModelConfig, preset
from drlkit.diffusion import VESDE, VPSDE, noise_level, parse_t_sampler, sample_t
from drlkit.loss import DRLLoss
from drlkit.preprocess import to_tensor
from drlkit.train import TrainConfig, train

MC = preset("tiny", image_size=16, channels=1, latent_dim=8)


# --------------------------------------------------------------------------- log-normal sampler


@pytest.mark.parametrize("sde", [VESDE(), VPSDE()], ids=["ve", "vp"])
def test_lognormal_sampler_draws_ln_sigma_with_the_given_mean_and_std(sde):
    t = sample_t("lognormal:-1.2,1.2", sde, 50_000, torch.Generator().manual_seed(0))
    assert t.min() >= sde.t_min and t.max() <= 1.0
    log_sigma = torch.log(noise_level(sde, t))
    assert abs(log_sigma.mean().item() + 1.2) < 0.03
    assert abs(log_sigma.std().item() - 1.2) < 0.03


def test_lognormal_sampler_clamps_to_the_noise_range():
    t = sample_t("lognormal:0,10", VESDE(), 10_000, torch.Generator().manual_seed(0))
    assert torch.isfinite(t).all() and ((t == 0) | (t == 1)).float().mean() > 0.5


@pytest.mark.parametrize("spec", ["lognormal:1", "lognormal:a,b", "lognormal:0,0",
                                  "lognormal:0,-1", "lognormal:nan,1"])
def test_lognormal_sampler_rejects_bad_specs(spec):
    with pytest.raises(ValueError, match="t sampler"):
        parse_t_sampler(spec)


def test_cli_names_the_lognormal_sampler_in_its_errors(tmp_path):
    res = CliRunner().invoke(cli, ["train", "--dataset", "mnist", "--t-sampler", "lognormal:x",
                                   "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "lognormal:P_mean,P_std" in res.output


# --------------------------------------------------------------------------- views


def test_views_none_same_novel():
    x0 = to_tensor(synthetic_dataset(8, channels=3).images)
    gen = torch.Generator().manual_seed(0)
    a, b = DRLLoss(views="none").make_views(x0, gen)
    assert a is x0 and b is x0
    a, b = DRLLoss(views="same").make_views(x0, gen)
    assert a is b and a.shape == x0.shape and not torch.equal(a, x0)
    a, b = DRLLoss(views="novel").make_views(x0, gen)
    assert a.shape == b.shape == x0.shape and not torch.equal(a, b)
    assert a.min() >= -1 and a.max() <= 1 and b.min() >= -1 and b.max() <= 1


def test_novel_views_encode_one_view_and_denoise_the_other(monkeypatch):
    model = tiny_model()
    x0 = to_tensor(synthetic_dataset(8).images)
    seen = {}
    real_embed = model.embed

    def embed(x, t, features="z"):
        seen["encoded"] = x
        return real_embed(x, t, features)

    monkeypatch.setattr(model, "embed", embed)
    import drlkit.loss as loss_mod

    real_dsm = loss_mod.dsm_per_sample

    def dsm(m, x, *args):
        seen["denoised"] = x
        return real_dsm(m, x, *args)

    monkeypatch.setattr(loss_mod, "dsm_per_sample", dsm)
    loss, _ = DRLLoss(views="novel")(model, x0, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    assert seen["encoded"].shape == seen["denoised"].shape == x0.shape
    assert not torch.equal(seen["encoded"], seen["denoised"])
    assert not torch.equal(seen["denoised"], x0)


def test_views_none_keeps_the_papers_loss_bit_for_bit():
    model = tiny_model()
    x0 = to_tensor(synthetic_dataset(8).images)
    old, _ = DRLLoss()(model, x0, torch.Generator().manual_seed(3))
    none, _ = DRLLoss(views="none")(model, x0, torch.Generator().manual_seed(3))
    assert torch.equal(old, none)


def test_views_are_checked():
    with pytest.raises(ValueError, match="views"):
        DRLLoss(views="both")
    with pytest.raises(ValueError, match="views"):
        TrainConfig(method="simclr", views="novel")
    with pytest.raises(ValueError, match="view_crop"):
        TrainConfig(views="novel", view_crop=(0.5, 0.2))
    with pytest.raises(ValueError, match="probability"):
        TrainConfig(views="novel", view_grey=1.5)


def test_a_train_config_saved_before_views_reads_with_their_defaults():
    d = json.loads(json.dumps(_tc().__dict__))
    for k in ("views", "view_crop", "view_jitter", "view_grey", "invariance_weight"):
        del d[k]
    tc = TrainConfig.from_dict(d)
    assert tc.views == "none" and tc.view_crop == (0.2, 1.0)
    assert TrainConfig.from_dict(json.loads(json.dumps(_tc(views="novel").__dict__))) \
        == _tc(views="novel")  # the JSON list of view_crop reads back as the same config


def test_training_with_novel_views_resumes_exactly_and_records_the_recipe(tmp_path):
    ds = synthetic_dataset(20, channels=3)
    mc = preset("tiny", image_size=16, channels=3, latent_dim=8, z_conditioning="film")
    tc = _tc(views="novel", t_sampler="lognormal:-1.2,1.2", view_crop=(0.3, 1.0))
    full = train(mc, tc, tmp_path / "full", dataset=ds, progress=False)
    train(mc, _tc(steps=3, views="novel", t_sampler="lognormal:-1.2,1.2", view_crop=(0.3, 1.0)),
          tmp_path / "half", dataset=ds, progress=False)
    resumed = train(mc, tc, tmp_path / "half", dataset=ds, resume=True, progress=False)
    a, b = load_model(full, device="cpu"), load_model(resumed, device="cpu")
    for (k, v), w in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(v, w), k
    meta = read_header(full)
    assert meta["training"]["views"] == "novel" and meta["training"]["view_crop"] == [0.3, 1.0]
    assert meta["config"]["z_conditioning"] == "film"
    assert "novel views" in meta["description"] and "z film" in meta["description"]
    assert "denoises another" in meta["training"]["loss"]


def test_cli_trains_with_views_and_film(tmp_path, data_root):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [
        "train", "--dataset", "mnist", "--data-root", str(data_root), "--preset", "tiny",
        "--steps", "2", "--batch-size", "4", "--diagnostics-every", "0", "--views", "same",
        "--view-crop", "0.5,1", "--z-conditioning", "film", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    meta = read_header(out / "model.safetensors")
    assert meta["training"]["views"] == "same" and meta["training"]["view_crop"] == [0.5, 1.0]
    assert meta["config"]["z_conditioning"] == "film"


@pytest.mark.parametrize("args, hint", [
    (["--method", "ae", "--views", "novel"], "--views"),
    (["--method", "simclr", "--z-conditioning", "film"], "--z-conditioning"),
    (["--views", "novel", "--view-crop", "0.9,0.1"], "--view-crop"),
    (["--views", "novel", "--view-crop", "half"], "--view-crop"),
])
def test_cli_rejects_view_options_that_cannot_apply(tmp_path, args, hint):
    res = CliRunner().invoke(cli, ["train", "--dataset", "mnist", *args, "--out",
                                   str(tmp_path / "r")])
    assert res.exit_code == 2 and hint in res.output


# --------------------------------------------------------------------------- z conditioning


def test_film_gives_z_its_own_scale_and_shift_in_every_block():
    add, film = tiny_model(), tiny_model(z_conditioning="film")
    blocks = [m for m in film.score_net.modules() if type(m).__name__ == "ResBlock"]
    assert blocks and all(b.z_film is not None for b in blocks)
    assert all(b.z_film is None for b in add.score_net.modules() if type(b).__name__ == "ResBlock")
    for block in blocks:  # the z film must move every block's output, not only the time path
        torch.nn.init.normal_(block.conv2.weight, std=0.1)
    x = torch.randn(2, 1, 16, 16)
    c = torch.zeros(2)
    z = torch.randn(2, 8)
    out_z, out_none = film.score_net(x, c, z), film.score_net(x, c, None)
    assert not torch.allclose(out_z, out_none)
    with pytest.raises(ValueError, match="z_conditioning"):
        ModelConfig(z_conditioning="concat")


def test_configs_of_older_files_read_as_add():
    # mnist-2d is still a format-2 file (written before z_conditioning existed); a card update
    # rewrites a file in today's format, as scripts/card_reads.py did to mnist
    meta = read_header(REPO / "checkpoints" / "mnist-2d.safetensors")
    assert meta["format_version"] == "2" and meta["config"]["objective"] == "drl"
    assert meta["config"]["z_conditioning"] == "add"


def test_the_encoder_digest_of_a_shipped_model_is_unchanged_by_format_3():
    # computed by drlkit before z_conditioning existed; reports keep matching with --reuse
    model = load_model(REPO / "checkpoints" / "mnist.safetensors", device="cpu")
    assert encoder_digest(model) == \
        "8d81e609cff0ce06351bc982c8cb18c8a238b2b5e4b6f7ad74dc3d398869b246"


# --------------------------------------------------------------------------- pooled features


def test_pooled_features_are_the_encoders_input_to_its_last_layer():
    model = tiny_model(t_conditioned=False)
    x = (np.random.default_rng(0).random((6, 16, 16)) * 255).astype(np.uint8)
    pooled = model.encode(x, features="pooled")
    assert pooled.shape == (6, model.feature_dim("pooled")) == (6, 4 * MC.encoder_width)
    z = model.encode(x)
    head = model.encoder.head
    np.testing.assert_allclose(pooled @ head.weight.detach().numpy().T + head.bias.detach().numpy(),
                               z, atol=1e-5)
    np.testing.assert_allclose(model.encode(x, features="pooled", batch_size=2), pooled, atol=1e-6)
    with pytest.raises(ValueError, match="features"):
        model.encode(x, features="penultimate")


def test_eval_scores_pooled_features(tmp_path, data_root):
    path = REPO / "checkpoints" / "mnist.safetensors"
    report = tmp_path / "r.json"
    res = CliRunner().invoke(cli, [
        "eval", str(path), "--dataset", "mnist", "--data-root", str(data_root),
        "--metrics", "linear_probe", "--max-train", "200", "--max-test", "100", "--t", "0.5",
        "--baselines", "random", "--features", "pooled",
        "--report", str(report), "--quiet"])
    assert res.exit_code == 0, res.output
    r = json.loads(report.read_text())
    assert r["features"] == "pooled" and r["model_config"]["latent_dim"] == 128
    assert r["model_card"]["training"]["method"] == "drl"
    assert r["representations"]["model"]["best"]["linear"]["test"] > 0.5
    assert not math.isnan(r["representations"]["random_encoder"]["best"]["linear"]["test"])


def test_encode_cli_and_transformer_give_pooled_features(tmp_path):
    from PIL import Image

    from drlkit.checkpoint import save_model
    from drlkit.files import partial_dir
    from drlkit.transformer import DRLTransformer

    model = tiny_model(seed=2)
    path = tmp_path / "tiny.safetensors"
    save_model(model, path, CARD)
    x = (np.random.default_rng(1).random((5, 16, 16)) * 255).astype(np.uint8)
    for i, im in enumerate(x):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
    expected = model.encode(x, t=0.4, features="pooled")
    out = tmp_path / "f.npy"
    args = ["encode", str(tmp_path), "--model", str(path), "--t", "0.4", "--quiet",
            "--batch-size", "2", "--out", str(out)]
    res = CliRunner().invoke(cli, [*args, "--features", "pooled"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)
    # a partial run of pooled features does not resume as z codes
    from drlkit.files import ResumeError, _done_batches, _manifest

    partial_dir(out).mkdir()
    paths = sorted(tmp_path.glob("*.png"))
    pooled = _manifest(model, paths, [0.4], True, 2, "fp32", "pooled")
    (partial_dir(out) / "manifest.json").write_text(json.dumps(pooled))
    with pytest.raises(ResumeError, match="--features"):
        _done_batches(partial_dir(out), _manifest(model, paths, [0.4], True, 2, "fp32", "z"))
    tr = DRLTransformer(model, t=0.4, features="pooled").fit(x)
    assert tr.get_feature_names_out().shape == (expected.shape[1],)
    np.testing.assert_allclose(tr.transform(x), expected, atol=1e-5)
    with pytest.raises(ValueError, match="features"):
        DRLTransformer(model, features="h").fit(x)


# --------------------------------------------------------------------------- invariance (hybrid)


def test_invariance_adds_nt_xent_between_the_two_views_codes():
    from drlkit.baselines import nt_xent

    model = tiny_model()
    x0 = to_tensor(synthetic_dataset(8).images)
    pure, _ = DRLLoss(views="novel")(model, x0, torch.Generator().manual_seed(5))
    zero, _ = DRLLoss(views="novel", invariance_weight=0.0)(model, x0,
                                                            torch.Generator().manual_seed(5))
    assert torch.equal(pure, zero)  # weight 0 is the pure DRL loss, bit for bit
    loss = DRLLoss(views="novel", invariance_weight=0.7)
    hybrid, stats = loss(model, x0, torch.Generator().manual_seed(5))
    # by hand: the same draws give the same views, t and noise, so the DSM part equals `pure`;
    # then one t for the whole batch, at which both views are encoded for NT-Xent
    gen = torch.Generator().manual_seed(5)
    a, b = loss.make_views(x0, gen)
    sample_t("uniform-t", model.precond.sde, 8, gen)
    torch.randn(x0.shape, generator=gen)
    t_c = sample_t("uniform-t", model.precond.sde, 1, gen).expand(16)
    za, zb = model.embed(torch.cat([a, b]), t_c).float().chunk(2)
    expected = nt_xent(za, zb, 0.5)
    assert stats["nt_xent"] == pytest.approx(expected.item(), rel=1e-5)
    assert hybrid.item() == pytest.approx(pure.item() + 0.7 * expected.item(), rel=1e-5)
    hybrid.backward()
    assert all(p.grad is not None for p in model.encoder.parameters() if p.requires_grad)


def test_invariance_needs_drl_with_novel_views(tmp_path):
    for kw in ({"views": "same"}, {"views": "none"}, {"views": "novel", "method": "vdrl"}):
        with pytest.raises(ValueError, match="invariance_weight needs"):
            TrainConfig(invariance_weight=0.5, **kw)
    with pytest.raises(ValueError, match=">= 0"):
        DRLLoss(views="novel", invariance_weight=-1)
    res = CliRunner().invoke(cli, ["train", "--dataset", "mnist", "--views", "same",
                                   "--invariance-weight", "1", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "--invariance-weight" in res.output


def test_cli_trains_the_hybrid_and_the_card_says_so(tmp_path, data_root):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [
        "train", "--dataset", "mnist", "--data-root", str(data_root), "--preset", "tiny",
        "--steps", "2", "--batch-size", "4", "--diagnostics-every", "0", "--views", "novel",
        "--invariance-weight", "0.5", "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    meta = read_header(out / "model.safetensors")
    assert meta["training"]["invariance_weight"] == 0.5
    assert "NT-Xent" in meta["training"]["loss"] and "invariance 0.5" in meta["description"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any("nt_xent" in r for r in log)
