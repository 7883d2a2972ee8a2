"""The AE / VAE / SimCLR baselines: same encoder, same trainer; their losses and augmentations."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import REPO, synthetic_dataset
from test_train import _tc

from drlkit.augment import SimCLRAugment, shift_hue
from drlkit.baselines import AELoss, nt_xent
from drlkit.checkpoint import FORMAT_VERSION, count_params, load_model, read_header, update_card
from drlkit.cli import cli
from drlkit.config import ModelConfig, preset
from drlkit.model import DRLModel
from drlkit.train import Trainer, train


def config(method: str) -> ModelConfig:
    return preset("tiny", image_size=16, channels=1, latent_dim=8, t_conditioned=False,
                  probabilistic=method == "vae",
                  objective={"ae": "ae", "vae": "vae", "simclr": "simclr"}[method])


@pytest.mark.parametrize("method", ["ae", "vae", "simclr"])
def test_each_baseline_trains_exports_and_encodes(tmp_path, method):
    ds = synthetic_dataset(24)
    path = train(config(method), _tc(method=method, diagnostics_every=3,
                                     kl_weight=1.0 if method == "vae" else 1e-5),
                 tmp_path / method, dataset=ds, progress=False)
    meta = read_header(path)
    assert meta["config"]["objective"] == method and not meta["config"]["t_conditioned"]
    assert meta["training"]["method"] == method
    name = {"ae": "AE", "vae": "VAE", "simclr": "SimCLR"}[method]
    assert meta["description"].startswith(f"{name} on ") and "(static encoder)" in meta["description"]
    head = {"ae": "decoder", "vae": "decoder", "simclr": "projector"}[method]
    assert set(meta["num_params"]) == {"encoder", head, "total"}
    model = load_model(path, device="cpu")
    assert meta["num_params"]["total"] == sum(p.numel() for p in model.parameters())
    assert not hasattr(model, "score_net")
    z = model.encode(ds.images[:5])
    assert z.shape == (5, 8) and np.isfinite(z).all()
    np.testing.assert_allclose(z, model.encode(ds.images[:5], batch_size=2), atol=1e-6)
    log = (tmp_path / method / "log.jsonl").read_text()
    assert '"probe"' in log and "z_usage" not in log  # no score net: no z-usage diagnostic


def test_autoencoder_loss_falls_when_overfitting_a_tiny_batch():
    torch.manual_seed(0)
    model = DRLModel(config("ae"))
    x0 = torch.tensor(synthetic_dataset(8).images).permute(0, 3, 1, 2).float() / 127.5 - 1
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn, gen = AELoss(), torch.Generator().manual_seed(0)
    first = None
    for _ in range(60):
        loss, _ = loss_fn(model, x0, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.3 * first


def test_nt_xent_matches_its_formula():
    p = torch.eye(4)  # 2 images x 2 views, all views orthogonal except the positive pairs below
    p1, p2 = p[:2], p[:2]  # each view equals its positive, orthogonal to the rest
    tau = 0.5
    expected = -math.log(math.exp(1 / tau) / (math.exp(1 / tau) + 2 * math.exp(0)))
    assert nt_xent(p1, p2, tau).item() == pytest.approx(expected, rel=1e-6)
    assert nt_xent(p1, p2, tau) < nt_xent(p1, p2.flip(0), tau)  # swapped positives: worse


def test_simclr_augment_is_seeded_in_range_and_varies():
    x = torch.rand(6, 3, 16, 16)
    aug = SimCLRAugment()
    a = aug(x, torch.Generator().manual_seed(1))
    b = aug(x, torch.Generator().manual_seed(1))
    c = aug(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    grey = aug(torch.rand(6, 1, 16, 16), torch.Generator().manual_seed(1))
    assert grey.shape == (6, 1, 16, 16)
    full = SimCLRAugment(scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grey=0.0)
    torch.testing.assert_close(full(x, torch.Generator()), x, atol=1e-5, rtol=0)  # identity


def test_hue_shift():
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(shift_hue(red, torch.tensor([1 / 3])).flatten(),
                               torch.tensor([0.0, 1.0, 0.0]))
    x = torch.rand(3, 3, 5, 5)
    torch.testing.assert_close(shift_hue(x, torch.zeros(3)), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(shift_hue(x, torch.ones(3)), x, atol=1e-5, rtol=0)  # a full turn


def test_config_and_trainer_refuse_inconsistent_baselines(tmp_path):
    with pytest.raises(ValueError, match="static"):
        preset("tiny", objective="ae", t_conditioned=True)
    with pytest.raises(ValueError, match="probabilistic"):
        preset("tiny", objective="vae", t_conditioned=False)
    with pytest.raises(ValueError, match="objective"):
        preset("tiny", objective="gan", t_conditioned=False)
    with pytest.raises(ValueError, match="method"):
        _tc(method="byol")
    with pytest.raises(ValueError, match="objective"):
        Trainer(config("ae"), _tc(method="simclr"), tmp_path, synthetic_dataset(8))
    r = CliRunner().invoke(cli, ["train", "--dataset", "mnist", "--method", "simclr",
                                 "--t-conditioned", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "static" in r.output


def _as_format_1(src, dst) -> None:
    """Rewrite a drlkit file's header as format 1 wrote it: no `objective`, no checksum."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    config = json.loads(meta["config"])
    del config["objective"]
    meta.update(format_version="1", config=json.dumps(config))
    meta.pop("tensors_sha256")
    save_file(load_file(str(src)), str(dst), metadata=meta)


def test_format_1_files_load_as_drl_and_stay_loadable_after_a_card_update(tmp_path):
    path = tmp_path / "mnist.safetensors"
    _as_format_1(REPO / "checkpoints" / "mnist.safetensors", path)
    assert read_header(path)["format_version"] == "1"
    assert load_model(path, device="cpu").config.objective == "drl"
    update_card(path, description="edited")
    meta = read_header(path)
    assert meta["format_version"] == str(FORMAT_VERSION) and meta["config"]["objective"] == "drl"
    model = load_model(path, device="cpu")
    assert model.card["description"] == "edited"
    assert count_params(model)["score_net"] == 1_687_585


def test_cli_trains_an_autoencoder_on_mnist(tmp_path, data_root):
    r = CliRunner().invoke(cli, [
        "train", "--dataset", "mnist", "--data-root", str(data_root), "--preset", "tiny",
        "--method", "ae", "--steps", "2", "--batch-size", "4", "--diagnostics-every", "0",
        "--out", str(tmp_path / "ae"), "--quiet"])
    assert r.exit_code == 0, r.output
    meta = read_header(tmp_path / "ae" / "model.safetensors")
    assert meta["config"]["objective"] == "ae" and meta["training"]["loss"] == "L2 reconstruction"
