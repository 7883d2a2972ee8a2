"""model.encode: every input type converts the same way; batch-size invariance; t handling."""

import numpy as np
import pytest
import torch
from conftest import tiny_model
from PIL import Image


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=1)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, (6, 16, 16), dtype=np.uint8)


def test_every_entry_point_gives_the_same_code(model, images, tmp_path):
    ref = model.encode(images, t=0.3)
    assert ref.shape == (6, 8) and ref.dtype == np.float32 and np.isfinite(ref).all()
    float_nchw = torch.from_numpy(images[:, None]).float() / 255
    pil = [Image.fromarray(im) for im in images]
    paths = []
    for i, im in enumerate(pil):
        paths.append(tmp_path / f"{i}.png")
        im.save(paths[-1])
    rgb = np.repeat(images[..., None], 3, axis=-1)  # grey stored as RGB converts back exactly
    for other in (float_nchw, float_nchw.numpy(), pil, paths, [str(p) for p in paths], rgb,
                  images[..., None], list(images)):
        np.testing.assert_allclose(model.encode(other, t=0.3), ref, atol=1e-5)


def test_resolution_is_converted_like_pillow_input(model, images):
    big = np.kron(images, np.ones((2, 2), dtype=np.uint8))  # 32x32, exact 2x upsampling
    assert model.encode(big, t=0.5).shape == (6, 8)
    np.testing.assert_allclose(model.encode(big, t=0.5),
                               model.encode([Image.fromarray(b) for b in big], t=0.5), atol=1e-5)


def test_batch_size_does_not_change_codes(model, images):
    full = model.encode(images, t=0.7, batch_size=6)
    for bs in (1, 4):
        np.testing.assert_allclose(model.encode(images, t=0.7, batch_size=bs), full, atol=1e-5)


def test_t_sequence_gives_curves(model, images):
    z = model.encode(images, t=[0.1, 0.5, 0.9])
    assert z.shape == (6, 3, 8)
    np.testing.assert_allclose(z[:, 1], model.encode(images, t=0.5), atol=1e-6)
    assert not np.allclose(z[:, 0], z[:, 2])  # t-conditioned: the code depends on t


def test_default_t_is_recommended_t(model, images):
    np.testing.assert_array_equal(model.encode(images), model.encode(images, t=model.recommended_t))


def test_static_encoder_ignores_t(images):
    static = tiny_model(t_conditioned=False)
    np.testing.assert_array_equal(static.encode(images, t=0.1), static.encode(images, t=0.9))


def test_encode_restores_training_mode(images):
    m = tiny_model().train()
    m.encode(images[:2])
    assert m.training


@pytest.mark.parametrize("t", [-0.1, 1.5, float("nan"), []])
def test_bad_t_is_a_value_error(model, images, t):
    with pytest.raises(ValueError, match="t"):
        model.encode(images, t=t)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((0, 16, 16), np.uint8), "empty"),
    (torch.full((2, 1, 16, 16), 2.0), r"\[0, 1\]"),
    (torch.full((2, 1, 16, 16), float("nan")), "finite"),
    (torch.zeros((2, 5, 16, 16)), "channels"),
    (np.zeros((2, 16, 16), np.int64), "dtype"),
    ([], "empty"),
])
def test_bad_images_are_value_errors(model, bad, match):
    with pytest.raises(ValueError, match=match):
        model.encode(bad)


# --------------------------------------------------------------------------- precision

BF16_TOLERANCE = 0.02  # relative L2 deviation of a bf16 code from the fp32 code (docs/performance.md)


def test_bf16_codes_of_the_shipped_model_stay_within_tolerance_of_fp32(data_root):
    """Real MNIST test digits through the shipped model: each bf16 code within 2% (relative L2)
    of its fp32 code, and not identical (autocast really ran in bf16)."""
    import drlkit
    from drlkit.data import load_dataset

    model = drlkit.load("mnist")
    images = load_dataset("mnist", "test", data_root).images[:64]
    ref = model.encode(images, t=0.9)
    low = model.encode(images, t=0.9, precision="bf16")
    assert low.dtype == np.float32 and low.shape == ref.shape
    rel = np.linalg.norm(low - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert rel.max() < BF16_TOLERANCE
    assert rel.max() > 0


@pytest.mark.parametrize("precision, match", [("fp16", "needs a CUDA device"),
                                              ("half", "precision must be one of")])
def test_unusable_precisions_are_value_errors(model, images, precision, match):
    with pytest.raises(ValueError, match=match):
        model.encode(images, t=0.5, precision=precision)


def test_hardware_names_the_cpu_vector_capability(monkeypatch):
    """Cards and reports record this string; one CPU model name covered machines with and without
    native bf16 (a several-fold difference in training speed), so the capability is part of it."""
    from drlkit import precision

    desc = precision.hardware()
    assert f" ({torch.backends.cpu.get_cpu_capability()}" in desc and " cores, torch " in desc
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: True)
    assert ", native bf16), " in precision.hardware()
    monkeypatch.setattr(precision, "native_bf16_cpu", lambda: False)
    assert "native bf16" not in precision.hardware()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_cuda_codes_match_cpu(name):
    """The shipped models on the bundled example images, fp32, several t: the codes computed on
    the GPU are the CPU's up to float rounding (on an H200: at most 1.6e-4, docs/performance.md)."""
    from pathlib import Path

    import drlkit

    files = sorted(str(p) for p in (Path(__file__).parent.parent / "examples" / "images").glob("*.png"))
    ts = [0.1, 0.5, 0.9]
    assert files
    cpu = drlkit.load(name, device="cpu").encode(files, t=ts)
    cuda = drlkit.load(name, device="cuda").encode(files, t=ts)
    assert cuda.shape == cpu.shape == (len(files), 3, 128) and np.isfinite(cuda).all()
    np.testing.assert_allclose(cuda, cpu, atol=1e-3)
