"""Checkpoint round trip and every failure case of loading (DESIGN §4): one-line, actionable errors."""

import json
import pickle

import numpy as np
import pytest
import torch
from conftest import tiny_model
from hostile import rewrite_metadata
from safetensors.torch import save_file

import drlkit
from drlkit import registry
from drlkit.checkpoint import FORMAT_VERSION, CheckpointError, load_model, read_header, save_model

CARD = {"description": "test", "preprocessing": {"resolution": 16, "channels": 1},
        "training": {"method": "drl"}, "data": "synthetic", "budget": {"steps": 0},
        "recommended_t": 0.4, "metrics": {}}


@pytest.fixture
def saved(tmp_path):
    model = tiny_model()
    path = tmp_path / "m.safetensors"
    save_model(model, path, CARD)
    return model, path


def _one_line(err: pytest.ExceptionInfo, *needles: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def test_round_trip_gives_identical_weights_and_codes(saved):
    model, path = saved
    loaded = load_model(path, "cpu")
    assert loaded.config == model.config
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    x = np.random.default_rng(0).integers(0, 256, (5, 16, 16), dtype=np.uint8)
    np.testing.assert_array_equal(model.encode(x, t=0.3), loaded.encode(x, t=0.3))
    assert loaded.recommended_t == 0.4
    assert loaded.card["num_params"]["total"] == sum(p.numel() for p in model.parameters())


def test_drlkit_load_accepts_a_path(saved):
    _, path = saved
    assert drlkit.load(path, device="cpu").config.latent_dim == 8


def test_unknown_name_lists_valid_ones():
    with pytest.raises(drlkit.UnknownModelError) as err:
        drlkit.load("no-such-model")
    _one_line(err, "no-such-model", "mnist", "drlkit models")


def test_tampered_registry_file_is_refused(saved, tmp_path, monkeypatch):
    _, path = saved
    entry = registry.Entry(path.name, registry.sha256sum(path), "test entry")
    monkeypatch.setattr(registry, "REGISTRY", {"toy": entry})
    monkeypatch.setattr(registry, "checkpoint_dir", lambda: tmp_path)
    assert drlkit.load("toy", device="cpu").card["name"] == "toy"
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF  # flip bits in a weight
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError) as err:
        drlkit.load("toy")
    _one_line(err, str(path), "sha256", "reinstall")


def test_missing_registry_file(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "REGISTRY", {"toy": registry.Entry("gone.safetensors", "0" * 64, "")})
    monkeypatch.setattr(registry, "checkpoint_dir", lambda: tmp_path)
    with pytest.raises(CheckpointError) as err:
        drlkit.load("toy")
    _one_line(err, "gone.safetensors", "missing")


def test_truncated_file(saved):
    _, path = saved
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    _one_line(err, str(path), "truncated")


def test_not_a_drlkit_file(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    _one_line(err, str(path), "not a drlkit model")


def test_pickle_renamed_to_safetensors_is_not_unpickled(tmp_path):
    path = tmp_path / "evil.safetensors"

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('unpickled!')",))

    path.write_bytes(pickle.dumps({"state": Boom()}))
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    _one_line(err, str(path), "not a safetensors file")


def _rewrite_metadata(path, **changes):
    rewrite_metadata(path, path, **changes)


def test_newer_format_version(saved):
    _, path = saved
    _rewrite_metadata(path, format_version=str(FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    _one_line(err, str(path), "newer", "upgrade drlkit")


def test_config_with_unknown_key_is_rejected(saved):
    _, path = saved
    config = read_header(path)["config"]
    _rewrite_metadata(path, config=json.dumps({**config, "surprise": 1}))
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    _one_line(err, "surprise")


def test_weights_not_matching_config_are_rejected(saved):
    _, path = saved
    config = read_header(path)["config"]
    _rewrite_metadata(path, config=json.dumps({**config, "latent_dim": 9}))
    with pytest.raises(CheckpointError) as err:
        load_model(path)
    _one_line(err, "do not match")
