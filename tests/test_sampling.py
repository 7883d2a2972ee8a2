"""Samplers conditioned on z (VE and VP; pc, em, ode), reconstructions, latent grids, and the
`reconstruct` / `latent-grid` commands."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import synthetic_dataset, tiny_model
from PIL import Image
from test_cli import CARD

from drlkit.checkpoint import save_model
from drlkit.cli import cli
from drlkit.diffusion import VESDE, VPSDE
from drlkit.grids import save_grid
from drlkit.sampling import latent_grid, reconstruct, sample

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("sde", ["ve", "vp"])
@pytest.mark.parametrize("sampler", ["pc", "em", "ode"])
def test_samplers_are_seeded_finite_and_in_range(sde, sampler):
    model = tiny_model(sde=sde)
    z = model.encode(synthetic_dataset(3).images, t=0.5)
    a = sample(model, z, steps=4, sampler=sampler, seed=1)
    assert a.shape == (3, 1, 16, 16) and a.dtype == np.float32
    assert np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, sample(model, z, steps=4, sampler=sampler, seed=1))
    assert not np.array_equal(a, sample(model, z, steps=4, sampler=sampler, seed=2))


def test_codes_and_shared_noise_steer_the_samples():
    import torch

    model = tiny_model()
    torch.manual_seed(0)
    with torch.no_grad():  # an initial score net ignores z (zero-initialised blocks): wake it up
        for p in model.score_net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    z = model.encode(synthetic_dataset(2).images, t=0.5)
    same = sample(model, np.repeat(z[:1], 2, axis=0), steps=3, sampler="ode", same_noise=True)
    np.testing.assert_allclose(same[0], same[1], atol=1e-6)  # same code, same noise: same image
    other = sample(model, z, steps=3, sampler="ode", same_noise=True, t_end=0.5)
    assert not np.allclose(other[0], other[1])  # same noise, other code: another image
    free = sample(model, None, n=2, steps=3, sampler="em")  # code withheld
    assert free.shape == (2, 1, 16, 16)


def test_sample_refuses_bad_arguments():
    model = tiny_model()
    z = np.zeros((2, 8), np.float32)
    with pytest.raises(ValueError, match="sampler"):
        sample(model, z, sampler="ddim")
    with pytest.raises(ValueError, match="codes"):
        sample(model, np.zeros((2, 5)))
    with pytest.raises(ValueError, match="t_end"):
        sample(model, z, t_end=1.0)
    with pytest.raises(ValueError, match="needs n"):
        sample(model, None)
    ae = tiny_model(objective="ae", t_conditioned=False)
    with pytest.raises(ValueError, match="score net"):
        sample(ae, z)


def test_sde_coefficients_match_their_marginals():
    import torch

    t = torch.tensor([0.3, 0.7])
    ve, vp = VESDE(0.01, 50.0), VPSDE(0.1, 20.0)
    eps = 1e-4
    for sde in (ve, vp):  # g^2 = d var / dt + 2 beta-like shrinkage: check var' = g^2 + 2 f-rate var
        _, g = sde.coefficients(torch.zeros(2, 1), t)
        m1, s1 = sde.marginal(t - eps)
        m2, s2 = sde.marginal(t + eps)
        dvar = ((s2 / m2) ** 2 - (s1 / m1) ** 2) / (2 * eps)  # d sigma^2 / dt in VE terms
        mean = sde.marginal(t)[0]
        torch.testing.assert_close(g**2 / mean**2, dvar, rtol=2e-3, atol=0)


def test_reconstruct_and_latent_grid_shapes():
    model = tiny_model()
    images = synthetic_dataset(2).images
    x = reconstruct(model, images, t=[0.2, 0.8, "curve"], n_samples=3, steps=2)
    assert x.shape == (2, 3, 3, 1, 16, 16) and np.isfinite(x).all()
    again = reconstruct(model, images, t=[0.2, 0.8, "curve"], n_samples=3, steps=2)
    np.testing.assert_array_equal(x, again)
    static = tiny_model(t_conditioned=False)
    assert reconstruct(static, images, t=[0.2, 0.8], n_samples=2, steps=1).shape[1] == 1
    with pytest.raises(ValueError, match="t-conditioned"):
        reconstruct(static, images, t="curve", steps=1)
    with pytest.raises(ValueError, match="2-D code"):
        latent_grid(model, n=3)
    grid, values = latent_grid(tiny_model(latent_dim=2), n=3, lo=-1, hi=1, steps=2)
    assert grid.shape == (3, 3, 1, 16, 16) and list(values) == [-1, 0, 1]


def test_save_grid_writes_a_png(tmp_path):
    img = np.random.default_rng(0).random((3, 8, 8)).astype(np.float32)
    save_grid([[img, None], [img, img]], tmp_path / "g.png", scale=2, header=["a", "b"],
              separators=[1])
    out = Image.open(tmp_path / "g.png")
    assert out.size[1] == 14 + 2 * (16 + 2) + 2 and out.mode == "RGB"
    with pytest.raises(ValueError, match="no images"):
        save_grid([[None]], tmp_path / "x.png")


def test_reconstruct_and_latent_grid_commands(tmp_path):
    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    for i, img in enumerate(synthetic_dataset(2).images):
        Image.fromarray(img[..., 0]).save(tmp_path / f"{i}.png")
    r = CliRunner().invoke(cli, ["reconstruct", str(tmp_path / "0.png"), str(tmp_path / "1.png"),
                                 "--model", str(model_path), "--t", "0.3,0.9,curve", "--samples", "2",
                                 "--steps", "2", "--out", str(tmp_path / "r.png"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.png").read_bytes()[:8] == PNG
    assert "2 images x 3 t x 2 samples" in r.output
    r = CliRunner().invoke(cli, ["reconstruct", str(tmp_path / "0.png"), "--model",
                                 str(model_path), "--max-images", "1", "--steps", "1",
                                 "--out", str(tmp_path / "r.png"), str(tmp_path / "1.png")])
    assert r.exit_code == 1 and "--max-images" in r.output
    two_d = tmp_path / "2d.safetensors"
    save_model(tiny_model(latent_dim=2), two_d, CARD)
    r = CliRunner().invoke(cli, ["latent-grid", str(two_d), "--n", "3", "--range", "-1,1",
                                 "--steps", "2", "--out", str(tmp_path / "g.png"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "g.png").size == (3 * 18 + 2, 3 * 18 + 2)
    r = CliRunner().invoke(cli, ["latent-grid", str(model_path), "--range", "-1,1",
                                 "--out", str(tmp_path / "g.png")])
    assert r.exit_code == 1 and "2-D code" in r.output
    r = CliRunner().invoke(cli, ["latent-grid", str(two_d), "--out", str(tmp_path / "g.png")])
    assert r.exit_code == 2 and "--range" in r.output


def test_information_curve_measures_what_the_code_adds():
    import torch

    from drlkit.diagnostics import information_curve

    images = synthetic_dataset(6).images
    fresh = information_curve(tiny_model(), images, [0.2, 0.8], batch_size=4)
    assert fresh["t"] == [0.2, 0.8] and len(fresh["own"]) == 2
    assert fresh["gap_shuffled"] == [0.0, 0.0]  # zero-initialised blocks: z changes nothing yet
    model = tiny_model()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.score_net.parameters():
            p.add_(0.2 * torch.randn_like(p))
    curve = information_curve(model, images, [0.2, 0.8], batch_size=4)
    assert any(abs(g) > 1e-4 for g in curve["gap_shuffled"])
    assert curve["largest_gap_t"] == curve["t"][int(np.argmax(curve["gap_shuffled"]))]
    np.testing.assert_allclose(curve["gap_zero"],
                               np.array(curve["zero"]) / np.array(curve["own"]) - 1)
    with pytest.raises(ValueError, match="2 images"):
        information_curve(model, images[:1], [0.5])


def test_information_command(tmp_path, data_root):
    import json

    model_path = tmp_path / "tiny.safetensors"
    save_model(tiny_model(), model_path, CARD)
    r = CliRunner().invoke(cli, ["information", str(model_path), "--dataset", "mnist",
                                 "--data-root", str(data_root), "--n", "20", "--t", "0.2,0.8",
                                 "--out", str(tmp_path / "i.png"), "--report",
                                 str(tmp_path / "i.json"), "--quiet"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "i.png").read_bytes()[:8] == PNG
    assert json.loads((tmp_path / "i.json").read_text())["t"] == [0.2, 0.8]
    assert "largest gap" in r.output


def test_level_of_detail_study_end_to_end_on_the_tiny_preset(tmp_path, data_root):
    import json

    from drlkit.level_of_detail import code_report, ink

    r = CliRunner().invoke(cli, ["level-of-detail", "--out-dir", str(tmp_path), "--runs",
                                 str(tmp_path / "runs"), "--steps", "2",
                                 "--preset", "tiny", "--n-train", "200", "--n-test", "100",
                                 "--grid-steps", "1", "--data-root", str(data_root), "--quiet"])
    assert r.exit_code == 0, r.output
    result = json.loads((tmp_path / "level_of_detail.json").read_text())
    assert list(result["rows"]) == ["uniform-t", "uniform-sigma", "range:0,0.3"]
    for row in result["rows"].values():
        assert 0 <= row["linear_probe"] <= 1 and -1 <= row["silhouette"] <= 1
        assert len(row["ink_r"]) == 2 and (tmp_path / row["grid"]).read_bytes()[:8] == PNG
    assert "| `uniform-sigma` |" in r.output
    assert result["rows"]["uniform-t"]["grid_start"] == "pure noise at t = 1"
    assert result["rows"]["range:0,0.3"]["grid_start"].endswith("noised to t = 0.3")
    # a second call finds the runs done and only measures again
    again = CliRunner().invoke(cli, ["level-of-detail", "--out-dir", str(tmp_path), "--runs",
                                     str(tmp_path / "runs"), "--steps", "2",
                                     "--preset", "tiny", "--n-train", "200", "--n-test", "100",
                                     "--grid-steps", "1", "--data-root", str(data_root), "--quiet"])
    assert again.exit_code == 0 and json.loads((tmp_path / "level_of_detail.json").read_text()) \
        == result
    # the measures themselves, on codes with known content
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    imgs = rng.integers(0, 256, (120, 4, 4, 1)).astype(np.uint8)
    z = np.stack([y + 0.05 * rng.standard_normal(120), ink(imgs)], axis=1)
    rep = code_report(z, y, z, y, imgs)
    assert rep["linear_probe"] > 0.9 and rep["silhouette"] > 0.5
    assert rep["ink_r"][1] == pytest.approx(1.0) and rep["max_abs_ink_r"] == pytest.approx(1.0)


def test_sampling_can_start_from_a_noised_image():
    """SDEdit start: from an image noised to t_start, deterministic (ODE), and the image matters."""
    model = tiny_model(seed=0)
    z = np.zeros((2, model.config.latent_dim), np.float32)
    image = np.full((16, 16), 255, np.uint8)
    a = sample(model, z, steps=3, sampler="ode", x_start=image, t_start=0.3)
    b = sample(model, z, steps=3, sampler="ode", x_start=image, t_start=0.3)
    other = sample(model, z, steps=3, sampler="ode", x_start=np.zeros_like(image), t_start=0.3)
    assert a.shape == (2, 1, 16, 16) and np.isfinite(a).all()
    assert np.array_equal(a, b) and not np.allclose(a, other)
    with pytest.raises(ValueError, match="go together"):
        sample(model, z, steps=3, t_start=0.3)
    with pytest.raises(ValueError, match="expected 1 or 2 images"):
        sample(model, z, steps=3, x_start=np.zeros((3, 16, 16), np.uint8), t_start=0.3)
