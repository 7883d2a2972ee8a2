"""Every shipped model: schema of its card, sha256, strict load, and golden `encode` outputs.

Golden outputs live in tests/golden/<name>.npy; regenerate them only on purpose with
DRLKIT_ACCEPT_GOLDEN=1 (after retraining a checkpoint). A missing golden fails.
"""

import os
from pathlib import Path

import numpy as np
import pytest

import drlkit
from drlkit.checkpoint import CARD_KEYS, read_header
from drlkit.config import ModelConfig
from drlkit.registry import REGISTRY, checkpoint_dir, sha256sum

GOLDEN = Path(__file__).parent / "golden"
EXAMPLES = sorted((Path(__file__).parent.parent / "examples" / "images").glob("*.png"))
NAMES = sorted(REGISTRY)


@pytest.mark.parametrize("name", NAMES)
def test_shipped_file_matches_its_registry_hash(name):
    path = checkpoint_dir() / REGISTRY[name].file
    assert path.is_file(), path
    assert sha256sum(path) == REGISTRY[name].sha256
    assert path.stat().st_size < 20 * 2**20


@pytest.mark.parametrize("name", NAMES)
def test_card_schema(name):
    meta = read_header(checkpoint_dir() / REGISTRY[name].file)
    for key in ("config", *CARD_KEYS):
        assert key in meta, key
    config = ModelConfig.from_dict(meta["config"])
    for key in ("steps", "images_seen", "wall_time_s", "hardware", "precision"):
        assert key in meta["budget"], key
    assert {"resolution", "channels", "value_range"} <= set(meta["preprocessing"])
    assert meta["preprocessing"]["resolution"] == config.image_size
    assert 0.0 <= meta["recommended_t"] <= 1.0
    probe = meta["metrics"]["linear_probe"]
    assert 0.0 < probe["accuracy"] <= 1.0 and "test" in probe["dataset"]
    assert 0.0 < meta["metrics"]["pixels_linear_probe"]["accuracy"] <= 1.0
    for key in ("method", "t_sampler", "loss", "seed", "batch_size"):
        assert key in meta["training"], key


@pytest.mark.parametrize("name", NAMES)
def test_num_params_is_the_real_count(name):
    model = drlkit.load(name, device="cpu")
    real = sum(p.numel() for p in model.parameters())
    assert model.card["num_params"]["total"] == real
    assert model.card["num_params"]["encoder"] == sum(p.numel() for p in model.encoder.parameters())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.filterwarnings("ignore:t has no effect")  # static encoders: the same code at every t
def test_golden_encode_outputs(name):
    model = drlkit.load(name, device="cpu")
    assert EXAMPLES, "examples/images is empty"
    got = model.encode(EXAMPLES, t=[0.1, model.recommended_t, 0.9])
    assert got.shape == (len(EXAMPLES), 3, model.config.latent_dim) and np.isfinite(got).all()
    # deterministic: the same call again, and each image alone, give the same codes
    np.testing.assert_array_equal(model.encode(EXAMPLES, t=[0.1, model.recommended_t, 0.9]), got)
    np.testing.assert_allclose(model.encode(EXAMPLES[:1], t=0.9), got[:1, 2], rtol=1e-5, atol=1e-6)
    path = GOLDEN / f"{name}.npy"
    if os.environ.get("DRLKIT_ACCEPT_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        np.save(path, got)
    assert path.is_file(), f"no golden output for {name}: run with DRLKIT_ACCEPT_GOLDEN=1 once"
    np.testing.assert_allclose(got, np.load(path), rtol=1e-4, atol=1e-4)


def test_list_models_reports_every_entry():
    rows = drlkit.list_models()
    assert [r["name"] for r in rows] == list(REGISTRY)
    for r in rows:
        assert "error" not in r, r
        assert r["metrics"]["linear_probe"]["accuracy"] > 0
